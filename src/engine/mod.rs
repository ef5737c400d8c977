//! The browser-free core.

pub mod attention;
pub mod bench;
pub mod bert;
pub mod caption_pairs;
pub mod catalogue;
pub mod clip;
pub mod error;
pub mod image_prep;
pub mod kernels;
pub mod nn;
pub mod pipeline;
pub mod safetensors_stream;
pub mod standalone;
pub mod synth;
pub mod tokenize;

pub use error::{Error, Result};
