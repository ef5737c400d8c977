//! "Which caption fits this image?": a CLIP checkpoint with its tokenizer and image preprocessing, answering
//! with a [`ClipResult`] for the views (in the spirit of transformers' zero-shot image classification pipeline).

use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::engine::attention::VisionAttention;
use crate::engine::attention::AttentionData;
use crate::engine::clip::Config;
use crate::engine::clip::ClipModel;
use crate::engine::image_prep::{PreprocessConfig, ResizeTo};
use crate::engine::image_prep::{self, ImageInfo, PreparedImage};
use crate::engine::tokenize::{Encoded, TextTokenizer};
use crate::engine::{Error, Result};

/// The most captions one classification takes (each is a row of the text batch).
pub const MAX_CAPTIONS: usize = 100;

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
        let weights = crate::engine::nn::weights_from_safetensors(files.safetensors)?;
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
            return Err(Error::Preprocessor(format!(
                "it does not make the {side}×{side} images the model takes (crop {:?})",
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
        let image = image_prep::prepare(image_bytes, &self.preprocess)?;
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
                // CLIP's text encoder is causal, as GPT-2 is.
                .map(|d| AttentionData { causal: true, ..d })
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
