//! The image tower, a ViT pooled at [CLS]: transformers' `CLIPVisionEmbeddings` and `CLIPVisionTransformer` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/modeling_clip.py

use candle_core::{Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};

use super::config::VisionConfig;
use super::encoder::{Encoder, LayerShape};
use crate::engine::compact::{self, CompactMatrix};
use crate::engine::kernels::PackedLinear;

pub struct VisionEmbeddings {
    class_embedding: Tensor,
    /// The patch convolution's kernel flattened to `[hidden, channels·patch·patch]`, packed once.
    patch_weight: PackedLinear,
    position_embedding: Embedding,
    patch_size: usize,
    num_channels: usize,
}

impl VisionEmbeddings {
    fn load(vb: VarBuilder, c: &VisionConfig) -> candle_core::Result<Self> {
        let (h, p, ch) = (c.hidden_size, c.patch_size, c.num_channels);
        Ok(Self {
            class_embedding: vb.get(h, "class_embedding")?,
            // Its input is the unfolded patches, so the packer calibrates it like any linear layer.
            patch_weight: compact::named(
                PackedLinear::from_matrix(CompactMatrix::load(&vb.pp("patch_embedding"), "weight", &[h, ch, p, p])?, None)?,
                &vb.pp("patch_embedding"),
            ),
            position_embedding: embedding(c.num_tokens(), h, vb.pp("position_embedding"))?,
            patch_size: p,
            num_channels: ch,
        })
    }

    /// The patch "convolution" (kernel = stride = patch size, no bias): `[batch, channels, H, W]` →
    /// `[batch, patches, hidden]`. With non-overlapping patches the convolution is exactly a matrix product over
    /// the unfolded patches, one reshape/permute away from the image and faster than candle's `conv2d` (which
    /// unfolds the same way and then multiplies, with more bookkeeping).
    pub fn patch_embeddings(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, height, width) = pixels.dims4()?;
        let p = self.patch_size;
        if c != self.num_channels || height % p != 0 || width % p != 0 {
            candle_core::bail!("pixel values {:?} do not fit {}-channel patches of {p}", pixels.dims(), self.num_channels)
        }
        let (gh, gw) = (height / p, width / p);
        let patches = pixels
            .reshape((b, c, gh, p, gw, p))?
            .permute([0, 2, 4, 1, 3, 5])?
            .contiguous()?
            .reshape((b, gh * gw, c * p * p))?;
        self.patch_weight.forward(&patches)
    }

    /// `[batch, channels, H, W]` → `[batch, 1 + patches, hidden]`: [CLS], then the patches row by row.
    fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let patches = self.patch_embeddings(pixels)?;
        let (b, _, h) = patches.dims3()?;
        let class = self.class_embedding.reshape((1, 1, h))?.broadcast_as((b, 1, h))?.contiguous()?;
        let xs = Tensor::cat(&[&class, &patches], 1)?;
        xs.broadcast_add(self.position_embedding.embeddings())
    }
}

pub struct VisionTransformer {
    pub embeddings: VisionEmbeddings,
    pre_layrnorm: LayerNorm,
    encoder: Encoder,
    post_layernorm: LayerNorm,
}

impl VisionTransformer {
    pub fn load(vb: VarBuilder, c: &VisionConfig) -> candle_core::Result<Self> {
        let shape = LayerShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            embeddings: VisionEmbeddings::load(vb.pp("embeddings"), c)?,
            // (sic: transformers' name)
            pre_layrnorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            encoder: Encoder::load(vb.pp("encoder"), c.num_hidden_layers, shape)?,
            post_layernorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("post_layernorm"))?,
        })
    }

    /// `[batch, channels, H, W]` → pooled [CLS] `[batch, hidden]` and per-layer probabilities.
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let xs = self.pre_layrnorm.forward(&self.embeddings.forward(pixels)?)?;
        let (b, n, _) = xs.dims3()?;
        let cls_rows = Tensor::from_vec((0..b).map(|i| (i * n) as u32).collect::<Vec<_>>(), b, xs.device())?;
        let (cls, probs) = self.encoder.forward(&xs, None, &cls_rows)?;
        Ok((self.post_layernorm.forward(&cls)?, probs))
    }
}
