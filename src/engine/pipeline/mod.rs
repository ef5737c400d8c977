//! App-level wrappers around the models: a checkpoint's files in, what the views show out.
//! [`lab_model`] for the attention lab (an encoder, [`attention_model`], or a decoder, [`decoder_model`]),
//! [`clip_classifier`] for CLIP's caption probabilities.

mod attention_model;
mod clip_classifier;
mod decoder_model;
mod lab_model;

pub use attention_model::{attention_data, collect_captures, top_predictions, AttentionModel, CheckpointFiles, Prediction, Predictions};
pub use clip_classifier::{Caption, ClipClassifier, ClipFiles, ClipResult, MAX_CAPTIONS};
pub use decoder_model::DecoderModel;
pub use lab_model::{LabModel, LabRequest, LabRun};
