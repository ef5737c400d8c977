//! The attention data every view and export shares, and the analyses on it.
//!
//! [`AttentionData`] holds one input's attention for all layers and heads (plus, optionally, the queries and keys
//! behind it). Views never read it raw: they ask for a [`matrix::Matrix`] — one layer/head (or an average), sub-word
//! pieces merged or not, special tokens hidden or not, one block of a sentence pair — and draw that. The analyses
//! live beside it: [`stats`] (means over layers and heads, what each head does), [`neuron`] (one query against
//! every key), and for CLIP's image tower [`vision`] with its [`rollout`].

mod matrix;
mod neuron;
mod rollout;
mod stats;
mod vision;

pub use matrix::{Label, Matrix, MatrixOptions, PairFilter};
pub use neuron::NeuronView;
pub use rollout::{attention_rollout, cls_to_patches};
pub use stats::{mean_attention, HeadStats, Statistic};
pub use vision::VisionAttention;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::tokenize::Encoded;
use super::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionData {
    pub model: String,
    pub text: String,
    pub text_b: Option<String>,
    pub tokens: Vec<String>,
    /// 0 = sentence A, 1 = sentence B (special tokens belong to the segment they close).
    pub segments: Vec<u8>,
    pub special: Vec<bool>,
    /// Character offsets of each token in its own text (A or B); `[0, 0]` for special tokens.
    pub offsets: Vec<[u32; 2]>,
    /// Word index of each token within its text; `None` for special tokens.
    pub words: Vec<Option<u32>>,
    pub num_layers: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    /// `[layers][heads][from][to]`, row-major; each row sums to 1.
    pub weights: Vec<f32>,
    /// `[layers][heads][token][head_dim]`, before the 1/√d scaling.
    pub queries: Option<Vec<f32>>,
    pub keys: Option<Vec<f32>>,
    /// Tokens removed because the input was longer than the model allows.
    pub dropped_tokens: usize,
}

/// Layer or head: one of them, or the mean over all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pick {
    One(usize),
    Mean,
}

impl AttentionData {
    /// Assemble from a tokenized input and per-layer `[heads, n, n]` probabilities (and optional `[heads, n, d]`
    /// queries and keys), all flattened row-major.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &str,
        text: &str,
        text_b: Option<&str>,
        encoded: &Encoded,
        num_layers: usize,
        num_heads: usize,
        head_dim: usize,
        weights: Vec<f32>,
        queries_keys: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Self> {
        let n = encoded.len();
        if weights.len() != num_layers * num_heads * n * n {
            return Err(Error::Invalid("attention weights do not match the token count".into()));
        }
        let (queries, keys) = match queries_keys {
            Some((q, k)) => {
                let want = num_layers * num_heads * n * head_dim;
                if q.len() != want || k.len() != want {
                    return Err(Error::Invalid("queries/keys do not match the token count".into()));
                }
                (Some(q), Some(k))
            }
            None => (None, None),
        };
        Ok(Self {
            model: model.to_string(),
            text: text.to_string(),
            text_b: text_b.map(str::to_string),
            tokens: encoded.tokens.clone(),
            segments: encoded.segments(),
            special: encoded.special.clone(),
            offsets: encoded.offsets.clone(),
            words: encoded.word_ids.clone(),
            num_layers,
            num_heads,
            head_dim,
            weights,
            queries,
            keys,
            dropped_tokens: encoded.dropped,
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn is_pair(&self) -> bool {
        self.segments.contains(&1)
    }

    /// The `[n, n]` attention of one head.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.len();
        let start = (layer * self.num_heads + head) * n * n;
        &self.weights[start..start + n * n]
    }

    /// `[n, n]` for a layer/head pick, averaging where asked.
    pub fn pick(&self, layer: Pick, head: Pick) -> Vec<f32> {
        mean_attention(&self.weights, self.num_layers, self.num_heads, self.len(), layer, head)
    }


    /// The documented JSON export (`nlu-lab/attention@1`, see README): nested arrays, easy to read from JS or Python.
    pub fn to_json(&self) -> serde_json::Value {
        let n = self.len();
        let nest = |data: &[f32], inner: usize| -> Vec<Vec<Vec<Vec<f32>>>> {
            data.chunks(self.num_heads * n * inner)
                .map(|layer| layer.chunks(n * inner).map(|head| head.chunks(inner).map(<[f32]>::to_vec).collect()).collect())
                .collect()
        };
        let mut out = json!({
            "schema": "nlu-lab/attention@1",
            "model": self.model,
            "text": self.text,
            "text_b": self.text_b,
            "tokens": self.tokens,
            "segments": self.segments,
            "special": self.special,
            "offsets": self.offsets,
            "dropped_tokens": self.dropped_tokens,
            "layers": self.num_layers,
            "heads": self.num_heads,
            "head_dim": self.head_dim,
            "attention": nest(&self.weights, n),
        });
        if let (Some(q), Some(k)) = (&self.queries, &self.keys) {
            out["queries"] = json!(nest(q, self.head_dim));
            out["keys"] = json!(nest(k, self.head_dim));
        }
        out
    }
}
