//! The text tower, causal and pooled at the caption's end: transformers' `CLIPTextEmbeddings` and
//! `CLIPTextTransformer` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/modeling_clip.py

use candle_core::{Module, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};

use crate::engine::compact::TokenEmbedding;

use super::config::TextConfig;
use super::encoder::{Encoder, LayerShape};
use crate::engine::nn::causal_mask;

/// Where transformers pools a caption: with the original configs' `eos_token_id == 2` it takes
/// `argmax(input_ids)` (the first 49407, the highest id), otherwise the first `eos_token_id` (0 when absent).
pub fn pooled_position(ids: &[u32], eos_token_id: u32) -> usize {
    if eos_token_id == 2 {
        let max = ids.iter().copied().max().unwrap_or(0);
        ids.iter().position(|&id| id == max).unwrap_or(0)
    } else {
        ids.iter().position(|&id| id == eos_token_id).unwrap_or(0)
    }
}

pub struct TextEmbeddings {
    token_embedding: TokenEmbedding,
    position_embedding: Embedding,
}

impl TextEmbeddings {
    fn load(vb: VarBuilder, c: &TextConfig) -> candle_core::Result<Self> {
        Ok(Self {
            token_embedding: TokenEmbedding::load(vb.pp("token_embedding"), c.vocab_size, c.hidden_size)?,
            position_embedding: embedding(c.max_position_embeddings, c.hidden_size, vb.pp("position_embedding"))?,
        })
    }

    /// `ids`: `[batch, n]` → `[batch, n, hidden]`.
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let positions = Tensor::arange(0u32, ids.dim(1)? as u32, ids.device())?;
        self.token_embedding.forward(ids)?.broadcast_add(&self.position_embedding.forward(&positions)?)
    }
}

pub struct TextTransformer {
    embeddings: TextEmbeddings,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
}

impl TextTransformer {
    pub fn load(vb: VarBuilder, c: &TextConfig) -> candle_core::Result<Self> {
        let shape = LayerShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            embeddings: TextEmbeddings::load(vb.pp("embeddings"), c)?,
            encoder: Encoder::load(vb.pp("encoder"), c.num_hidden_layers, shape)?,
            final_layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("final_layer_norm"))?,
        })
    }

    /// `ids`: `[batch, n]` → the normalised hidden states of rows `pooled` (indices into `batch·n`),
    /// `[pooled, hidden]`, and per-layer probabilities.
    pub fn forward(&self, ids: &Tensor, pooled: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let xs = self.embeddings.forward(ids)?;
        // Causal: a token sees only itself and what came before, so padding after a caption's end changes
        // nothing in the caption (and its attention block is the unpadded one).
        let mask = causal_mask(ids.dim(1)?, ids.device())?;
        let (xs, probs) = self.encoder.forward(&xs, Some(&mask), pooled)?;
        Ok((self.final_layer_norm.forward(&xs)?, probs))
    }
}
