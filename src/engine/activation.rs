//! The feed-forward activations the supported checkpoints name in `hidden_act` (transformers' `ACT2FN`,
//! https://github.com/huggingface/transformers/blob/main/src/transformers/activations.py).
//!
//! Its own module because both the layers ([`super::nn`]) and the fused kernels ([`super::kernels`]) use it.

use candle_core::{Module, Result, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// transformers' "gelu": the exact erf form.
    Gelu,
    /// "gelu_new", "gelu_pytorch_tanh", "gelu_fast": the tanh approximation.
    GeluTanh,
    Relu,
    /// CLIP's x·σ(1.702x).
    QuickGelu,
}

impl Activation {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            "quick_gelu" => Self::QuickGelu,
            _ => return None,
        })
    }
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
