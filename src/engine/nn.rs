//! Building blocks shared by the encoders (BERT family and CLIP): multi-head self-attention that hands back what
//! the views draw — the attention probabilities and the per-head queries and keys.
//! Mirrors transformers' eager attention (`BertSelfAttention` / `eager_attention_forward`,
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py, and
//! `CLIPAttention` in models/clip/modeling_clip.py), which is what `output_attentions=True` returns.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::kernels::PackedLinear;

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
    query: PackedLinear,
    key: PackedLinear,
    value: PackedLinear,
    num_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(vb: VarBuilder, hidden: usize, num_heads: usize, names: &ProjectionNames) -> Result<Self> {
        if num_heads == 0 || hidden % num_heads != 0 {
            candle_core::bail!("hidden size {hidden} is not divisible by {num_heads} heads")
        }
        Ok(Self {
            query: super::compact::linear(vb.pp(names.query), hidden, hidden)?,
            key: super::compact::linear(vb.pp(names.key), hidden, hidden)?,
            value: super::compact::linear(vb.pp(names.value), hidden, hidden)?,
            num_heads,
            head_dim: hidden / num_heads,
        })
    }

    /// From projections already built (GPT-2 keeps the three in one `c_attn`, split at load).
    pub fn from_projections(query: PackedLinear, key: PackedLinear, value: PackedLinear, num_heads: usize) -> Result<Self> {
        let hidden = query.outputs();
        if num_heads == 0 || hidden % num_heads != 0 {
            candle_core::bail!("hidden size {hidden} is not divisible by {num_heads} heads")
        }
        Ok(Self { query, key, value, num_heads, head_dim: hidden / num_heads })
    }

    /// `xs`: `[batch, n, hidden]`; `mask`: added to the scores, broadcastable to `[batch, heads, n, n]`.
    /// Returns the per-head context `[batch, n, hidden]` and the capture.
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, AttentionCapture)> {
        // In wasm the heads run through the packed kernel (see kernels::attention_heads); natively candle's
        // batched matmuls are faster than a scalar kernel.
        if cfg!(target_arch = "wasm32") {
            self.forward_packed(xs, mask)
        } else {
            self.forward_candle(xs, mask)
        }
    }

    fn forward_candle(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, AttentionCapture)> {
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

impl SelfAttention {
    /// [`Self::forward`] through [`super::kernels::attention_heads`]; `mask` must be `[n, n]`.
    pub fn forward_packed(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, AttentionCapture)> {
        let (b, n, _) = xs.dims3()?;
        let (heads, d) = (self.num_heads, self.head_dim);
        let flat = |t: Tensor| t.flatten_all()?.to_vec1::<f32>();
        let (q, k, v) = (flat(self.query.forward(xs)?)?, flat(self.key.forward(xs)?)?, flat(self.value.forward(xs)?)?);
        let mask = match mask {
            Some(m) if m.dims() == [n, n] => Some(flat(m.to_dtype(DType::F32)?)?),
            Some(m) => candle_core::bail!("attention mask {:?}: the packed path takes [{n}, {n}]", m.dims()),
            None => None,
        };
        let scale = (1.0 / (d as f64).sqrt()) as f32;
        let out = super::kernels::attention_heads(&q, &k, &v, b, n, heads, d, scale, mask.as_deref());
        let dev = xs.device();
        let context = Tensor::from_vec(out.context, (b, n, heads * d), dev)?;
        let capture = AttentionCapture {
            probs: Tensor::from_vec(out.probs, (b, heads, n, n), dev)?,
            queries: Tensor::from_vec(out.queries, (b, heads, n, d), dev)?,
            keys: Tensor::from_vec(out.keys, (b, heads, n, d), dev)?,
        };
        Ok((context, capture))
    }
}

/// softmax in f64 (a caption set, or a vocabulary of 50 000 logits), back to f32.
pub(crate) fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

/// A `[n, n]` mask that hides later positions (for causal text encoders such as CLIP's).
pub fn causal_mask(n: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mask: Vec<f32> =
        (0..n).flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (n, n), device)
}

/// A `VarBuilder` over `model.safetensors` bytes, widening f16/bf16 to f32. The same reader the browser streams
/// the weights store through, so native tests exercise the app's load path.
pub fn weights_from_safetensors(bytes: &[u8]) -> crate::engine::Result<VarBuilder<'static>> {
    let mut stream = super::safetensors_stream::TensorStream::with_file_size(bytes.len() as u64);
    stream.push(bytes)?;
    stream.into_var_builder()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The packed path (what wasm runs) against candle's, with and without the causal mask.
    #[test]
    fn packed_attention_matches_candle() {
        let (dev, h, heads) = (candle_core::Device::Cpu, 24, 3);
        let mut tensors = HashMap::new();
        for name in ["q", "k", "v"] {
            tensors.insert(format!("{name}.weight"), Tensor::randn(0f32, 0.3, (h, h), &dev).unwrap());
            tensors.insert(format!("{name}.bias"), Tensor::randn(0f32, 0.3, h, &dev).unwrap());
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let names = ProjectionNames { query: "q", key: "k", value: "v" };
        let attention = SelfAttention::load(vb, h, heads, &names).unwrap();
        let xs = Tensor::randn(0f32, 1.0, (2, 7, h), &dev).unwrap();
        let mask = causal_mask(7, &dev).unwrap();
        for mask in [None, Some(&mask)] {
            let (want, want_cap) = attention.forward_candle(&xs, mask).unwrap();
            let (got, got_cap) = attention.forward_packed(&xs, mask).unwrap();
            let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff(&got, &want) < 1e-5);
            assert!(diff(&got_cap.probs, &want_cap.probs) < 1e-6);
            assert!(diff(&got_cap.queries, &want_cap.queries) < 1e-6);
            assert!(diff(&got_cap.keys, &want_cap.keys) < 1e-6);
        }
    }
}
