//! App-level wrappers around the models: a checkpoint's files in, what the views show out.
//! [`attention_model`] for the BERT family's attention, [`clip_classifier`] for CLIP's caption probabilities.

mod attention_model;
mod clip_classifier;

pub use attention_model::{attention_data, collect_captures, top_predictions, AttentionModel, CheckpointFiles, Prediction, Predictions};
pub use clip_classifier::{Caption, ClipClassifier, ClipFiles, ClipResult, MAX_CAPTIONS};
