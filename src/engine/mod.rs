//! The browser-free core.

pub mod activation;
pub mod attention;
#[cfg(feature = "bench")]
pub mod bench;
pub mod bert;
pub mod catalogue;
pub mod clip;
pub mod error;
#[cfg(feature = "bench")]
pub mod flops;
pub mod image_prep;
pub mod kernels;
pub mod nn;
pub mod pipeline;
pub mod safetensors_stream;
pub mod standalone;
#[cfg(feature = "bench")]
pub mod synth;
pub mod tokenize;

pub use error::{Error, Result};
