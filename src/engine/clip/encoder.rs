//! The transformer stack both towers share, keeping every layer's attention probabilities: transformers'
//! `CLIPEncoderLayer` and `CLIPEncoder` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/modeling_clip.py

use candle_core::{Module, Tensor};
use candle_nn::{layer_norm, LayerNorm, VarBuilder};

use crate::engine::activation::Activation;
use crate::engine::compact;
use crate::engine::kernels::PackedLinear;
use crate::engine::nn::{ProjectionNames, SelfAttention};

const CLIP_PROJECTIONS: ProjectionNames = ProjectionNames { query: "q_proj", key: "k_proj", value: "v_proj" };

/// One pre-LayerNorm transformer layer, shared by both towers.
pub struct EncoderLayer {
    self_attn: SelfAttention,
    out_proj: PackedLinear,
    layer_norm1: LayerNorm,
    fc1: PackedLinear,
    fc2: PackedLinear,
    layer_norm2: LayerNorm,
    activation: Activation,
}

/// The widths one tower's layers share.
#[derive(Clone, Copy)]
pub(super) struct LayerShape {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub activation: Activation,
    pub eps: f64,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, s: LayerShape) -> candle_core::Result<Self> {
        Ok(Self {
            self_attn: SelfAttention::load(vb.pp("self_attn"), s.hidden, s.heads, &CLIP_PROJECTIONS)?,
            out_proj: compact::linear(vb.pp("self_attn.out_proj"), s.hidden, s.hidden)?,
            layer_norm1: layer_norm(s.hidden, s.eps, vb.pp("layer_norm1"))?,
            fc1: compact::linear(vb.pp("mlp.fc1"), s.hidden, s.intermediate)?,
            fc2: compact::linear(vb.pp("mlp.fc2"), s.intermediate, s.hidden)?,
            layer_norm2: layer_norm(s.hidden, s.eps, vb.pp("layer_norm2"))?,
            activation: s.activation,
        })
    }

    /// Returns the new hidden states and the attention probabilities `[batch, heads, n, n]`. With `keep` (indices
    /// into the `batch·n` rows) the attention still covers every row, but the rest of the layer runs only on the
    /// kept rows and the hidden states come back as `[kept, hidden]`.
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, keep: Option<&Tensor>) -> candle_core::Result<(Tensor, Tensor)> {
        // Normalise, attend, add back; normalise, feed forward, add back.
        let (context, capture) = self.self_attn.forward(&self.layer_norm1.forward(xs)?, mask)?;
        let (xs, context) = match keep {
            Some(rows) => (select_rows(xs, rows)?, select_rows(&context, rows)?),
            None => (xs.clone(), context),
        };
        let xs = (&xs + self.out_proj.forward(&context)?)?;
        let hidden = self.fc1.forward_act(&self.layer_norm2.forward(&xs)?, Some(self.activation))?;
        let xs = (&xs + self.fc2.forward(&hidden)?)?;
        Ok((xs, capture.probs))
    }
}

pub struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub(super) fn load(vb: VarBuilder, num_layers: usize, shape: LayerShape) -> candle_core::Result<Self> {
        let vb = vb.pp("layers");
        Ok(Self { layers: (0..num_layers).map(|i| EncoderLayer::load(vb.pp(i), shape)).collect::<Result<_, _>>()? })
    }

    /// The last hidden states and every layer's probabilities. Both towers read only one row per sequence of the
    /// output ([CLS], or a caption's `<|endoftext|>`): `keep` names those rows (indices into `batch·n`), and the
    /// last layer's output projection and MLP, the bulk of its work, run on them alone (`[kept, hidden]` comes
    /// back). Its attention is still computed for every token, for the views.
    pub(super) fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, keep: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let mut xs = xs.clone();
        let mut probs = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let last = i + 1 == self.layers.len();
            let (next, p) = layer.forward(&xs, mask, last.then_some(keep))?;
            xs = next;
            probs.push(p);
        }
        Ok((xs, probs))
    }
}

/// Rows `rows` (u32 indices into `batch·n`) of `[batch, n, hidden]`, as `[rows, hidden]`.
fn select_rows(xs: &Tensor, rows: &Tensor) -> candle_core::Result<Tensor> {
    let (b, n, h) = xs.dims3()?;
    xs.reshape((b * n, h))?.index_select(rows, 0)
}
