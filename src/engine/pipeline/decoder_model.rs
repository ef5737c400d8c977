//! A GPT-2 checkpoint ready to run text: tokenizer + decoder, as transformers' `AutoTokenizer` + `GPT2LMHeadModel
//! (..., output_attentions=True)` (the goldens in tests/fixtures/gpt2/).

use candle_nn::VarBuilder;

use super::attention_model::{attention_data, top_predictions, CheckpointFiles, Prediction};
use crate::engine::attention::AttentionData;
use crate::engine::gpt2::{Config, Gpt2Model};
use crate::engine::heads_off::HeadsOff;
use crate::engine::nn::{softmax, weights_from_safetensors};
use crate::engine::tokenize::TextTokenizer;
use crate::engine::Result;

pub struct DecoderModel {
    pub name: String,
    pub tokenizer: TextTokenizer,
    pub model: Gpt2Model,
}

impl DecoderModel {
    pub fn load(name: &str, files: &CheckpointFiles) -> Result<Self> {
        Self::from_parts(name, files.config_json, files.tokenizer_json, weights_from_safetensors(files.safetensors)?)
    }

    /// From the config and tokenizer files and weights already read (e.g. streamed from the weights store).
    pub fn from_parts(name: &str, config_json: &str, tokenizer_json: &[u8], weights: VarBuilder) -> Result<Self> {
        let config = Config::from_json(config_json)?;
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let model = Gpt2Model::load(weights, config)?;
        Ok(Self { name: name.to_string(), tokenizer, model })
    }

    /// Tokenize and run `text` (a decoder reads one text; GPT-2 adds no special tokens): its causal attention (with
    /// queries and keys if asked, `heads_off` switched off) and the `k` most probable next tokens.
    pub fn attention_and_next(
        &self,
        text: &str,
        with_queries_keys: bool,
        k: usize,
        heads_off: &HeadsOff,
    ) -> Result<(AttentionData, Vec<Prediction>)> {
        let encoded = self.tokenizer.encode(text, None, self.model.config.n_positions)?;
        let output = self.model.forward(&encoded.ids, heads_off)?;
        let logits = self.model.next_token_logits(&output.hidden.get(encoded.len() - 1)?)?;
        let next = top_predictions(&softmax(&logits), k, |id| self.tokenizer.id_to_token(id).unwrap_or_default());
        let cfg = &self.model.config;
        let shape = (cfg.n_layer, cfg.n_head, cfg.head_dim());
        let mut data = attention_data(&self.name, text, None, &encoded, &output, shape, with_queries_keys, heads_off)?;
        data.causal = true;
        Ok((data, next))
    }
}
