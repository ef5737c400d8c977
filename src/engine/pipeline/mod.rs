//! App-level wrappers around the models: a checkpoint's files in, what the views show out.
//! [`attention_model`] for the BERT family's attention, [`clip_classifier`] for CLIP's caption probabilities.

pub mod attention_model;
pub mod clip_classifier;
