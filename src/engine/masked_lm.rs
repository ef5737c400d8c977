//! The masked-word head of BERT-family checkpoints that ship one: transformers' `BertOnlyMLMHead`
//! (https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py),
//! DistilBERT's `vocab_transform` → `vocab_layer_norm` → `vocab_projector` (modeling_distilbert.py) and
//! `RobertaLMHead` (modeling_roberta.py): dense, activation, layer norm, then the word embeddings (tied) as the
//! decoder, plus a bias. all-MiniLM-L6-v2 has none: a sentence-embedding model was trained without it.

use candle_core::{Module, Tensor};
use candle_nn::{layer_norm, LayerNorm, VarBuilder};

use super::activation::Activation;
use super::bert::{Config, ModelType};
use super::compact;
use super::kernels::PackedLinear;

/// Where each family keeps its head, from the checkpoint's root (not under `bert.` / `roberta.` / `distilbert.`).
struct HeadNames {
    dense: &'static str,
    norm: &'static str,
    bias: &'static str,
}

fn names(model_type: ModelType) -> HeadNames {
    match model_type {
        ModelType::Bert => HeadNames {
            dense: "cls.predictions.transform.dense",
            norm: "cls.predictions.transform.LayerNorm",
            bias: "cls.predictions.bias",
        },
        ModelType::DistilBert => HeadNames { dense: "vocab_transform", norm: "vocab_layer_norm", bias: "vocab_projector.bias" },
        ModelType::Roberta => HeadNames { dense: "lm_head.dense", norm: "lm_head.layer_norm", bias: "lm_head.bias" },
    }
}

pub struct MaskedLmHead {
    dense: PackedLinear,
    activation: Activation,
    norm: LayerNorm,
    /// The word embeddings `[vocab, hidden]`, shared with the encoder's (tied, as in the checkpoints).
    decoder: Tensor,
    bias: Tensor,
}

impl MaskedLmHead {
    /// The head from the checkpoint's root, if it has one (`Ok(None)` when it has not). `word_embeddings` is the
    /// encoder's full-precision table.
    pub fn load(root: &VarBuilder, cfg: &Config, word_embeddings: Tensor) -> candle_core::Result<Option<Self>> {
        let n = names(cfg.model_type);
        if !root.contains_tensor(&format!("{}.weight", n.dense)) || !root.contains_tensor(n.bias) {
            return Ok(None);
        }
        let h = cfg.hidden_size;
        // RobertaLMHead applies the exact gelu whatever the config says; DistilBERT's norm has a fixed eps.
        let (activation, eps) = match cfg.model_type {
            ModelType::Bert => (cfg.hidden_act, cfg.layer_norm_eps),
            ModelType::DistilBert => (cfg.hidden_act, 1e-12),
            ModelType::Roberta => (Activation::Gelu, cfg.layer_norm_eps),
        };
        Ok(Some(Self {
            dense: compact::linear(root.pp(n.dense), h, h)?,
            activation,
            norm: layer_norm(h, eps, root.pp(n.norm))?,
            decoder: word_embeddings,
            bias: root.get(cfg.vocab_size, n.bias)?,
        }))
    }

    /// `hidden`: one token's last hidden state `[hidden]` → logits over the vocabulary `[vocab]`.
    pub fn logits(&self, hidden: &Tensor) -> candle_core::Result<Vec<f32>> {
        let x = self.dense.forward_act(&hidden.unsqueeze(0)?, Some(self.activation))?;
        let x = self.norm.forward(&x)?;
        let logits = self.decoder.matmul(&x.t()?)?.squeeze(1)?;
        (logits + &self.bias)?.to_vec1()
    }
}
