//! A checkpoint ready to answer "what does attention look like for this text?": tokenizer + encoder together, as
//! transformers' `AutoTokenizer` + `AutoModel(..., output_attentions=True)` (the goldens in tests/fixtures/).

use candle_nn::VarBuilder;

use crate::engine::attention::AttentionData;
use crate::engine::bert::{BertModel, Config, EncoderOutput};
use crate::engine::heads_off::HeadsOff;
use crate::engine::nn::softmax;
use crate::engine::nn::AttentionCapture;
use crate::engine::tokenize::{Encoded, TextTokenizer};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};

/// The three files of a BERT-family checkpoint, as bytes (from disk, IndexedDB or a test fixture).
pub struct CheckpointFiles<'a> {
    pub config_json: &'a str,
    pub tokenizer_json: &'a [u8],
    pub safetensors: &'a [u8],
}

pub struct AttentionModel {
    pub name: String,
    pub tokenizer: TextTokenizer,
    pub model: BertModel,
}

impl AttentionModel {
    pub fn load(name: &str, files: &CheckpointFiles) -> Result<Self> {
        let weights = crate::engine::nn::weights_from_safetensors(files.safetensors)?;
        Self::from_parts(name, files.config_json, files.tokenizer_json, weights)
    }

    /// From the config and tokenizer files and weights already read (e.g. streamed from the weights store).
    pub fn from_parts(name: &str, config_json: &str, tokenizer_json: &[u8], weights: VarBuilder) -> Result<Self> {
        let config = Config::from_json(config_json)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let model = BertModel::load(weights, config)?;
        Ok(Self { name: name.to_string(), tokenizer, model })
    }

    pub fn encode(&self, text: &str, text_b: Option<&str>) -> Result<Encoded> {
        self.tokenizer.encode(text, text_b, self.model.config.max_tokens())
    }

    /// Tokenize and run; `with_queries_keys` also keeps the per-head queries and keys for the neuron view.
    pub fn attention(&self, text: &str, text_b: Option<&str>, with_queries_keys: bool) -> Result<AttentionData> {
        self.attention_with_heads_off(text, text_b, with_queries_keys, &HeadsOff::default())
    }

    /// [`Self::attention`] with `heads_off` switched off (transformers' `head_mask`): their attention is zero, and
    /// every later layer's attention is what the model computes without them.
    pub fn attention_with_heads_off(
        &self,
        text: &str,
        text_b: Option<&str>,
        with_queries_keys: bool,
        heads_off: &HeadsOff,
    ) -> Result<AttentionData> {
        let encoded = self.encode(text, text_b)?;
        let output = self.model.forward_with_heads_off(&encoded.ids, &encoded.type_ids, heads_off)?;
        self.data(text, text_b, &encoded, &output, with_queries_keys, heads_off)
    }

    /// The run's [`AttentionData`], named after this checkpoint.
    fn data(
        &self,
        text: &str,
        text_b: Option<&str>,
        encoded: &Encoded,
        output: &EncoderOutput,
        with_queries_keys: bool,
        heads_off: &HeadsOff,
    ) -> Result<AttentionData> {
        let cfg = &self.model.config;
        let shape = (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.head_dim());
        attention_data(&self.name, text, text_b, encoded, output, shape, with_queries_keys, heads_off)
    }
}

/// One guess for a masked token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub id: u32,
    pub token: String,
    pub prob: f32,
}

/// What the masked-word head says for the token at `position` after it was replaced by the mask token:
/// transformers' `*ForMaskedLM` logits, softmaxed over the vocabulary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub position: usize,
    /// The token that was there, with its probability now.
    pub original: Prediction,
    /// The `k` most probable tokens, most probable first.
    pub top: Vec<Prediction>,
    /// All logits at the position (the goldens compare them; the lab shows `top`).
    #[serde(skip)]
    pub logits: Vec<f32>,
}

impl AttentionModel {
    /// Mask the token at `position` (a word piece, not a special token) and run: the masked sentence's attention
    /// (with its queries and keys if asked) and the head's `k` best guesses, with `heads_off` switched off. An error when the checkpoint has no
    /// masked-word head (all-MiniLM-L6-v2: a sentence-embedding model trained without one).
    pub fn masked_predictions(
        &self,
        text: &str,
        text_b: Option<&str>,
        position: usize,
        k: usize,
        with_queries_keys: bool,
        heads_off: &HeadsOff,
    ) -> Result<(AttentionData, Predictions)> {
        let head = self.model.masked_lm.as_ref().ok_or_else(|| {
            Error::Invalid(format!("{} has no masked-word head (its checkpoint does not ship one)", self.name))
        })?;
        let (mask, mask_id) = self.tokenizer.mask_token().ok_or_else(|| Error::Invalid("the tokenizer has no mask token".into()))?;
        let mut encoded = self.encode(text, text_b)?;
        let n = encoded.len();
        if position >= n {
            return Err(Error::Invalid(format!("token {position} does not exist: the input has {n} tokens")));
        }
        if encoded.special[position] {
            return Err(Error::Invalid(format!("token {position} ({}) is a special token: mask a word", encoded.tokens[position])));
        }
        let original = (encoded.ids[position], encoded.tokens[position].clone());
        encoded.ids[position] = mask_id;
        encoded.tokens[position] = mask;
        let output = self.model.forward_with_heads_off(&encoded.ids, &encoded.type_ids, heads_off)?;
        let logits = head.logits(&output.hidden.get(position)?)?;
        let probs = softmax(&logits);
        let top = top_predictions(&probs, k, |id| self.tokenizer.id_to_token(id).unwrap_or_default());
        let prob = probs[original.0 as usize];
        let original = Prediction { id: original.0, token: original.1, prob };
        let predictions = Predictions { position, original, top, logits };
        Ok((self.data(text, text_b, &encoded, &output, with_queries_keys, heads_off)?, predictions))
    }
}

/// The `k` most probable tokens of `probs`, most probable first (ties: the lower id), named by `token`.
pub fn top_predictions(probs: &[f32], k: usize, token: impl Fn(u32) -> String) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|id| Prediction { id: id as u32, token: token(id as u32), prob: probs[id] }).collect()
}


/// An encoder's or decoder's run as [`AttentionData`]: `shape` is (layers, heads, head dim); `heads_off` are the
/// heads that were switched off for it.
#[allow(clippy::too_many_arguments)]
pub fn attention_data(
    name: &str,
    text: &str,
    text_b: Option<&str>,
    encoded: &Encoded,
    output: &EncoderOutput,
    (layers, heads, head_dim): (usize, usize, usize),
    with_queries_keys: bool,
    heads_off: &HeadsOff,
) -> Result<AttentionData> {
    let (weights, queries_keys) = collect_captures(output, with_queries_keys)?;
    let text_b = text_b.filter(|b| !b.trim().is_empty());
    let mut data = AttentionData::new(name, text, text_b, encoded, layers, heads, head_dim, weights, queries_keys)?;
    data.heads_off = heads_off.clone();
    Ok(data)
}

/// Copy the per-layer captures out of candle into the flat `[layers][heads][..]` arrays of [`AttentionData`].
pub fn collect_captures(output: &EncoderOutput, with_queries_keys: bool) -> Result<(Vec<f32>, Option<(Vec<f32>, Vec<f32>)>)> {
    let flatten = |pick: &dyn Fn(&AttentionCapture) -> &candle_core::Tensor| -> Result<Vec<f32>> {
        // Sized once: growing by doubling would briefly hold the old and the new buffer, and wasm memory keeps
        // its high-water mark (at 128 tokens the probabilities of MiniLM alone are 4.7 MB).
        let total = output.layers.iter().map(|l| pick(l).elem_count()).sum();
        let mut out = Vec::with_capacity(total);
        for layer in &output.layers {
            out.extend(pick(layer).flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    };
    let weights = flatten(&|l| &l.probs)?;
    let queries_keys =
        if with_queries_keys { Some((flatten(&|l| &l.queries)?, flatten(&|l| &l.keys)?)) } else { None };
    Ok((weights, queries_keys))
}
