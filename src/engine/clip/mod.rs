//! CLIP: a causal text transformer and a ViT image encoder whose pooled outputs are projected into one space,
//! where cosine similarity × exp(logit_scale) gives each caption's logit for an image. transformers' `CLIPModel` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/modeling_clip.py
//!
//! In the layout of candle-transformers' `models/clip` ([`config`], [`text_model`], [`vision_model`], and the
//! [`encoder`] both towers share), but every layer's attention is kept: the captions' causal attention for the BERT
//! views, and the image's [CLS]→patch attention for the heatmap and the rollout.
//!
//! [`ClipModel`] is the network; [`crate::engine::pipeline::clip_classifier`] adds the tokenizer and the image
//! preprocessing.

mod config;
mod encoder;
mod text_model;
mod vision_model;

pub use config::{Config, TextConfig, VisionConfig};
pub use text_model::pooled_position;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use crate::engine::compact;
use crate::engine::kernels::PackedLinear;
use crate::engine::nn::softmax;

use self::text_model::TextTransformer;
use self::vision_model::VisionTransformer;
use super::attention::VisionAttention;
use super::{Error, Result};

/// The captions' side of a comparison.
#[derive(Clone, Debug)]
pub struct TextFeatures {
    /// L2-normalised, one `[projection_dim]` per caption.
    pub embeds: Vec<Vec<f32>>,
    pub pooled_positions: Vec<usize>,
    /// Per caption (unpadded): `[layers][heads][n][n]`, row-major.
    pub attention: Vec<Vec<f32>>,
}

/// The image's side of a comparison.
#[derive(Clone, Debug)]
pub struct ImageFeatures {
    /// L2-normalised `[projection_dim]`.
    pub embed: Vec<f32>,
    pub attention: VisionAttention,
}

/// How well each caption fits the image.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    pub cosines: Vec<f32>,
    /// exp(logit_scale) · cosine: transformers' `logits_per_image[0]`.
    pub logits: Vec<f32>,
    /// softmax over the captions.
    pub probs: Vec<f32>,
}

pub struct ClipModel {
    pub config: Config,
    pub text_model: TextTransformer,
    pub vision_model: VisionTransformer,
    text_projection: PackedLinear,
    visual_projection: PackedLinear,
    /// The learned temperature, as stored (log scale); logits use its exp.
    pub logit_scale: f32,
    device: Device,
}

impl ClipModel {
    /// Load from `model.safetensors` bytes (f16/bf16 checkpoints are widened to f32).
    pub fn from_safetensors(bytes: &[u8], config: Config) -> Result<Self> {
        Self::load(crate::engine::nn::weights_from_safetensors(bytes)?, config)
    }

    pub fn load(vb: VarBuilder, config: Config) -> Result<Self> {
        let load = || -> candle_core::Result<Self> {
            let (t, v, p) = (&config.text, &config.vision, config.projection_dim);
            // Stored as a scalar by transformers; some exports keep it as `[1]`.
            let logit_scale = vb.get((), "logit_scale").or_else(|_| vb.get(1, "logit_scale"))?;
            Ok(Self {
                text_model: TextTransformer::load(vb.pp("text_model"), t)?,
                vision_model: VisionTransformer::load(vb.pp("vision_model"), v)?,
                text_projection: compact::linear_no_bias(vb.pp("text_projection"), t.hidden_size, p)?,
                visual_projection: compact::linear_no_bias(vb.pp("visual_projection"), v.hidden_size, p)?,
                logit_scale: logit_scale.flatten_all()?.to_vec1::<f32>()?.first().copied().unwrap_or(0.0),
                device: vb.device().clone(),
                config: config.clone(),
            })
        };
        load().map_err(|e| Error::Weights(e.to_string()))
    }

    /// Run the text tower on a batch of tokenized captions (each with its own length): they are padded with
    /// `pad_id` to the longest, which the causal mask makes harmless.
    pub fn encode_text(&self, captions: &[Vec<u32>], pad_id: u32) -> Result<TextFeatures> {
        let cfg = &self.config.text;
        if captions.is_empty() {
            return Err(Error::Invalid("no captions to encode".into()));
        }
        for ids in captions {
            if ids.is_empty() {
                return Err(Error::NoTokens);
            }
            if ids.len() > cfg.max_position_embeddings {
                return Err(Error::Invalid(format!(
                    "{} tokens exceed the model's maximum of {}",
                    ids.len(),
                    cfg.max_position_embeddings
                )));
            }
            if let Some(&bad) = ids.iter().chain([&pad_id]).find(|&&id| id as usize >= cfg.vocab_size) {
                return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary ({})", cfg.vocab_size)));
            }
        }
        let (c, n) = (captions.len(), captions.iter().map(Vec::len).max().unwrap_or(0));
        let mut padded = Vec::with_capacity(c * n);
        for ids in captions {
            padded.extend_from_slice(ids);
            padded.extend(std::iter::repeat_n(pad_id, n - ids.len()));
        }
        let pooled_positions: Vec<usize> = captions.iter().map(|ids| pooled_position(ids, cfg.eos_token_id)).collect();
        let ids = Tensor::from_vec(padded, (c, n), &self.device)?;
        let rows: Vec<u32> = pooled_positions.iter().enumerate().map(|(i, &p)| (i * n + p) as u32).collect();
        let (pooled, probs) = self.text_model.forward(&ids, &Tensor::new(rows, &self.device)?)?;
        let embeds = rows_of(&self.text_projection.forward(&pooled)?)?.into_iter().map(normalized).collect();

        // Keep each caption's own block of every layer: `[heads, len, len]` out of `[batch, heads, n, n]`.
        let heads = cfg.num_attention_heads;
        let mut attention: Vec<Vec<f32>> =
            captions.iter().map(|ids| Vec::with_capacity(probs.len() * heads * ids.len() * ids.len())).collect();
        for layer in &probs {
            let all = layer.flatten_all()?.to_vec1::<f32>()?;
            for (i, ids) in captions.iter().enumerate() {
                let len = ids.len();
                for h in 0..heads {
                    for r in 0..len {
                        let start = ((i * heads + h) * n + r) * n;
                        attention[i].extend_from_slice(&all[start..start + len]);
                    }
                }
            }
        }
        Ok(TextFeatures { embeds, pooled_positions, attention })
    }

    /// Run the vision tower on one preprocessed image, `[channels, image_size, image_size]` row-major.
    pub fn encode_image(&self, pixel_values: &[f32]) -> Result<ImageFeatures> {
        let v = &self.config.vision;
        let want = v.num_channels * v.image_size * v.image_size;
        if pixel_values.len() != want {
            return Err(Error::Invalid(format!(
                "the model expects {}×{}×{} pixel values, got {}",
                v.num_channels,
                v.image_size,
                v.image_size,
                pixel_values.len()
            )));
        }
        let pixels = Tensor::from_slice(pixel_values, (1, v.num_channels, v.image_size, v.image_size), &self.device)?;
        let (pooled, probs) = self.vision_model.forward(&pixels)?;
        let embed = normalized(rows_of(&self.visual_projection.forward(&pooled)?)?.remove(0));
        let mut weights = Vec::with_capacity(probs.len() * v.num_attention_heads * v.num_tokens() * v.num_tokens());
        for layer in &probs {
            weights.extend(layer.flatten_all()?.to_vec1::<f32>()?);
        }
        let attention = VisionAttention {
            num_layers: v.num_hidden_layers,
            num_heads: v.num_attention_heads,
            tokens: v.num_tokens(),
            grid: v.grid(),
            weights,
        };
        Ok(ImageFeatures { embed, attention })
    }

    /// The multiplier of the cosines, exp(logit_scale) (100 for the released checkpoints).
    pub fn temperature(&self) -> f32 {
        self.logit_scale.exp()
    }

    /// Compare one image with the captions, as `CLIPModel` computes `logits_per_image`.
    pub fn scores(&self, image: &ImageFeatures, text: &TextFeatures) -> Scores {
        let cosines: Vec<f32> = text.embeds.iter().map(|t| t.iter().zip(&image.embed).map(|(a, b)| a * b).sum()).collect();
        let scale = self.temperature();
        let logits: Vec<f32> = cosines.iter().map(|c| c * scale).collect();
        let probs = softmax(&logits);
        Scores { cosines, logits, probs }
    }
}

fn rows_of(t: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    t.to_dtype(DType::F32)?.to_vec2::<f32>()
}

fn normalized(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt() as f32;
    if norm > 0.0 {
        v.into_iter().map(|x| x / norm).collect()
    } else {
        v
    }
}


