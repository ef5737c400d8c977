//! CLIP (transformers' `CLIPModel`): a causal text transformer and a ViT image encoder whose pooled outputs are
//! projected into one space, where cosine similarity × exp(logit_scale) gives each caption's logit for an image.
//! In the style of candle-transformers' `models/clip`, but every layer's attention is kept: the captions' causal
//! attention for the BERT views, and the image's [CLS]→patch attention for the heatmap and the rollout.
//!
//! [`ClipModel`] is the network; [`ClipClassifier`] adds the tokenizer and the image preprocessing
//! ([`super::image_prep`]) and answers "which caption fits this image?" with a [`ClipResult`].

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, linear_no_bias, Embedding, LayerNorm, Linear, VarBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attention::{mean_attention, AttentionData, Pick};
use super::image_prep::{ImageInfo, PreparedImage, PreprocessConfig, ResizeTo};
use super::kernels::PackedLinear;
use super::nn::{causal_mask, Activation, ProjectionNames, SelfAttention};
use super::tokenize::{Encoded, TextTokenizer};
use super::{Error, Result};

/// The most captions one classification takes (each is a row of the text batch).
pub const MAX_CAPTIONS: usize = 100;

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    /// Decides the pooling (see [`pooled_position`]); 2 in the original OpenAI configs.
    pub eos_token_id: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl VisionConfig {
    /// Patches per side: 7 for ViT-B/32, 14 for B/16, 16 for L/14 (at 224 pixels).
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// [CLS] plus one token per patch.
    pub fn num_tokens(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

/// The checkpoint's `config.json` (`text_config`, `vision_config`, `projection_dim`). Missing keys take
/// transformers' `CLIPConfig` defaults, which are openai/clip-vit-base-patch32's shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub projection_dim: usize,
}

/// One section of config.json, with old checkpoints' `*_config_dict` overrides merged in.
struct Section<'a> {
    name: &'static str,
    base: Option<&'a serde_json::Map<String, Value>>,
    overrides: Option<&'a serde_json::Map<String, Value>>,
}

impl Section<'_> {
    fn value(&self, key: &str) -> Option<&Value> {
        [self.overrides, self.base].into_iter().flatten().filter_map(|m| m.get(key)).find(|v| !v.is_null())
    }

    fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| Error::Config(format!("{}.{key} is not a whole number: {v}", self.name))),
        }
    }

    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.value(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| Error::Config(format!("{}.{key} is not a number: {v}", self.name))),
        }
    }

    fn activation(&self) -> Result<Activation> {
        let name = self.value("hidden_act").and_then(Value::as_str).unwrap_or("quick_gelu");
        Activation::parse(name).ok_or_else(|| Error::Config(format!("{}: unsupported activation \"{name}\"", self.name)))
    }
}

impl Config {
    pub fn from_json(json: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        let root = root.as_object().ok_or_else(|| Error::Config("not a JSON object".into()))?;
        if let Some(t) = root.get("model_type").and_then(Value::as_str) {
            if t != "clip" {
                return Err(Error::Config(format!("model_type \"{t}\" is not a CLIP model (expected \"clip\")")));
            }
        }
        let section = |name: &'static str| Section {
            name,
            base: root.get(name).and_then(Value::as_object),
            overrides: root.get(&format!("{name}_dict")).and_then(Value::as_object),
        };
        let (t, v) = (section("text_config"), section("vision_config"));
        let cfg = Config {
            text: TextConfig {
                vocab_size: t.usize("vocab_size", 49408)?,
                hidden_size: t.usize("hidden_size", 512)?,
                intermediate_size: t.usize("intermediate_size", 2048)?,
                num_hidden_layers: t.usize("num_hidden_layers", 12)?,
                num_attention_heads: t.usize("num_attention_heads", 8)?,
                max_position_embeddings: t.usize("max_position_embeddings", 77)?,
                hidden_act: t.activation()?,
                layer_norm_eps: t.f64("layer_norm_eps", 1e-5)?,
                eos_token_id: t.usize("eos_token_id", 49407)? as u32,
            },
            vision: VisionConfig {
                hidden_size: v.usize("hidden_size", 768)?,
                intermediate_size: v.usize("intermediate_size", 3072)?,
                num_hidden_layers: v.usize("num_hidden_layers", 12)?,
                num_attention_heads: v.usize("num_attention_heads", 12)?,
                num_channels: v.usize("num_channels", 3)?,
                image_size: v.usize("image_size", 224)?,
                patch_size: v.usize("patch_size", 32)?,
                hidden_act: v.activation()?,
                layer_norm_eps: v.f64("layer_norm_eps", 1e-5)?,
            },
            projection_dim: match root.get("projection_dim").and_then(Value::as_u64) {
                Some(p) => p as usize,
                None => 512,
            },
        };
        for (name, hidden, heads) in [
            ("text_config", cfg.text.hidden_size, cfg.text.num_attention_heads),
            ("vision_config", cfg.vision.hidden_size, cfg.vision.num_attention_heads),
        ] {
            if heads == 0 || hidden % heads != 0 {
                return Err(Error::Config(format!("{name}: hidden size {hidden} is not divisible by {heads} heads")));
            }
        }
        let vis = &cfg.vision;
        if vis.patch_size == 0 || !vis.image_size.is_multiple_of(vis.patch_size) {
            return Err(Error::Config(format!(
                "vision_config: image size {} is not a multiple of the patch size {}",
                vis.image_size, vis.patch_size
            )));
        }
        Ok(cfg)
    }

    /// openai/clip-vit-base-patch32 (every key at its default).
    pub fn vit_base_patch32() -> Self {
        Self::from_json("{}").expect("the defaults are valid")
    }
}

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

/// The widths of a tower's layers, from its config (text and vision configs name them alike).
macro_rules! layer_shape {
    ($c:expr) => {
        LayerShape {
            hidden: $c.hidden_size,
            intermediate: $c.intermediate_size,
            heads: $c.num_attention_heads,
            activation: $c.hidden_act,
            eps: $c.layer_norm_eps,
        }
    };
}

/// The widths one tower's layers share.
#[derive(Clone, Copy)]
struct LayerShape {
    hidden: usize,
    intermediate: usize,
    heads: usize,
    activation: Activation,
    eps: f64,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, s: LayerShape) -> candle_core::Result<Self> {
        Ok(Self {
            self_attn: SelfAttention::load(vb.pp("self_attn"), s.hidden, s.heads, &CLIP_PROJECTIONS)?,
            out_proj: PackedLinear::new(linear(s.hidden, s.hidden, vb.pp("self_attn.out_proj"))?)?,
            layer_norm1: layer_norm(s.hidden, s.eps, vb.pp("layer_norm1"))?,
            fc1: PackedLinear::new(linear(s.hidden, s.intermediate, vb.pp("mlp.fc1"))?)?,
            fc2: PackedLinear::new(linear(s.intermediate, s.hidden, vb.pp("mlp.fc2"))?)?,
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
    fn load(vb: VarBuilder, num_layers: usize, shape: LayerShape) -> candle_core::Result<Self> {
        let vb = vb.pp("layers");
        Ok(Self { layers: (0..num_layers).map(|i| EncoderLayer::load(vb.pp(i), shape)).collect::<Result<_, _>>()? })
    }

    /// The last hidden states and every layer's probabilities. Both towers read only one row per sequence of the
    /// output ([CLS], or a caption's `<|endoftext|>`): `keep` names those rows (indices into `batch·n`), and the
    /// last layer's output projection and MLP, the bulk of its work, run on them alone (`[kept, hidden]` comes
    /// back). Its attention is still computed for every token, for the views.
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, keep: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
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

pub struct TextEmbeddings {
    token_embedding: Embedding,
    position_embedding: Embedding,
}

impl TextEmbeddings {
    fn load(vb: VarBuilder, c: &TextConfig) -> candle_core::Result<Self> {
        Ok(Self {
            token_embedding: embedding(c.vocab_size, c.hidden_size, vb.pp("token_embedding"))?,
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
    fn load(vb: VarBuilder, c: &TextConfig) -> candle_core::Result<Self> {
        let shape = layer_shape!(c);
        Ok(Self {
            embeddings: TextEmbeddings::load(vb.pp("embeddings"), c)?,
            encoder: Encoder::load(vb.pp("encoder"), c.num_hidden_layers, shape)?,
            final_layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("final_layer_norm"))?,
        })
    }

    /// `ids`: `[batch, n]` → the normalised hidden states of rows `pooled` (indices into `batch·n`),
    /// `[pooled, hidden]`, and per-layer probabilities.
    fn forward(&self, ids: &Tensor, pooled: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let xs = self.embeddings.forward(ids)?;
        // Causal: a token sees only itself and what came before, so padding after a caption's end changes
        // nothing in the caption (and its attention block is the unpadded one).
        let mask = causal_mask(ids.dim(1)?, ids.device())?;
        let (xs, probs) = self.encoder.forward(&xs, Some(&mask), pooled)?;
        Ok((self.final_layer_norm.forward(&xs)?, probs))
    }
}

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
        let kernel = vb.get((h, ch, p, p), "patch_embedding.weight")?;
        Ok(Self {
            class_embedding: vb.get(h, "class_embedding")?,
            patch_weight: PackedLinear::new(Linear::new(kernel.reshape((h, ch * p * p))?, None))?,
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
    fn load(vb: VarBuilder, c: &VisionConfig) -> candle_core::Result<Self> {
        let shape = layer_shape!(c);
        Ok(Self {
            embeddings: VisionEmbeddings::load(vb.pp("embeddings"), c)?,
            // (sic: transformers' name)
            pre_layrnorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            encoder: Encoder::load(vb.pp("encoder"), c.num_hidden_layers, shape)?,
            post_layernorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("post_layernorm"))?,
        })
    }

    /// `[batch, channels, H, W]` → pooled [CLS] `[batch, hidden]` and per-layer probabilities.
    fn forward(&self, pixels: &Tensor) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let xs = self.pre_layrnorm.forward(&self.embeddings.forward(pixels)?)?;
        let (b, n, _) = xs.dims3()?;
        let cls_rows = Tensor::from_vec((0..b).map(|i| (i * n) as u32).collect::<Vec<_>>(), b, xs.device())?;
        let (cls, probs) = self.encoder.forward(&xs, None, &cls_rows)?;
        Ok((self.post_layernorm.forward(&cls)?, probs))
    }
}

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
    text_projection: Linear,
    visual_projection: Linear,
    /// The learned temperature, as stored (log scale); logits use its exp.
    pub logit_scale: f32,
    device: Device,
}

impl ClipModel {
    /// Load from `model.safetensors` bytes (f16/bf16 checkpoints are widened to f32).
    pub fn from_safetensors(bytes: &[u8], config: Config) -> Result<Self> {
        Self::load(super::nn::weights_from_safetensors(bytes)?, config)
    }

    pub fn load(vb: VarBuilder, config: Config) -> Result<Self> {
        let load = || -> candle_core::Result<Self> {
            let (t, v, p) = (&config.text, &config.vision, config.projection_dim);
            // Stored as a scalar by transformers; some exports keep it as `[1]`.
            let logit_scale = vb.get((), "logit_scale").or_else(|_| vb.get(1, "logit_scale"))?;
            Ok(Self {
                text_model: TextTransformer::load(vb.pp("text_model"), t)?,
                vision_model: VisionTransformer::load(vb.pp("vision_model"), v)?,
                text_projection: linear_no_bias(t.hidden_size, p, vb.pp("text_projection"))?,
                visual_projection: linear_no_bias(v.hidden_size, p, vb.pp("visual_projection"))?,
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

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

/// The image's attention: every layer and head over [CLS] + patches, with the views' summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisionAttention {
    pub num_layers: usize,
    pub num_heads: usize,
    /// [CLS] first, then the patches row by row: `1 + grid²`.
    pub tokens: usize,
    /// Patches per side.
    pub grid: usize,
    /// `[layers][heads][from][to]`, row-major; each row sums to 1.
    pub weights: Vec<f32>,
}

impl VisionAttention {
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.tokens;
        let start = (layer * self.num_heads + head) * n * n;
        &self.weights[start..start + n * n]
    }

    /// `[tokens, tokens]` for a layer/head pick, averaging where asked.
    pub fn pick(&self, layer: Pick, head: Pick) -> Vec<f32> {
        mean_attention(&self.weights, self.num_layers, self.num_heads, self.tokens, layer, head)
    }

    /// Where [CLS] looks, `[grid, grid]` row-major: the [CLS] row of a layer/head pick without [CLS] itself
    /// (so the cells sum to 1 minus [CLS]'s attention to itself).
    pub fn cls_heatmap(&self, layer: Pick, head: Pick) -> Vec<f32> {
        cls_to_patches(&self.pick(layer, head), self.tokens)
    }

    /// Attention rollout over all layers, `[tokens, tokens]` (see [`attention_rollout`]).
    pub fn rollout(&self) -> Vec<f32> {
        attention_rollout(&self.weights, self.num_layers, self.num_heads, self.tokens)
    }

    /// The rollout's [CLS] row over the patch grid: which patches flow into the image embedding.
    pub fn rollout_heatmap(&self) -> Vec<f32> {
        cls_to_patches(&self.rollout(), self.tokens)
    }
}

/// Attention rollout (Abnar & Zuidema 2020): per layer, average the heads, add the identity for the residual
/// connection and renormalise the rows; multiply the layers from the first up. `weights` is
/// `[layers][heads][n][n]`; returns `[n, n]` whose row i says how much of token i's final state traces back to
/// each input token.
pub fn attention_rollout(weights: &[f32], num_layers: usize, num_heads: usize, n: usize) -> Vec<f32> {
    assert_eq!(weights.len(), num_layers * num_heads * n * n, "attention weights do not match the shape");
    let mut rollout: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    for layer in weights.chunks_exact(num_heads * n * n) {
        let mut a = vec![0.0f64; n * n];
        for head in layer.chunks_exact(n * n) {
            a.iter_mut().zip(head).for_each(|(a, &w)| *a += w as f64);
        }
        for (r, row) in a.chunks_exact_mut(n).enumerate() {
            row.iter_mut().for_each(|x| *x /= num_heads as f64);
            row[r] += 1.0;
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= total);
        }
        // rollout ← A · rollout: this layer's mixing applied after everything below it.
        let mut next = vec![0.0f64; n * n];
        for i in 0..n {
            for k in 0..n {
                let aik = a[i * n + k];
                if aik != 0.0 {
                    let (src, dst) = (&rollout[k * n..(k + 1) * n], &mut next[i * n..(i + 1) * n]);
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += aik * s);
                }
            }
        }
        rollout = next;
    }
    rollout.into_iter().map(|x| x as f32).collect()
}

/// Row 0 ([CLS]) of an `[n, n]` matrix without column 0: the patches in grid order.
pub fn cls_to_patches(matrix: &[f32], n: usize) -> Vec<f32> {
    matrix[1..n].to_vec()
}

/// The four files of a CLIP checkpoint, as bytes.
pub struct ClipFiles<'a> {
    pub config_json: &'a str,
    pub tokenizer_json: &'a [u8],
    pub preprocessor_config_json: &'a str,
    pub safetensors: &'a [u8],
}

/// One caption, tokenized for CLIP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    pub text: String,
    pub encoded: Encoded,
    /// The caption was longer than the model reads (77 tokens): the end was cut, `<|endoftext|>` kept last.
    pub truncated: bool,
}

/// What a classification shows: per caption its tokens, score and attention; for the image its embedding,
/// attention and the 224×224 crop the model saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipResult {
    pub model: String,
    pub captions: Vec<String>,
    pub input_ids: Vec<Vec<u32>>,
    pub tokens: Vec<Vec<String>>,
    pub truncated: Vec<bool>,
    /// Tokens cut from each caption by truncation.
    pub dropped_tokens: Vec<usize>,
    /// Token whose output is the caption's embedding (its first `<|endoftext|>`).
    pub pooled_positions: Vec<usize>,
    pub cosines: Vec<f32>,
    /// exp(logit_scale): logits = temperature · cosines.
    pub temperature: f32,
    pub logits: Vec<f32>,
    /// softmax of the logits over the captions (1.0 for a single caption).
    pub probs: Vec<f32>,
    pub text_embeds: Vec<Vec<f32>>,
    pub image_embed: Vec<f32>,
    /// Each caption's causal attention, for the BERT views.
    pub text_attention: Vec<AttentionData>,
    pub vision_attention: VisionAttention,
    pub image: ImageInfo,
    /// The crop the model saw, RGB `[height][width][3]` (empty when the pixels came precomputed).
    pub preview_rgb: Vec<u8>,
    pub preview_width: usize,
    pub preview_height: usize,
}

/// A CLIP checkpoint ready to score captions against images: tokenizer + preprocessing + model.
pub struct ClipClassifier {
    pub name: String,
    pub tokenizer: TextTokenizer,
    pub preprocess: PreprocessConfig,
    pub model: ClipModel,
    pad_id: u32,
}

impl ClipClassifier {
    pub fn load(name: &str, files: &ClipFiles) -> Result<Self> {
        let weights = super::nn::weights_from_safetensors(files.safetensors)?;
        Self::from_parts(name, files.config_json, files.tokenizer_json, files.preprocessor_config_json, weights)
    }

    /// From the three small files and weights already read (e.g. streamed from the weights store).
    pub fn from_parts(
        name: &str,
        config_json: &str,
        tokenizer_json: &[u8],
        preprocessor_config_json: &str,
        weights: VarBuilder,
    ) -> Result<Self> {
        let config = Config::from_json(config_json)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let preprocess = PreprocessConfig::from_json(preprocessor_config_json)?;
        let side = config.vision.image_size;
        let fixed_size = match (preprocess.crop, preprocess.resize) {
            (Some(crop), _) => Some(crop),
            (None, Some(ResizeTo::Exact { height, width })) => Some((height, width)),
            _ => None,
        };
        if fixed_size != Some((side, side)) {
            return Err(Error::Config(format!(
                "preprocessor_config.json does not make the {side}×{side} images the model takes (crop {:?})",
                preprocess.crop
            )));
        }
        // transformers pads CLIP batches with <|endoftext|>; any id would do behind the causal mask.
        let pad_id = tokenizer.token_to_id("<|endoftext|>").unwrap_or(config.text.eos_token_id);
        let model = ClipModel::load(weights, config)?;
        Ok(Self { name: name.to_string(), tokenizer, preprocess, model, pad_id })
    }

    /// Tokenize captions (`<|startoftext|>` … `<|endoftext|>`, at most 77 tokens: longer ones are cut keeping
    /// `<|endoftext|>` last, and say so).
    pub fn tokenize<S: AsRef<str>>(&self, captions: &[S]) -> Result<Vec<Caption>> {
        if captions.is_empty() {
            return Err(Error::Invalid("Please enter at least one caption to compare the image with.".into()));
        }
        if captions.len() > MAX_CAPTIONS {
            return Err(Error::Invalid(format!(
                "{} captions is too many: at most {MAX_CAPTIONS} at a time.",
                captions.len()
            )));
        }
        let max = self.model.config.text.max_position_embeddings;
        captions
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = text.as_ref();
                let encoded = self.tokenizer.encode(text, None, max).map_err(|e| match e {
                    Error::EmptyInput => Error::Invalid(format!("Caption {} is empty.", i + 1)),
                    Error::NoTokens => Error::Invalid(format!("Caption {} has no tokens the model can read.", i + 1)),
                    e => e,
                })?;
                Ok(Caption { text: text.to_string(), truncated: encoded.dropped > 0, encoded })
            })
            .collect()
    }

    /// Decode and preprocess an image file (PNG, JPEG, GIF), then classify it.
    pub fn classify<S: AsRef<str>>(&self, image_bytes: &[u8], captions: &[S]) -> Result<ClipResult> {
        // Tokenize first: a caption problem is reported without paying for the image.
        let captions = self.tokenize(captions)?;
        let image = super::image_prep::prepare(image_bytes, &self.preprocess)?;
        self.classify_tokenized(&image, &captions)
    }

    /// Classify an already preprocessed image (e.g. pixel values from a reference implementation).
    pub fn classify_prepared<S: AsRef<str>>(&self, image: &PreparedImage, captions: &[S]) -> Result<ClipResult> {
        let captions = self.tokenize(captions)?;
        self.classify_tokenized(image, &captions)
    }

    fn classify_tokenized(&self, image: &PreparedImage, captions: &[Caption]) -> Result<ClipResult> {
        let ids: Vec<Vec<u32>> = captions.iter().map(|c| c.encoded.ids.clone()).collect();
        let text = self.model.encode_text(&ids, self.pad_id)?;
        let img = self.model.encode_image(&image.pixel_values)?;
        let scores = self.model.scores(&img, &text);
        let t = &self.model.config.text;
        let text_attention = captions
            .iter()
            .zip(&text.attention)
            .map(|(c, weights)| {
                AttentionData::new(
                    &self.name,
                    &c.text,
                    None,
                    &c.encoded,
                    t.num_hidden_layers,
                    t.num_attention_heads,
                    t.hidden_size / t.num_attention_heads,
                    weights.clone(),
                    None,
                )
            })
            .collect::<Result<_>>()?;
        Ok(ClipResult {
            model: self.name.clone(),
            captions: captions.iter().map(|c| c.text.clone()).collect(),
            input_ids: ids,
            tokens: captions.iter().map(|c| c.encoded.tokens.clone()).collect(),
            truncated: captions.iter().map(|c| c.truncated).collect(),
            dropped_tokens: captions.iter().map(|c| c.encoded.dropped).collect(),
            pooled_positions: text.pooled_positions,
            cosines: scores.cosines,
            temperature: self.model.temperature(),
            logits: scores.logits,
            probs: scores.probs,
            text_embeds: text.embeds,
            image_embed: img.embed,
            text_attention,
            vision_attention: img.attention,
            image: image.info.clone(),
            preview_rgb: image.crop_rgb.clone(),
            preview_width: image.width,
            preview_height: image.height,
        })
    }
}
