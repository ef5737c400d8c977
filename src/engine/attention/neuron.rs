//! The neuron view's numbers: how one token's query meets every key in one head (as bertviz's neuron view,
//! https://github.com/jessevig/bertviz/blob/master/bertviz/neuron_view.py: query, key, q×k, q·k/√d, softmax).

use serde::{Deserialize, Serialize};

use super::AttentionData;

/// What the neuron view shows for one token in one head: how its query meets every key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronView {
    pub query: Vec<f32>,
    /// One key vector per token.
    pub keys: Vec<Vec<f32>>,
    /// Elementwise q×k per key the query sees: every token, or under causal attention the tokens up to the
    /// query's own (as bertviz's neuron view shows GPT-2); these three are that long.
    pub products: Vec<Vec<f32>>,
    /// q·k / √d per key it sees.
    pub scores: Vec<f32>,
    /// softmax of the scores: the attention row (its later, masked tokens left out).
    pub softmax: Vec<f32>,
}

impl AttentionData {
    fn vector<'a>(&self, data: &'a Option<Vec<f32>>, layer: usize, head: usize, token: usize) -> Option<&'a [f32]> {
        let d = self.head_dim;
        let start = ((layer * self.num_heads + head) * self.len() + token) * d;
        data.as_ref().map(|v| &v[start..start + d])
    }

    pub fn query(&self, layer: usize, head: usize, token: usize) -> Option<&[f32]> {
        self.vector(&self.queries, layer, head, token)
    }

    pub fn key(&self, layer: usize, head: usize, token: usize) -> Option<&[f32]> {
        self.vector(&self.keys, layer, head, token)
    }

    /// The neuron view for one token in one head, recomputed from the captured queries and keys. Its softmax
    /// equals the model's attention row (a check that the view shows the model, not an approximation).
    pub fn neuron(&self, layer: usize, head: usize, token: usize) -> Option<NeuronView> {
        let query = self.query(layer, head, token)?.to_vec();
        let keys: Vec<Vec<f32>> = (0..self.len()).map(|j| self.key(layer, head, j).map(<[f32]>::to_vec)).collect::<Option<_>>()?;
        let scale = 1.0 / (self.head_dim as f32).sqrt();
        let seen = if self.causal { token + 1 } else { keys.len() };
        let products: Vec<Vec<f32>> = keys[..seen].iter().map(|k| k.iter().zip(&query).map(|(k, q)| k * q).collect()).collect();
        let scores: Vec<f32> = products.iter().map(|p| p.iter().sum::<f32>() * scale).collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f32 = exps.iter().sum();
        let softmax = exps.iter().map(|e| e / total).collect();
        Some(NeuronView { query, keys, products, scores, softmax })
    }
}
