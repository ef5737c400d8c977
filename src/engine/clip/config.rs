//! CLIP's `config.json`: transformers' `CLIPConfig`, `CLIPTextConfig` and `CLIPVisionConfig` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/configuration_clip.py

use serde_json::Value;

use crate::engine::activation::Activation;
use crate::engine::{Error, Result};

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
