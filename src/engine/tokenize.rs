//! Text → tokens with the checkpoint's own `tokenizer.json` (the `tokenizers` crate, as transformers' fast
//! tokenizers use it), for one sentence or a pair.

use serde::{Deserialize, Serialize};
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::{Error, Result};

/// A tokenized input, with everything the views need to label and group tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub tokens: Vec<String>,
    /// Character offsets `[start, end)` of each token in the text it came from (`[0, 0]` for special tokens).
    pub offsets: Vec<[u32; 2]>,
    /// Which input each token came from: `Some(0)` text A, `Some(1)` text B, `None` a special token.
    pub sequence_ids: Vec<Option<u8>>,
    pub special: Vec<bool>,
    /// Word index of each token within its sequence (`None` for special tokens).
    pub word_ids: Vec<Option<u32>>,
    /// Tokens removed by truncation to the model's maximum length.
    pub dropped: usize,
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Segment of each token for the pair filters: 0 = sentence A, 1 = sentence B. Special tokens belong to the
    /// segment they close (`[CLS] A [SEP]` → A, `B [SEP]` → B), which is where bertviz splits a pair.
    pub fn segments(&self) -> Vec<u8> {
        let mut current = 0u8;
        self.sequence_ids
            .iter()
            .map(|s| {
                if let Some(s) = s {
                    current = *s;
                }
                current
            })
            .collect()
    }
}

pub struct TextTokenizer {
    inner: Tokenizer,
}

impl TextTokenizer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        super::limits::check_json_size(bytes.len(), super::limits::MAX_TOKENIZER_JSON_BYTES).map_err(Error::Tokenizer)?;
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| Error::Tokenizer(e.to_string()))?;
        // Checkpoints ship padding/truncation settings for batched training; we decide both ourselves.
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(Self { inner })
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The mask token and its id: BERT's `[MASK]`, RoBERTa's `<mask>`.
    pub fn mask_token(&self) -> Option<(String, u32)> {
        ["[MASK]", "<mask>"].into_iter().find_map(|t| Some((t.to_string(), self.inner.token_to_id(t)?)))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encode one text or a pair with special tokens, truncating (longest first, as transformers'
    /// `truncation=True`) to `max_tokens`.
    pub fn encode(&self, text: &str, text_b: Option<&str>, max_tokens: usize) -> Result<Encoded> {
        if text.trim().is_empty() {
            return Err(Error::EmptyInput);
        }
        let text_b = text_b.filter(|b| !b.trim().is_empty());
        let full = self.encode_raw(&self.inner, text, text_b)?;
        if full.get_ids().len() <= max_tokens {
            return Ok(to_encoded(&full, 0));
        }
        let mut truncating = self.inner.clone();
        truncating
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let cut = self.encode_raw(&truncating, text, text_b)?;
        Ok(to_encoded(&cut, full.get_ids().len() - cut.get_ids().len()))
    }

    fn encode_raw(&self, tok: &Tokenizer, text: &str, text_b: Option<&str>) -> Result<Encoding> {
        let enc = match text_b {
            Some(b) => tok.encode_char_offsets((text, b), true),
            None => tok.encode_char_offsets(text, true),
        }
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
        if enc.get_special_tokens_mask().iter().all(|&s| s == 1) {
            return Err(Error::NoTokens);
        }
        Ok(enc)
    }
}

fn to_encoded(enc: &Encoding, dropped: usize) -> Encoded {
    Encoded {
        ids: enc.get_ids().to_vec(),
        type_ids: enc.get_type_ids().to_vec(),
        tokens: enc.get_tokens().to_vec(),
        offsets: enc.get_offsets().iter().map(|&(s, e)| [s as u32, e as u32]).collect(),
        sequence_ids: enc.get_sequence_ids().iter().map(|s| s.map(|s| s as u8)).collect(),
        special: enc.get_special_tokens_mask().iter().map(|&m| m == 1).collect(),
        word_ids: enc.get_word_ids().to_vec(),
        dropped,
    }
}
