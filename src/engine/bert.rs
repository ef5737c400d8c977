//! BERT-family encoders (BERT, RoBERTa, DistilBERT) that return every layer's attention and the per-head queries
//! and keys, in the style of candle-transformers' `models/bert.rs`. Mirrors transformers'
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py (and
//! `models/roberta/modeling_roberta.py`, `models/distilbert/modeling_distilbert.py`).
//!
//! The three checkpoints share one post-LayerNorm layer; they differ in weight names, position ids and token
//! types, so one set of structs loads all three through a table of names instead of a copy per variant.

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::activation::Activation;
use super::compact::{self, TokenEmbedding};
use super::heads_off::HeadsOff;
use super::masked_lm::MaskedLmHead;
use super::kernels::PackedLinear;
use super::nn::{AttentionCapture, ProjectionNames, SelfAttention};
use super::{limits, Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ModelType {
    #[serde(rename = "bert")]
    Bert,
    #[serde(rename = "roberta", alias = "xlm-roberta")]
    Roberta,
    #[serde(rename = "distilbert")]
    DistilBert,
}

/// The checkpoint's `config.json`: transformers' `BertConfig`, `RobertaConfig` and `DistilBertConfig`. DistilBERT
/// spells the same fields differently (`dim`, `n_layers`, ...), read here through aliases.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub model_type: ModelType,
    pub vocab_size: usize,
    #[serde(alias = "dim")]
    pub hidden_size: usize,
    #[serde(alias = "n_layers")]
    pub num_hidden_layers: usize,
    #[serde(alias = "n_heads")]
    pub num_attention_heads: usize,
    #[serde(alias = "hidden_dim")]
    pub intermediate_size: usize,
    #[serde(alias = "activation", default = "default_hidden_act")]
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    /// 0 for DistilBERT, which has no token type embeddings.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// 1 for RoBERTa when absent (its `<pad>`), else 0.
    #[serde(default)]
    pub pad_token_id: usize,
}

fn default_hidden_act() -> Activation {
    Activation::Gelu
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl Config {
    pub fn from_json(json: &str) -> Result<Self> {
        limits::check_json_size(json.len(), limits::MAX_CONFIG_JSON_BYTES).map_err(Error::Config)?;
        let invalid = |e: serde_json::Error| Error::Config(e.to_string());
        let mut fields: Map<String, Value> = serde_json::from_str(json).map_err(invalid)?;
        // null means "the default", as transformers reads it.
        fields.retain(|_, v| !v.is_null());
        let model_type = match fields.get("model_type") {
            None => return Err(Error::Config("no model_type".into())),
            Some(t) => ModelType::deserialize(t)
                .map_err(|_| Error::UnknownModelType(t.as_str().map_or_else(|| t.to_string(), str::to_string)))?,
        };
        // The defaults that depend on the architecture.
        match model_type {
            ModelType::Roberta => {
                fields.entry("pad_token_id").or_insert(1.into());
            }
            ModelType::DistilBert => {
                fields.insert("type_vocab_size".into(), 0.into());
            }
            ModelType::Bert => {}
        }
        let cfg: Config = serde_json::from_value(Value::Object(fields)).map_err(invalid)?;
        cfg.validate().map_err(Error::Config)?;
        Ok(cfg)
    }

    /// Refuse dimensions no real checkpoint has (see `limits`), before any tensor is sized from them.
    fn validate(&self) -> std::result::Result<(), String> {
        limits::check("vocab_size", self.vocab_size, limits::VOCAB)?;
        limits::check("hidden_size", self.hidden_size, limits::HIDDEN)?;
        limits::check("num_hidden_layers", self.num_hidden_layers, limits::LAYERS)?;
        limits::check("num_attention_heads", self.num_attention_heads, limits::HEADS)?;
        limits::check("intermediate_size", self.intermediate_size, limits::INTERMEDIATE)?;
        limits::check("max_position_embeddings", self.max_position_embeddings, limits::POSITIONS)?;
        limits::check("type_vocab_size", self.type_vocab_size, limits::TYPE_VOCAB)?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden size {} is not divisible by {} heads",
                self.hidden_size, self.num_attention_heads
            ));
        }
        // RoBERTa's positions start after it, so it must be a token id (and `+ 1` must not overflow).
        if self.pad_token_id >= self.vocab_size {
            return Err(format!("pad_token_id {} is outside the vocabulary ({})", self.pad_token_id, self.vocab_size));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return Err(format!("layer_norm_eps {} is not a small positive number", self.layer_norm_eps));
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// RoBERTa numbers positions from `pad_token_id + 1`, which costs it that many position slots.
    fn position_offset(&self) -> usize {
        match self.model_type {
            ModelType::Roberta => self.pad_token_id + 1,
            _ => 0,
        }
    }

    /// The longest input (special tokens included) the position table allows.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings.saturating_sub(self.position_offset())
    }

    fn names(&self) -> &'static LayerNames {
        match self.model_type {
            ModelType::Bert | ModelType::Roberta => &BERT_NAMES,
            ModelType::DistilBert => &DISTILBERT_NAMES,
        }
    }
}

/// Where each piece of an encoder layer lives in the checkpoint.
struct LayerNames {
    layers: &'static str,
    projections: ProjectionNames,
    attention_output: &'static str,
    attention_norm: &'static str,
    ffn_in: &'static str,
    ffn_out: &'static str,
    ffn_norm: &'static str,
}

const BERT_NAMES: LayerNames = LayerNames {
    layers: "encoder.layer",
    projections: ProjectionNames { query: "attention.self.query", key: "attention.self.key", value: "attention.self.value" },
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
};

const DISTILBERT_NAMES: LayerNames = LayerNames {
    layers: "transformer.layer",
    projections: ProjectionNames { query: "attention.q_lin", key: "attention.k_lin", value: "attention.v_lin" },
    attention_output: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    ffn_norm: "output_layer_norm",
};

pub struct Embeddings {
    word_embeddings: TokenEmbedding,
    position_embeddings: Embedding,
    token_type_embeddings: Option<Embedding>,
    layer_norm: LayerNorm,
    position_offset: usize,
}

impl Embeddings {
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let token_type_embeddings = match cfg.type_vocab_size {
            0 => None,
            n => Some(embedding(n, cfg.hidden_size, vb.pp("token_type_embeddings"))?),
        };
        Ok(Self {
            word_embeddings: TokenEmbedding::load(vb.pp("word_embeddings"), cfg.vocab_size, cfg.hidden_size)?,
            position_embeddings: embedding(cfg.max_position_embeddings, cfg.hidden_size, vb.pp("position_embeddings"))?,
            token_type_embeddings,
            layer_norm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
            position_offset: cfg.position_offset(),
        })
    }

    /// `ids`, `type_ids`: `[1, n]` → `[1, n, hidden]`.
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor) -> candle_core::Result<Tensor> {
        let n = ids.dim(1)?;
        let start = self.position_offset as u32;
        let positions = Tensor::arange(start, start + n as u32, ids.device())?.unsqueeze(0)?;
        let mut xs = (self.word_embeddings.forward(ids)? + self.position_embeddings.forward(&positions)?)?;
        if let Some(token_types) = &self.token_type_embeddings {
            xs = (xs + token_types.forward(type_ids)?)?;
        }
        self.layer_norm.forward(&xs)
    }
}

/// One post-LayerNorm encoder layer: attention → add & norm → feed-forward → add & norm.
pub struct EncoderLayer {
    attention: SelfAttention,
    attention_output: PackedLinear,
    attention_norm: LayerNorm,
    ffn_in: PackedLinear,
    ffn_out: PackedLinear,
    ffn_norm: LayerNorm,
    activation: Activation,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let names = cfg.names();
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            attention: SelfAttention::load(vb.clone(), h, cfg.num_attention_heads, &names.projections)?,
            attention_output: compact::linear(vb.pp(names.attention_output), h, h)?,
            attention_norm: layer_norm(h, eps, vb.pp(names.attention_norm))?,
            ffn_in: compact::linear(vb.pp(names.ffn_in), h, cfg.intermediate_size)?,
            ffn_out: compact::linear(vb.pp(names.ffn_out), cfg.intermediate_size, h)?,
            ffn_norm: layer_norm(h, eps, vb.pp(names.ffn_norm))?,
            activation: cfg.hidden_act,
        })
    }

    /// `heads_off` of layer `index` are switched off (transformers' `head_mask`).
    fn forward(&self, xs: &Tensor, index: usize, heads_off: &HeadsOff) -> candle_core::Result<(Tensor, AttentionCapture)> {
        let (context, capture) = self.attention.forward(xs, None)?;
        let (context, capture) = heads_off.apply(index, context, capture)?;
        let xs = self.attention_norm.forward(&(self.attention_output.forward(&context)? + xs)?)?;
        let ffn = self.ffn_out.forward(&self.ffn_in.forward_act(&xs, Some(self.activation))?)?;
        let xs = self.ffn_norm.forward(&(ffn + xs)?)?;
        Ok((xs, capture))
    }
}

/// The final hidden states and, per layer, what attention did.
pub struct EncoderOutput {
    /// `[n, hidden]`.
    pub hidden: Tensor,
    /// Per layer: probabilities `[heads, n, n]`, queries and keys `[heads, n, head_dim]`.
    pub layers: Vec<AttentionCapture>,
}

pub struct BertModel {
    pub config: Config,
    embeddings: Embeddings,
    layers: Vec<EncoderLayer>,
    /// The masked-word head, when the checkpoint ships one (and its word embeddings are full precision).
    pub masked_lm: Option<MaskedLmHead>,
    device: Device,
}

/// Prefixes that task heads (`BertForMaskedLM`, ...) put before the encoder's own weight names.
const KNOWN_PREFIXES: [&str; 3] = ["bert", "roberta", "distilbert"];

impl BertModel {
    /// Load from `model.safetensors` bytes.
    pub fn from_safetensors(bytes: &[u8], config: Config) -> Result<Self> {
        Self::load(super::nn::weights_from_safetensors(bytes)?, config)
    }

    pub fn load(vb: VarBuilder, config: Config) -> Result<Self> {
        let root = vb.clone();
        let probe = "embeddings.word_embeddings.weight";
        // Full precision or packed (engine::compact).
        let has_encoder = |vb: &VarBuilder| ["", "_f16", "_int8"].iter().any(|form| vb.contains_tensor(&format!("{probe}{form}")));
        let vb = if has_encoder(&vb) {
            vb
        } else {
            KNOWN_PREFIXES.iter().map(|p| vb.pp(*p)).find(has_encoder).ok_or_else(|| {
                Error::Weights(format!("cannot find tensor {probe} (also looked under bert., roberta., distilbert.)"))
            })?
        };
        let load = || -> candle_core::Result<(Embeddings, Vec<EncoderLayer>)> {
            let embeddings = Embeddings::load(vb.pp("embeddings"), &config)?;
            let layers_vb = vb.pp(config.names().layers);
            let layers =
                (0..config.num_hidden_layers).map(|i| EncoderLayer::load(layers_vb.pp(i), &config)).collect::<Result<_, _>>()?;
            Ok((embeddings, layers))
        };
        let (embeddings, layers) = load().map_err(|e| Error::Weights(e.to_string()))?;
        let masked_lm = match embeddings.word_embeddings.full_table() {
            Some(table) => MaskedLmHead::load(&root, &config, table).map_err(|e| Error::Weights(format!("masked-word head: {e}")))?,
            None => None,
        };
        Ok(Self { device: vb.device().clone(), config, embeddings, layers, masked_lm })
    }

    /// Run the encoder on one tokenized input.
    pub fn forward(&self, ids: &[u32], type_ids: &[u32]) -> Result<EncoderOutput> {
        self.forward_with_heads_off(ids, type_ids, &HeadsOff::default())
    }

    /// [`Self::forward`] with some heads switched off ([`HeadsOff`]: transformers' `head_mask`).
    pub fn forward_with_heads_off(&self, ids: &[u32], type_ids: &[u32], heads_off: &HeadsOff) -> Result<EncoderOutput> {
        heads_off.check(self.config.num_hidden_layers, self.config.num_attention_heads).map_err(Error::Invalid)?;
        let n = ids.len();
        if n == 0 {
            return Err(Error::NoTokens);
        }
        if n > self.config.max_tokens() {
            return Err(Error::Invalid(format!("{n} tokens exceed the model's maximum of {}", self.config.max_tokens())));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary ({})", self.config.vocab_size)));
        }
        let type_ids: Vec<u32> = match self.config.type_vocab_size {
            0 | 1 => vec![0; n],
            t => type_ids.iter().map(|&x| x.min(t as u32 - 1)).collect(),
        };
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let type_ids = Tensor::new(type_ids.as_slice(), &self.device)?.unsqueeze(0)?;
        let mut xs = self.embeddings.forward(&ids, &type_ids)?;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (next, capture) = layer.forward(&xs, i, heads_off)?;
            xs = next;
            layers.push(AttentionCapture {
                probs: capture.probs.squeeze(0)?,
                queries: capture.queries.squeeze(0)?,
                keys: capture.keys.squeeze(0)?,
            });
        }
        Ok(EncoderOutput { hidden: xs.squeeze(0)?, layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distilbert_spellings_and_architecture_defaults() {
        let distil = r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 8, "n_layers": 1, "n_heads": 2,
            "hidden_dim": 16, "activation": "gelu", "max_position_embeddings": 32, "type_vocab_size": 2}"#;
        let cfg = Config::from_json(distil).unwrap();
        assert_eq!((cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads), (8, 1, 2));
        assert_eq!((cfg.intermediate_size, cfg.type_vocab_size, cfg.pad_token_id), (16, 0, 0));
        let roberta = r#"{"model_type": "xlm-roberta", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 34,
            "hidden_act": "gelu_new", "layer_norm_eps": null, "pad_token_id": null}"#;
        let cfg = Config::from_json(roberta).unwrap();
        assert_eq!((cfg.model_type, cfg.pad_token_id, cfg.type_vocab_size), (ModelType::Roberta, 1, 2));
        assert_eq!((cfg.hidden_act, cfg.layer_norm_eps, cfg.max_tokens()), (Activation::GeluTanh, 1e-12, 32));
        assert!(matches!(Config::from_json(r#"{"vocab_size": 10}"#), Err(Error::Config(_))));
    }
}
