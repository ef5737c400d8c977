//! Building blocks shared by the encoders (BERT family and CLIP): activations and multi-head self-attention that
//! hands back what the views draw — the attention probabilities and the per-head queries and keys.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// transformers' "gelu": the exact erf form.
    Gelu,
    /// "gelu_new", "gelu_pytorch_tanh", "gelu_fast": the tanh approximation.
    GeluTanh,
    Relu,
    /// CLIP's x·σ(1.702x).
    QuickGelu,
}

impl Activation {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            "quick_gelu" => Self::QuickGelu,
            _ => return None,
        })
    }
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gelu => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
            Self::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
        }
    }
}

/// What one attention layer shows: probabilities `[batch, heads, n, n]`, and the queries and keys
/// `[batch, heads, n, head_dim]` after projection and head split, before the 1/√d scaling.
#[derive(Clone, Debug)]
pub struct AttentionCapture {
    pub probs: Tensor,
    pub queries: Tensor,
    pub keys: Tensor,
}

/// Weight names of the three input projections, relative to the layer (they differ between checkpoints).
pub struct ProjectionNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
}

/// Multi-head self-attention without the output projection (checkpoints name and place that differently).
#[derive(Clone, Debug)]
pub struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    num_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(vb: VarBuilder, hidden: usize, num_heads: usize, names: &ProjectionNames) -> Result<Self> {
        if num_heads == 0 || hidden % num_heads != 0 {
            candle_core::bail!("hidden size {hidden} is not divisible by {num_heads} heads")
        }
        Ok(Self {
            query: linear(hidden, hidden, vb.pp(names.query))?,
            key: linear(hidden, hidden, vb.pp(names.key))?,
            value: linear(hidden, hidden, vb.pp(names.value))?,
            num_heads,
            head_dim: hidden / num_heads,
        })
    }

    /// `xs`: `[batch, n, hidden]`; `mask`: added to the scores, broadcastable to `[batch, heads, n, n]`.
    /// Returns the per-head context `[batch, n, hidden]` and the capture.
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, AttentionCapture)> {
        let (b, n, _) = xs.dims3()?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.num_heads, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let queries = split(self.query.forward(xs)?)?;
        let keys = split(self.key.forward(xs)?)?;
        let values = split(self.value.forward(xs)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (queries.matmul(&keys.t()?)? * scale)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&values)?.transpose(1, 2)?.reshape((b, n, self.num_heads * self.head_dim))?;
        Ok((context, AttentionCapture { probs, queries, keys }))
    }
}

/// A `[n, n]` mask that hides later positions (for causal text encoders such as CLIP's).
pub fn causal_mask(n: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mask: Vec<f32> =
        (0..n).flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (n, n), device)
}

/// A `VarBuilder` over `model.safetensors` bytes, widening f16/bf16 to f32.
pub fn weights_from_safetensors(bytes: &[u8]) -> crate::engine::Result<VarBuilder<'_>> {
    VarBuilder::from_slice_safetensors(bytes, DType::F32, &Device::Cpu)
        .map_err(|e| crate::engine::Error::Weights(format!("not a readable safetensors file: {e}")))
}
