//! CLIP's `config.json`: transformers' `CLIPConfig`, `CLIPTextConfig` and `CLIPVisionConfig` in
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/configuration_clip.py

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::activation::Activation;
use crate::engine::{limits, Error, Result};

/// `text_config`. Missing keys take `CLIPTextConfig`'s defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    /// Decides the pooling (see [`super::text_model::pooled_position`]); 2 in the original OpenAI configs.
    pub eos_token_id: u32,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

/// `vision_config`. Missing keys take `CLIPVisionConfig`'s defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
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

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
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

impl Config {
    pub fn from_json(json: &str) -> Result<Self> {
        limits::check_json_size(json.len(), limits::MAX_CONFIG_JSON_BYTES).map_err(Error::Config)?;
        let mut root: Map<String, Value> = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        if let Some(Value::String(t)) = root.get("model_type") {
            if t != "clip" {
                return Err(Error::Config(format!("model_type \"{t}\" is not a CLIP model (expected \"clip\")")));
            }
        }
        let projection_dim = match root.remove("projection_dim") {
            None | Some(Value::Null) => 512,
            Some(v) => usize::deserialize(v).map_err(|e| Error::Config(format!("projection_dim: {e}")))?,
        };
        let cfg = Config {
            text: section(&mut root, "text_config")?,
            vision: section(&mut root, "vision_config")?,
            projection_dim,
        };
        cfg.validate().map_err(Error::Config)?;
        Ok(cfg)
    }

    /// Refuse dimensions no real checkpoint has (see `limits`), before any tensor is sized from them.
    fn validate(&self) -> std::result::Result<(), String> {
        let (t, v) = (&self.text, &self.vision);
        let field = |section: &str, name: &str| format!("{section}.{name}");
        for (section, hidden, heads, layers, intermediate, eps) in [
            ("text_config", t.hidden_size, t.num_attention_heads, t.num_hidden_layers, t.intermediate_size, t.layer_norm_eps),
            ("vision_config", v.hidden_size, v.num_attention_heads, v.num_hidden_layers, v.intermediate_size, v.layer_norm_eps),
        ] {
            limits::check(&field(section, "hidden_size"), hidden, limits::HIDDEN)?;
            limits::check(&field(section, "num_attention_heads"), heads, limits::HEADS)?;
            limits::check(&field(section, "num_hidden_layers"), layers, limits::LAYERS)?;
            limits::check(&field(section, "intermediate_size"), intermediate, limits::INTERMEDIATE)?;
            if !hidden.is_multiple_of(heads) {
                return Err(format!("{section}: hidden size {hidden} is not divisible by {heads} heads"));
            }
            if !(eps.is_finite() && eps >= 0.0) {
                return Err(format!("{section}: layer_norm_eps {eps} is not a small positive number"));
            }
        }
        limits::check("text_config.vocab_size", t.vocab_size, limits::VOCAB)?;
        limits::check("text_config.max_position_embeddings", t.max_position_embeddings, limits::POSITIONS)?;
        limits::check("vision_config.num_channels", v.num_channels, limits::CHANNELS)?;
        limits::check("vision_config.image_size", v.image_size, limits::IMAGE_SIDE)?;
        limits::check("projection_dim", self.projection_dim, limits::PROJECTION)?;
        if v.patch_size == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return Err(format!(
                "vision_config: image size {} is not a multiple of the patch size {}",
                v.image_size, v.patch_size
            ));
        }
        if v.grid() * v.grid() > limits::MAX_PATCHES {
            return Err(format!(
                "vision_config: {}×{} patches of {} pixels is more than the {} patches nlu-lab accepts",
                v.grid(),
                v.grid(),
                v.patch_size,
                limits::MAX_PATCHES
            ));
        }
        Ok(())
    }

    /// openai/clip-vit-base-patch32 (every key at its default).
    pub fn vit_base_patch32() -> Self {
        Self::from_json("{}").expect("the defaults are valid")
    }
}

/// One section of config.json (`text_config`, `vision_config`), with old checkpoints' `*_config_dict` overrides
/// merged over it and nulls taken as "the default", as transformers reads them.
fn section<T: DeserializeOwned>(root: &mut Map<String, Value>, name: &str) -> Result<T> {
    let mut fields = match root.remove(name) {
        Some(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    if let Some(Value::Object(overrides)) = root.remove(&format!("{name}_dict")) {
        fields.extend(overrides.into_iter().filter(|(_, v)| !v.is_null()));
    }
    fields.retain(|_, v| !v.is_null());
    T::deserialize(Value::Object(fields)).map_err(|e| Error::Config(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_config_dicts_override_and_nulls_mean_the_default() {
        let json = r#"{"projection_dim": null, "vision_config": null,
            "text_config": {"hidden_size": 256, "num_attention_heads": null, "eos_token_id": 2},
            "text_config_dict": {"hidden_size": 384, "num_hidden_layers": 4, "eos_token_id": null}}"#;
        let cfg = Config::from_json(json).unwrap();
        let want = TextConfig { hidden_size: 384, num_hidden_layers: 4, eos_token_id: 2, ..TextConfig::default() };
        assert_eq!(cfg.text, want);
        assert_eq!(cfg.vision, VisionConfig::default());
        assert_eq!(cfg.projection_dim, 512);
        assert!(Config::from_json(r#"{"vision_config": {"hidden_act": "swish"}}"#).is_err());
        assert!(Config::from_json(r#"{"text_config": {"hidden_size": 100}}"#).is_err(), "8 heads");
    }
}
