//! The browser-free core. Only what the command line, the browser entry points and the tests use is public;
//! the rest is `pub(crate)`, so that unused code gets a warning.

pub(crate) mod activation;
pub mod attention;
#[cfg(feature = "bench")]
pub mod bench;
pub mod bert;
#[cfg(not(target_arch = "wasm32"))]
pub mod calibration;
pub mod caption_pairs;
pub mod catalogue;
pub mod clip;
pub mod clip_example;
pub mod compact;
pub mod error;
#[cfg(feature = "bench")]
pub mod flops;
#[cfg(not(target_arch = "wasm32"))]
pub mod gptq;
pub mod gpt2;
pub mod handin;
pub mod heads_off;
pub mod image_prep;
pub mod kernels;
pub mod masked_lm;
pub(crate) mod limits;
pub(crate) mod nn;
pub mod pack;
pub mod pipeline;
pub(crate) mod safetensors_stream;
pub mod standalone;
#[cfg(feature = "bench")]
pub mod synth;
pub(crate) mod tokenize;

pub use error::{Error, Result};
