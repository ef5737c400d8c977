//! nlu-lab: look inside BERT's self-attention and CLIP's caption probabilities.
//!
//! `engine` is plain Rust (no browser crate): tokenization, the model forward passes with attention and
//! queries/keys captured, image preprocessing, and the attention data type with its analyses. It runs natively
//! (`cargo test`, the `nlu-lab` CLI) and in the browser's worker. `web` (browser glue) and `ui` (Leptos views)
//! exist only on wasm32.

pub mod engine;

#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
pub mod ui;
