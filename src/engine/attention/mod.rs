//! The attention data every view and export shares, and the analyses on it.
//!
//! [`AttentionData`] holds one input's attention for all layers and heads (plus, optionally, the queries and keys
//! behind it). Views never read it raw: they ask for a [`matrix::Matrix`] — one layer/head (or an average), sub-word
//! pieces merged or not, special tokens hidden or not, one block of a sentence pair — and draw that. The analyses
//! live beside it: [`stats`] (means over layers and heads, what each head does), [`neuron`] (one query against
//! every key), and for CLIP's image tower [`vision`] with its [`rollout`].

mod example;
mod matrix;
mod neuron;
mod rollout;
mod stats;
mod tokens;
mod vision;

pub use example::{decode_example, encode_example, EXAMPLE_SCHEMA};
pub use matrix::{Label, Matrix, MatrixOptions, PairFilter};
pub use neuron::NeuronView;
pub use rollout::{attention_rollout, cls_to_patches};
pub use stats::{mean_attention, HeadStats, Statistic};
pub use tokens::{pretty_token, TokenStyle, CONTINUES};
pub use vision::VisionAttention;

use serde::{Deserialize, Serialize};

use super::heads_off::HeadsOff;
use super::tokenize::Encoded;
use super::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionData {
    pub model: String,
    pub text: String,
    pub text_b: Option<String>,
    pub tokens: Vec<String>,
    /// 0 = sentence A, 1 = sentence B (special tokens belong to the segment they close).
    pub segments: Vec<u8>,
    pub special: Vec<bool>,
    /// Character offsets of each token in its own text (A or B); `[0, 0]` for special tokens.
    pub offsets: Vec<[u32; 2]>,
    /// Word index of each token within its text; `None` for special tokens.
    pub words: Vec<Option<u32>>,
    pub num_layers: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    /// `[layers][heads][from][to]`, row-major; each row sums to 1.
    pub weights: Vec<f32>,
    /// `[layers][heads][token][head_dim]`, before the 1/√d scaling.
    pub queries: Option<Vec<f32>>,
    pub keys: Option<Vec<f32>>,
    /// Tokens removed because the input was longer than the model allows.
    pub dropped_tokens: usize,
    /// Heads switched off for this run (transformers' `head_mask`): their rows are zero.
    #[serde(default)]
    pub heads_off: HeadsOff,
    /// A decoder's (GPT-2's) causal attention: a token sees only itself and the tokens before it, so every weight
    /// above the diagonal is 0 and the neuron view leaves those keys out.
    #[serde(default)]
    pub causal: bool,
}

/// Layer or head: one of them, or the mean over all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pick {
    One(usize),
    Mean,
    /// As a layer: the attention rollout through every layer (Abnar & Zuidema 2020, [`attention_rollout`]), which
    /// averages the heads itself; as a head it means the mean.
    Rollout,
}

impl Pick {
    /// As an `<option>` value and in a permalink: `3`, `mean`, `rollout`.
    pub fn as_value(self) -> String {
        match self {
            Pick::One(i) => i.to_string(),
            Pick::Mean => "mean".into(),
            Pick::Rollout => "rollout".into(),
        }
    }

    /// What [`Self::as_value`] wrote; `None` for anything else.
    pub fn from_value(value: &str) -> Option<Self> {
        match value {
            "mean" => Some(Pick::Mean),
            "rollout" => Some(Pick::Rollout),
            v => v.parse().ok().map(Pick::One),
        }
    }
}

impl AttentionData {
    /// Assemble from a tokenized input and per-layer `[heads, n, n]` probabilities (and optional `[heads, n, d]`
    /// queries and keys), all flattened row-major.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &str,
        text: &str,
        text_b: Option<&str>,
        encoded: &Encoded,
        num_layers: usize,
        num_heads: usize,
        head_dim: usize,
        weights: Vec<f32>,
        queries_keys: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Self> {
        let n = encoded.len();
        if weights.len() != num_layers * num_heads * n * n {
            return Err(Error::Invalid("attention weights do not match the token count".into()));
        }
        let (queries, keys) = match queries_keys {
            Some((q, k)) => {
                let want = num_layers * num_heads * n * head_dim;
                if q.len() != want || k.len() != want {
                    return Err(Error::Invalid("queries/keys do not match the token count".into()));
                }
                (Some(q), Some(k))
            }
            None => (None, None),
        };
        Ok(Self {
            model: model.to_string(),
            text: text.to_string(),
            text_b: text_b.map(str::to_string),
            tokens: encoded.tokens.clone(),
            segments: encoded.segments(),
            special: encoded.special.clone(),
            offsets: encoded.offsets.clone(),
            words: encoded.word_ids.clone(),
            num_layers,
            num_heads,
            head_dim,
            weights,
            queries,
            keys,
            dropped_tokens: encoded.dropped,
            heads_off: HeadsOff::default(),
            causal: false,
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn is_pair(&self) -> bool {
        self.segments.contains(&1)
    }

    /// The `[n, n]` attention of one head.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.len();
        let start = (layer * self.num_heads + head) * n * n;
        &self.weights[start..start + n * n]
    }

    /// `[n, n]` for a layer/head pick, averaging where asked.
    pub fn pick(&self, layer: Pick, head: Pick) -> Vec<f32> {
        mean_attention(&self.weights, self.num_layers, self.num_heads, self.len(), layer, head)
    }

    /// The documented JSON export (`nlu-lab/attention@1`, see README): nested arrays, easy to read from JS or Python.
    /// Written as it goes — at 512 tokens bert-base's attention is 37.7 M floats, so no `serde_json::Value` per
    /// weight — with each f32 in its shortest round-trip form (`0.1`, not the f64 widening `0.10000000149011612`).
    /// `out` gets many small writes: give it a buffered writer (a `Vec`, a `BufWriter`).
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(out, &JsonExport::new(self, None)).map_err(std::io::Error::from)
    }

    /// [`Self::write_json`] with, when asked, `"rollout"`: the attention rollout through every layer, `[n][n]`
    /// (`nlu-lab attention --rollout`), and `"predictions"` (`--mask-token`, written as given).
    pub fn write_json_with(
        &self,
        out: &mut impl std::io::Write,
        rollout: bool,
        predictions: Option<&serde_json::Value>,
    ) -> std::io::Result<()> {
        let rollout = rollout.then(|| self.pick(Pick::Rollout, Pick::Mean));
        let export = JsonExport { predictions, ..JsonExport::new(self, rollout.as_deref()) };
        serde_json::to_writer(out, &export).map_err(std::io::Error::from)
    }

    /// [`Self::write_json`] into memory.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

/// What describes an input and its attention, borrowed from the data: the fields the JSON export and the
/// standalone page's header share, in the order serde writes them (flattened into both).
#[derive(Serialize)]
pub struct AttentionHeader<'a> {
    model: &'a str,
    text: &'a str,
    text_b: Option<&'a str>,
    tokens: &'a [String],
    segments: &'a [u8],
    special: &'a [bool],
    offsets: &'a [[u32; 2]],
    dropped_tokens: usize,
    layers: usize,
    heads: usize,
    head_dim: usize,
    /// `"0:3,2:11"`, only when some heads were off.
    #[serde(skip_serializing_if = "str::is_empty")]
    heads_off: String,
    /// Only for a decoder's causal attention.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    causal: bool,
}

impl<'a> AttentionHeader<'a> {
    pub fn new(d: &'a AttentionData) -> Self {
        Self {
            model: &d.model,
            text: &d.text,
            text_b: d.text_b.as_deref(),
            tokens: &d.tokens,
            segments: &d.segments,
            special: &d.special,
            offsets: &d.offsets,
            dropped_tokens: d.dropped_tokens,
            layers: d.num_layers,
            heads: d.num_heads,
            head_dim: d.head_dim,
            heads_off: d.heads_off.to_string(),
            causal: d.causal,
        }
    }
}

/// The JSON export: the header, then the numbers.
#[derive(Serialize)]
struct JsonExport<'a> {
    schema: &'static str,
    #[serde(flatten)]
    header: AttentionHeader<'a>,
    attention: Nested<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queries: Option<Nested<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<Nested<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout: Option<Nested<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predictions: Option<&'a serde_json::Value>,
}

impl<'a> JsonExport<'a> {
    fn new(d: &'a AttentionData, rollout: Option<&'a [f32]>) -> Self {
        let n = d.len();
        let (layers, heads) = (d.num_layers, d.num_heads);
        let qk = match (&d.queries, &d.keys) {
            (Some(q), Some(k)) => Some((q, k)),
            _ => None,
        };
        let nested = |data: &'a [f32], inner: usize| Nested { data, shape: vec![layers, heads, n, inner] };
        Self {
            schema: "nlu-lab/attention@1",
            header: AttentionHeader::new(d),
            attention: nested(&d.weights, n),
            queries: qk.map(|(q, _)| nested(q, d.head_dim)),
            keys: qk.map(|(_, k)| nested(k, d.head_dim)),
            rollout: rollout.map(|data| Nested { data, shape: vec![n, n] }),
            predictions: None,
        }
    }
}

/// A flat row-major `[a][b][c][d]` array serialised as nested arrays, without copying it.
struct Nested<'a> {
    data: &'a [f32],
    shape: Vec<usize>,
}

impl Serialize for Nested<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_nested(self.data, &self.shape, s)
    }
}

fn serialize_nested<S: serde::Serializer>(data: &[f32], shape: &[usize], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct Part<'a>(&'a [f32], &'a [usize]);
    impl Serialize for Part<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            serialize_nested(self.0, self.1, s)
        }
    }
    match shape {
        [] | [_] => data.serialize(s),
        [outer, inner @ ..] => {
            let stride: usize = inner.iter().product();
            let mut seq = s.serialize_seq(Some(*outer))?;
            for i in 0..*outer {
                seq.serialize_element(&Part(&data[i * stride..(i + 1) * stride], inner))?;
            }
            seq.end()
        }
    }
}
