//! One error type for the engine: every message is meant to be shown to a student as it is.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("Please enter some text: the input is empty.")]
    EmptyInput,
    #[error("The text has no tokens the model can read (only control or unknown characters?).")]
    NoTokens,
    #[error("config.json: {0}")]
    Config(String),
    #[error("preprocessor_config.json: {0}")]
    Preprocessor(String),
    #[error("unknown model_type \"{0}\": supported are bert, roberta, distilbert")]
    UnknownModelType(String),
    #[error("tokenizer.json: {0}")]
    Tokenizer(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error("{0}")]
    Model(#[from] candle_core::Error),
    #[error("{0}")]
    Invalid(String),
    /// An image file that cannot be used (empty, damaged, too large, not a supported format).
    #[error("{0}")]
    Image(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
