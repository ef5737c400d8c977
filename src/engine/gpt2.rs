//! GPT-2 with its attention and queries/keys captured, as transformers' `GPT2Model` and `GPT2LMHeadModel`
//! (https://github.com/huggingface/transformers/blob/main/src/transformers/models/gpt2/modeling_gpt2.py): token and
//! position embeddings, pre-norm blocks of causal self-attention and an MLP, a final layer norm, and the word
//! embeddings (tied) as the next-token head. Its linear layers are `Conv1D`: weights stored `[in, out]`, transposed
//! here once at load.

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::activation::Activation;
use super::bert::EncoderOutput;
use super::heads_off::HeadsOff;
use super::kernels::PackedLinear;
use super::nn::{causal_mask, AttentionCapture, SelfAttention};
use super::{Error, Result};

fn default_eps() -> f64 {
    1e-5
}

fn default_activation() -> Activation {
    Activation::GeluTanh
}

/// The checkpoint's `config.json`: transformers' `GPT2Config`.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// The MLP's width; GPT-2 leaves it out (then 4 × n_embd).
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_activation")]
    pub activation_function: Activation,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
}

impl Config {
    pub fn from_json(json: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        if cfg.n_head == 0 || cfg.n_embd % cfg.n_head != 0 {
            return Err(Error::Config(format!("n_embd {} is not divisible by n_head {}", cfg.n_embd, cfg.n_head)));
        }
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

/// A `Conv1D` (`weight [in, out]`, `bias [out]`) as `parts` linear layers of equal width: `c_attn` holds the
/// query, key and value side by side (the weights store hands each tensor out once, so it is read once).
fn conv1d_parts(vb: &VarBuilder, inputs: usize, outputs: usize, parts: usize) -> candle_core::Result<Vec<PackedLinear>> {
    let weight = vb.get((inputs, outputs), "weight")?;
    let bias = vb.get(outputs, "bias")?;
    let width = outputs / parts;
    (0..parts)
        .map(|i| {
            let (w, b) = (weight.narrow(1, i * width, width)?, bias.narrow(0, i * width, width)?);
            PackedLinear::new(Linear::new(w.t()?.contiguous()?, Some(b.contiguous()?)))
        })
        .collect()
}

fn conv1d(vb: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<PackedLinear> {
    Ok(conv1d_parts(vb, inputs, outputs, 1)?.remove(0))
}

struct Block {
    ln_1: LayerNorm,
    attention: SelfAttention,
    attention_output: PackedLinear,
    ln_2: LayerNorm,
    mlp_in: PackedLinear,
    mlp_out: PackedLinear,
    activation: Activation,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let (h, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let inner = cfg.n_inner.unwrap_or(4 * h);
        let [query, key, value]: [PackedLinear; 3] =
            conv1d_parts(&vb.pp("attn.c_attn"), h, 3 * h, 3)?.try_into().map_err(|_| candle_core::Error::Msg("c_attn".into()))?;
        Ok(Self {
            ln_1: layer_norm(h, eps, vb.pp("ln_1"))?,
            attention: SelfAttention::from_projections(query, key, value, cfg.n_head)?,
            attention_output: conv1d(&vb.pp("attn.c_proj"), h, h)?,
            ln_2: layer_norm(h, eps, vb.pp("ln_2"))?,
            mlp_in: conv1d(&vb.pp("mlp.c_fc"), h, inner)?,
            mlp_out: conv1d(&vb.pp("mlp.c_proj"), inner, h)?,
            activation: cfg.activation_function,
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor, index: usize, heads_off: &HeadsOff) -> candle_core::Result<(Tensor, AttentionCapture)> {
        let (context, capture) = self.attention.forward(&self.ln_1.forward(xs)?, Some(mask))?;
        let (context, capture) = heads_off.apply(index, context, capture)?;
        let xs = (self.attention_output.forward(&context)? + xs)?;
        let mlp = self.mlp_out.forward(&self.mlp_in.forward_act(&self.ln_2.forward(&xs)?, Some(self.activation))?)?;
        Ok(((mlp + xs)?, capture))
    }
}

pub struct Gpt2Model {
    pub config: Config,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    device: Device,
}

impl Gpt2Model {
    pub fn load(vb: VarBuilder, config: Config) -> Result<Self> {
        // GPT2LMHeadModel's checkpoints put the model under `transformer.`; openai-community/gpt2's has none.
        let vb = if vb.contains_tensor("wte.weight") { vb } else { vb.pp("transformer") };
        let load = || -> candle_core::Result<Self> {
            let c = &config;
            Ok(Self {
                wte: embedding(c.vocab_size, c.n_embd, vb.pp("wte"))?,
                wpe: embedding(c.n_positions, c.n_embd, vb.pp("wpe"))?,
                blocks: (0..c.n_layer).map(|i| Block::load(vb.pp("h").pp(i), c)).collect::<candle_core::Result<_>>()?,
                ln_f: layer_norm(c.n_embd, c.layer_norm_epsilon, vb.pp("ln_f"))?,
                device: vb.device().clone(),
                config: config.clone(),
            })
        };
        load().map_err(|e| Error::Weights(e.to_string()))
    }

    /// Run on token ids (GPT-2 adds no special tokens), with `heads_off` switched off; `hidden` is after `ln_f`.
    pub fn forward(&self, ids: &[u32], heads_off: &HeadsOff) -> Result<EncoderOutput> {
        let n = ids.len();
        if n == 0 {
            return Err(Error::NoTokens);
        }
        if n > self.config.n_positions {
            return Err(Error::Invalid(format!("{n} tokens exceed the model's maximum of {}", self.config.n_positions)));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary ({})", self.config.vocab_size)));
        }
        heads_off.check(self.config.n_layer, self.config.n_head).map_err(Error::Invalid)?;
        let positions: Vec<u32> = (0..n as u32).collect();
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let positions = Tensor::new(positions.as_slice(), &self.device)?.unsqueeze(0)?;
        let mut xs = (self.wte.forward(&ids)? + self.wpe.forward(&positions)?)?;
        let mask = causal_mask(n, &self.device)?;
        let mut layers = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let (next, capture) = block.forward(&xs, &mask, i, heads_off)?;
            xs = next;
            layers.push(AttentionCapture {
                probs: capture.probs.squeeze(0)?,
                queries: capture.queries.squeeze(0)?,
                keys: capture.keys.squeeze(0)?,
            });
        }
        Ok(EncoderOutput { hidden: self.ln_f.forward(&xs)?.squeeze(0)?, layers })
    }

    /// GPT2LMHeadModel's logits for the token after `hidden` (one position's `[n_embd]`, after `ln_f`): the word
    /// embeddings, tied, as the head.
    pub fn next_token_logits(&self, hidden: &Tensor) -> Result<Vec<f32>> {
        Ok(self.wte.embeddings().matmul(&hidden.unsqueeze(1)?)?.squeeze(1)?.to_vec1()?)
    }
}
