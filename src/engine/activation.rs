//! The feed-forward activations the supported checkpoints name in `hidden_act` (transformers' `ACT2FN`,
//! https://github.com/huggingface/transformers/blob/main/src/transformers/activations.py).
//!
//! Its own module because both the layers ([`super::nn`]) and the fused kernels ([`super::kernels`]) use it.

use candle_core::{Module, Result, Tensor};
use serde::Deserialize;

/// A checkpoint's `hidden_act` (DistilBERT's `activation`), by transformers' names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// transformers' "gelu": the exact erf form.
    #[serde(rename = "gelu")]
    Gelu,
    /// "gelu_new", "gelu_pytorch_tanh", "gelu_fast": the tanh approximation.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
    /// CLIP's x·σ(1.702x).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gelu => xs.gelu_erf(),
            Self::GeluTanh => xs.gelu(),
            Self::Relu => xs.relu(),
            Self::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
        }
    }
}
