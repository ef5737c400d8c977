//! The attention lab's model: a BERT-family encoder or a GPT-2 decoder, told apart by `config.json`'s `model_type`,
//! and the one request that the lab's worker, the CLI and the package make of it.

use candle_nn::VarBuilder;

use super::attention_model::{AttentionModel, CheckpointFiles, Prediction, Predictions};
use super::decoder_model::DecoderModel;
use crate::engine::attention::AttentionData;
use crate::engine::heads_off::HeadsOff;
use crate::engine::nn::weights_from_safetensors;
use crate::engine::{Error, Result};

pub enum LabModel {
    Encoder(AttentionModel),
    Decoder(DecoderModel),
}

/// One run of the attention lab.
pub struct LabRequest<'a> {
    pub text: &'a str,
    /// A sentence pair's second text (encoders only; empty counts as none).
    pub text_b: Option<&'a str>,
    pub queries_keys: bool,
    pub heads_off: &'a HeadsOff,
    /// An encoder's token to replace by its mask token, for the masked-word head's guesses.
    pub mask: Option<usize>,
    /// How many guesses to give: for the masked token, or a decoder's next token.
    pub predictions: usize,
}

/// What a run gives: the attention, and the model's guesses where it makes some.
pub struct LabRun {
    pub data: AttentionData,
    /// The masked token's guesses (an encoder with a masked-word head, when a token was masked).
    pub masked: Option<Predictions>,
    /// A decoder's most probable next tokens; empty for an encoder.
    pub next: Vec<Prediction>,
}

/// Whether `config.json` describes a decoder this app runs (GPT-2).
fn is_decoder(config_json: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(config_json).ok().is_some_and(|c| c["model_type"] == "gpt2")
}

impl LabModel {
    pub fn load(name: &str, files: &CheckpointFiles) -> Result<Self> {
        Self::from_parts(name, files.config_json, files.tokenizer_json, weights_from_safetensors(files.safetensors)?)
    }

    /// From the config and tokenizer files and weights already read (e.g. streamed from the weights store).
    pub fn from_parts(name: &str, config_json: &str, tokenizer_json: &[u8], weights: VarBuilder) -> Result<Self> {
        Ok(if is_decoder(config_json) {
            Self::Decoder(DecoderModel::from_parts(name, config_json, tokenizer_json, weights)?)
        } else {
            Self::Encoder(AttentionModel::from_parts(name, config_json, tokenizer_json, weights)?)
        })
    }

    /// Whether a token can be masked for the model's guesses (an encoder whose checkpoint ships the head).
    pub fn has_masked_lm(&self) -> bool {
        matches!(self, Self::Encoder(m) if m.model.masked_lm.is_some())
    }

    pub fn run(&self, request: &LabRequest) -> Result<LabRun> {
        let LabRequest { text, queries_keys, heads_off, mask, predictions: k, .. } = *request;
        let text_b = request.text_b.filter(|b| !b.trim().is_empty());
        match self {
            Self::Encoder(m) => match mask {
                Some(position) => {
                    let (data, p) = m.masked_predictions(text, text_b, position, k, queries_keys, heads_off)?;
                    Ok(LabRun { data, masked: Some(p), next: Vec::new() })
                }
                None => Ok(LabRun { data: m.attention_with_heads_off(text, text_b, queries_keys, heads_off)?, masked: None, next: Vec::new() }),
            },
            Self::Decoder(m) => {
                if text_b.is_some() {
                    return Err(Error::Invalid(format!("{} reads one text (a decoder takes no sentence pair): leave sentence B empty", m.name)));
                }
                if mask.is_some() {
                    return Err(Error::Invalid(format!("{} has no masked-word head: it guesses the next token instead", m.name)));
                }
                let (data, next) = m.attention_and_next(text, queries_keys, k, heads_off)?;
                Ok(LabRun { data, masked: None, next })
            }
        }
    }
}
