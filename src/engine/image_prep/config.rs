//! `preprocessor_config.json`: transformers' `CLIPImageProcessor` settings
//! (https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/image_processing_clip.py).

use serde_json::Value;

use super::resample::Resample;
use crate::engine::{limits, Error, Result};

/// How the image is resized before the crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeTo {
    /// The shorter side becomes this long, the longer `int(edge · long / short)` (CLIP).
    ShortestEdge(usize),
    Exact { height: usize, width: usize },
}

/// `preprocessor_config.json`. Missing keys take `CLIPImageProcessor`'s defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct PreprocessConfig {
    pub resize: Option<ResizeTo>,
    pub resample: Resample,
    /// `(height, width)`; `None` when `do_center_crop` is false.
    pub crop: Option<(usize, usize)>,
    /// `None` when `do_rescale` is false.
    pub rescale_factor: Option<f64>,
    /// `None` when `do_normalize` is false.
    pub normalize: Option<([f32; 3], [f32; 3])>,
}

pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const OPENAI_CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self::from_json("{}").expect("the defaults are valid")
    }
}

impl PreprocessConfig {
    pub fn from_json(json: &str) -> Result<Self> {
        let err = Error::Preprocessor;
        limits::check_json_size(json.len(), limits::MAX_CONFIG_JSON_BYTES).map_err(err)?;
        let root: Value = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        let flag = |key: &str| root.get(key).and_then(Value::as_bool).unwrap_or(true);
        // try_from, not `as`: on wasm32 a 2^32 + 224 must not wrap to 224.
        let uint = |v: &Value| v.as_u64().and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0);
        let hw = |v: &Value| Some((uint(v.get("height")?)?, uint(v.get("width")?)?));

        let resize = match root.get("size") {
            None | Some(Value::Null) => ResizeTo::ShortestEdge(224),
            Some(v) => {
                if let Some(edge) = v.get("shortest_edge").and_then(uint).or_else(|| uint(v)) {
                    ResizeTo::ShortestEdge(edge)
                } else if let Some((height, width)) = hw(v) {
                    ResizeTo::Exact { height, width }
                } else {
                    return Err(err(format!("unsupported \"size\": {v}")));
                }
            }
        };
        let (crop_height, crop_width) = match root.get("crop_size") {
            None | Some(Value::Null) => (224, 224),
            Some(v) => hw(v).or_else(|| uint(v).map(|s| (s, s))).ok_or_else(|| err(format!("unsupported \"crop_size\": {v}")))?,
        };
        let resample = match root.get("resample") {
            None | Some(Value::Null) => Resample::Bicubic,
            Some(v) => v
                .as_u64()
                .and_then(Resample::from_pil)
                .ok_or_else(|| err(format!("resample {v} is not supported (1 Lanczos, 2 bilinear, 3 bicubic)")))?,
        };
        let triple = |key: &str, default: [f32; 3]| -> Result<[f32; 3]> {
            match root.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                Some(v) => {
                    let vals: Vec<f32> = v.as_array().into_iter().flatten().filter_map(Value::as_f64).map(|x| x as f32).collect();
                    <[f32; 3]>::try_from(vals).map_err(|_| err(format!("\"{key}\" must hold 3 numbers: {v}")))
                }
            }
        };
        let (mean, std) = (triple("image_mean", OPENAI_CLIP_MEAN)?, triple("image_std", OPENAI_CLIP_STD)?);
        if std.contains(&0.0) {
            return Err(err("image_std contains 0".into()));
        }
        let rescale = root.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0);
        let side = |what: &str, v: usize| limits::check(what, v, limits::PREPROCESS_SIDE).map_err(err);
        match resize {
            ResizeTo::ShortestEdge(edge) => side("size.shortest_edge", edge)?,
            ResizeTo::Exact { height, width } => {
                side("size.height", height)?;
                side("size.width", width)?;
            }
        }
        side("crop_size.height", crop_height)?;
        side("crop_size.width", crop_width)?;
        if !(rescale.is_finite() && mean.iter().chain(&std).all(|x| x.is_finite())) {
            return Err(err("rescale_factor, image_mean and image_std must be finite numbers".into()));
        }
        Ok(Self {
            resize: flag("do_resize").then_some(resize),
            resample,
            crop: flag("do_center_crop").then_some((crop_height, crop_width)),
            rescale_factor: flag("do_rescale").then_some(rescale),
            normalize: flag("do_normalize").then_some((mean, std)),
        })
    }
}
