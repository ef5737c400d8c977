//! BERT-family encoders (BERT, RoBERTa, DistilBERT) that return every layer's attention and the per-head queries
//! and keys, in the style of candle-transformers' `models/bert.rs`.
//!
//! The three checkpoints share one post-LayerNorm layer; they differ in weight names, position ids and token
//! types, so one set of structs loads all three through a table of names instead of a copy per variant.

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

use super::kernels::PackedLinear;
use super::activation::Activation;
use super::nn::{AttentionCapture, ProjectionNames, SelfAttention};
use super::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelType {
    Bert,
    Roberta,
    DistilBert,
}

/// The checkpoint's `config.json`. DistilBERT spells the same fields differently (`dim`, `n_layers`, ...).
#[derive(Clone, Debug)]
pub struct Config {
    pub model_type: ModelType,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: usize,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    dim: Option<usize>,
    num_hidden_layers: Option<usize>,
    n_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    n_heads: Option<usize>,
    intermediate_size: Option<usize>,
    hidden_dim: Option<usize>,
    hidden_act: Option<String>,
    activation: Option<String>,
    max_position_embeddings: Option<usize>,
    type_vocab_size: Option<usize>,
    layer_norm_eps: Option<f64>,
    pad_token_id: Option<usize>,
}

impl Config {
    pub fn from_json(json: &str) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        let model_type = match raw.model_type.as_deref() {
            Some("bert") => ModelType::Bert,
            Some("roberta") | Some("xlm-roberta") => ModelType::Roberta,
            Some("distilbert") => ModelType::DistilBert,
            Some(other) => return Err(Error::UnknownModelType(other.to_string())),
            None => return Err(Error::Config("no model_type".into())),
        };
        let need = |v: Option<usize>, name: &str| v.ok_or_else(|| Error::Config(format!("missing \"{name}\"")));
        let act_name = raw.hidden_act.or(raw.activation).unwrap_or_else(|| "gelu".into());
        let hidden_act = Activation::parse(&act_name)
            .ok_or_else(|| Error::Config(format!("unsupported activation \"{act_name}\"")))?;
        let cfg = Config {
            model_type,
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            hidden_size: need(raw.hidden_size.or(raw.dim), "hidden_size")?,
            num_hidden_layers: need(raw.num_hidden_layers.or(raw.n_layers), "num_hidden_layers")?,
            num_attention_heads: need(raw.num_attention_heads.or(raw.n_heads), "num_attention_heads")?,
            intermediate_size: need(raw.intermediate_size.or(raw.hidden_dim), "intermediate_size")?,
            hidden_act,
            max_position_embeddings: need(raw.max_position_embeddings, "max_position_embeddings")?,
            type_vocab_size: match model_type {
                ModelType::DistilBert => 0,
                _ => raw.type_vocab_size.unwrap_or(2),
            },
            layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-12),
            pad_token_id: raw.pad_token_id.unwrap_or(if model_type == ModelType::Roberta { 1 } else { 0 }),
        };
        if cfg.num_attention_heads == 0 || cfg.hidden_size % cfg.num_attention_heads != 0 {
            return Err(Error::Config(format!(
                "hidden size {} is not divisible by {} heads",
                cfg.hidden_size, cfg.num_attention_heads
            )));
        }
        Ok(cfg)
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
    word_embeddings: Embedding,
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
            word_embeddings: embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?,
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
            attention_output: PackedLinear::new(linear(h, h, vb.pp(names.attention_output))?)?,
            attention_norm: layer_norm(h, eps, vb.pp(names.attention_norm))?,
            ffn_in: PackedLinear::new(linear(h, cfg.intermediate_size, vb.pp(names.ffn_in))?)?,
            ffn_out: PackedLinear::new(linear(cfg.intermediate_size, h, vb.pp(names.ffn_out))?)?,
            ffn_norm: layer_norm(h, eps, vb.pp(names.ffn_norm))?,
            activation: cfg.hidden_act,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<(Tensor, AttentionCapture)> {
        let (context, capture) = self.attention.forward(xs, None)?;
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
        let probe = "embeddings.word_embeddings.weight";
        let vb = if vb.contains_tensor(probe) {
            vb
        } else {
            KNOWN_PREFIXES.iter().map(|p| vb.pp(*p)).find(|v| v.contains_tensor(probe)).ok_or_else(|| {
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
        Ok(Self { device: vb.device().clone(), config, embeddings, layers })
    }

    /// Run the encoder on one tokenized input.
    pub fn forward(&self, ids: &[u32], type_ids: &[u32]) -> Result<EncoderOutput> {
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
        for layer in &self.layers {
            let (next, capture) = layer.forward(&xs)?;
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
