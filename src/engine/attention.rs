//! The attention data every view and export shares, and the analyses on it.
//!
//! [`AttentionData`] holds one input's attention for all layers and heads (plus, optionally, the queries and keys
//! behind it). Views never read it raw: they ask for a [`Matrix`] — one layer/head (or an average), sub-word pieces
//! merged or not, special tokens hidden or not, one block of a sentence pair — and draw that.

use serde::{Deserialize, Serialize};
use serde_json::json;

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
}

/// Layer or head: one of them, or the mean over all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pick {
    One(usize),
    Mean,
}

/// Which block of a sentence pair to show (from → to).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairFilter {
    #[default]
    All,
    AToA,
    AToB,
    BToA,
    BToB,
}

impl PairFilter {
    pub const ALL: [PairFilter; 5] = [Self::All, Self::AToA, Self::AToB, Self::BToA, Self::BToB];

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::AToA => "A→A",
            Self::AToB => "A→B",
            Self::BToA => "B→A",
            Self::BToB => "B→B",
        }
    }

    fn segments(self) -> (Option<u8>, Option<u8>) {
        match self {
            Self::All => (None, None),
            Self::AToA => (Some(0), Some(0)),
            Self::AToB => (Some(0), Some(1)),
            Self::BToA => (Some(1), Some(0)),
            Self::BToB => (Some(1), Some(1)),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixOptions {
    pub filter: PairFilter,
    pub hide_special: bool,
    /// With `hide_special`: rescale each row so what is left sums to 1 again.
    pub renormalize: bool,
    /// Merge sub-word pieces into words: attention *to* a word is the sum over its pieces, attention *from* a word
    /// the mean over its pieces — so every row still sums to 1.
    pub words: bool,
}

/// A row or column of a [`Matrix`]: one token, or one word made of consecutive tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub text: String,
    /// Token indices `[first, last + 1)` this label covers.
    pub tokens: [usize; 2],
    pub segment: u8,
    pub special: bool,
}

/// What a view draws: `values[r * cols.len() + c]` is the attention from `rows[r]` to `cols[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub rows: Vec<Label>,
    pub cols: Vec<Label>,
    pub values: Vec<f32>,
}

impl Matrix {
    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.values[r * self.cols.len() + c]
    }

    pub fn row(&self, r: usize) -> &[f32] {
        let w = self.cols.len();
        &self.values[r * w..(r + 1) * w]
    }

    /// Keep, in each row, the largest weights that together make up `fraction` of the row's attention; zero the
    /// rest (a "top p" threshold that thins a busy diagram without hiding where attention goes).
    pub fn keep_top_mass(&self, fraction: f32) -> Matrix {
        let w = self.cols.len();
        let mut out = self.clone();
        for r in 0..self.rows.len() {
            let row = &self.values[r * w..(r + 1) * w];
            let total: f32 = row.iter().sum();
            let mut order: Vec<usize> = (0..w).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let mut acc = 0.0;
            for &c in &order {
                if acc >= fraction * total {
                    out.values[r * w + c] = 0.0;
                }
                acc += row[c];
            }
        }
        out
    }
}

/// Per-head statistics that tell what a head does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadStats {
    /// Mean row entropy in nats.
    pub entropy: f32,
    /// Entropy divided by ln(n): 1 = spread evenly over all tokens.
    pub entropy_norm: f32,
    /// Mean share of attention to the first token when it is special ([CLS], <s>).
    pub to_cls: f32,
    /// Mean share of attention to the other special tokens ([SEP], </s>).
    pub to_sep: f32,
    pub to_self: f32,
    pub to_prev: f32,
    pub to_next: f32,
    /// Mean of each row's largest weight.
    pub max: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statistic {
    Entropy,
    ToCls,
    ToSep,
    ToSelf,
    ToPrev,
    ToNext,
    Max,
}

impl Statistic {
    pub const ALL: [Statistic; 7] =
        [Self::Entropy, Self::ToCls, Self::ToSep, Self::ToSelf, Self::ToPrev, Self::ToNext, Self::Max];

    pub fn label(self) -> &'static str {
        match self {
            Self::Entropy => "entropy (normalised)",
            Self::ToCls => "attention to [CLS]",
            Self::ToSep => "attention to [SEP]",
            Self::ToSelf => "attention to self",
            Self::ToPrev => "attention to previous token",
            Self::ToNext => "attention to next token",
            Self::Max => "largest weight per row",
        }
    }
}

impl HeadStats {
    pub fn get(&self, stat: Statistic) -> f32 {
        match stat {
            Statistic::Entropy => self.entropy_norm,
            Statistic::ToCls => self.to_cls,
            Statistic::ToSep => self.to_sep,
            Statistic::ToSelf => self.to_self,
            Statistic::ToPrev => self.to_prev,
            Statistic::ToNext => self.to_next,
            Statistic::Max => self.max,
        }
    }

    /// A short name for heads whose behaviour is clear-cut; `None` for the rest.
    pub fn role(&self) -> Option<&'static str> {
        const CLEAR: f32 = 0.5;
        let candidates = [
            (self.to_prev, "previous token"),
            (self.to_next, "next token"),
            (self.to_self, "self"),
            (self.to_sep, "[SEP]"),
            (self.to_cls, "[CLS]"),
        ];
        let (best, name) = candidates.into_iter().fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a });
        if best >= CLEAR {
            Some(name)
        } else if self.entropy_norm >= 0.85 {
            Some("broad")
        } else {
            None
        }
    }
}

/// What the neuron view shows for one token in one head: how its query meets every key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronView {
    pub query: Vec<f32>,
    /// One key vector per token.
    pub keys: Vec<Vec<f32>>,
    /// Elementwise q×k per token.
    pub products: Vec<Vec<f32>>,
    /// q·k / √d per token.
    pub scores: Vec<f32>,
    /// softmax of the scores: the attention row.
    pub softmax: Vec<f32>,
}

/// `[n, n]` of a layer/head pick from `[layers][heads][n][n]` weights, averaging where asked (shared by the text
/// attention data and CLIP's vision attention).
pub fn mean_attention(weights: &[f32], num_layers: usize, num_heads: usize, n: usize, layer: Pick, head: Pick) -> Vec<f32> {
    let layers: Vec<usize> = match layer {
        Pick::One(l) => vec![l],
        Pick::Mean => (0..num_layers).collect(),
    };
    let heads: Vec<usize> = match head {
        Pick::One(h) => vec![h],
        Pick::Mean => (0..num_heads).collect(),
    };
    let mut out = vec![0.0f32; n * n];
    for &l in &layers {
        for &h in &heads {
            let start = (l * num_heads + h) * n * n;
            out.iter_mut().zip(&weights[start..start + n * n]).for_each(|(o, w)| *o += w);
        }
    }
    let count = (layers.len() * heads.len()) as f32;
    out.iter_mut().for_each(|o| *o /= count);
    out
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

    /// Token labels, or word labels (consecutive pieces of one word in one text merged).
    pub fn labels(&self, words: bool) -> Vec<Label> {
        let mut labels: Vec<Label> = Vec::new();
        for i in 0..self.len() {
            let same_word = words
                && i > 0
                && !self.special[i]
                && self.words[i].is_some()
                && self.words[i] == self.words[i - 1]
                && self.segments[i] == self.segments[i - 1]
                && !self.special[i - 1];
            if same_word {
                let last = labels.last_mut().expect("a previous label");
                last.tokens[1] = i + 1;
                last.text = self.span_text(last.tokens[0], i + 1);
            } else {
                labels.push(Label {
                    text: self.tokens[i].clone(),
                    tokens: [i, i + 1],
                    segment: self.segments[i],
                    special: self.special[i],
                });
            }
        }
        labels
    }

    /// The original text a run of tokens came from (falls back to joined tokens when offsets are missing).
    fn span_text(&self, first: usize, end: usize) -> String {
        let source = if self.segments[first] == 1 { self.text_b.as_deref().unwrap_or("") } else { &self.text };
        let (start, stop) = (self.offsets[first][0] as usize, self.offsets[end - 1][1] as usize);
        let chars: String = source.chars().skip(start).take(stop.saturating_sub(start)).collect();
        if chars.is_empty() {
            self.tokens[first..end].concat()
        } else {
            chars
        }
    }

    /// The matrix a view draws for a layer/head pick and options.
    pub fn matrix(&self, layer: Pick, head: Pick, options: &MatrixOptions) -> Matrix {
        let n = self.len();
        let full = self.pick(layer, head);
        let labels = self.labels(options.words);
        let m = labels.len();
        // Merge pieces: columns sum (attention *to* a word), rows average (attention *from* a word).
        let mut merged = vec![0.0f32; m * m];
        for (r, rl) in labels.iter().enumerate() {
            let pieces = (rl.tokens[1] - rl.tokens[0]) as f32;
            for i in rl.tokens[0]..rl.tokens[1] {
                for (c, cl) in labels.iter().enumerate() {
                    let to: f32 = full[i * n + cl.tokens[0]..i * n + cl.tokens[1]].iter().sum();
                    merged[r * m + c] += to / pieces;
                }
            }
        }
        let (from_seg, to_seg) = options.filter.segments();
        let visible = |l: &Label| !(options.hide_special && l.special);
        let rows: Vec<usize> =
            (0..m).filter(|&r| visible(&labels[r]) && from_seg.is_none_or(|s| labels[r].segment == s)).collect();
        let cols: Vec<usize> =
            (0..m).filter(|&c| visible(&labels[c]) && to_seg.is_none_or(|s| labels[c].segment == s)).collect();
        let mut values = Vec::with_capacity(rows.len() * cols.len());
        for &r in &rows {
            let row: Vec<f32> = cols.iter().map(|&c| merged[r * m + c]).collect();
            // Renormalise over what is left after hiding special tokens (not over a pair block: A→B shows the
            // share of attention that crosses, as bertviz does).
            let kept: f32 = if options.hide_special && options.renormalize {
                (0..m).filter(|&c| visible(&labels[c])).map(|c| merged[r * m + c]).sum()
            } else {
                1.0
            };
            values.extend(row.iter().map(|v| if kept > 0.0 { v / kept } else { 0.0 }));
        }
        Matrix {
            rows: rows.iter().map(|&r| labels[r].clone()).collect(),
            cols: cols.iter().map(|&c| labels[c].clone()).collect(),
            values,
        }
    }

    pub fn head_stats(&self, layer: usize, head: usize) -> HeadStats {
        let n = self.len();
        let a = self.head(layer, head);
        let first_special = self.special.first().copied().unwrap_or(false);
        let mut s = HeadStats {
            entropy: 0.0,
            entropy_norm: 0.0,
            to_cls: 0.0,
            to_sep: 0.0,
            to_self: 0.0,
            to_prev: 0.0,
            to_next: 0.0,
            max: 0.0,
        };
        for i in 0..n {
            let row = &a[i * n..(i + 1) * n];
            s.entropy -= row.iter().filter(|&&p| p > 0.0).map(|&p| p * p.ln()).sum::<f32>();
            if first_special {
                s.to_cls += row[0];
            }
            s.to_sep += (1..n).filter(|&j| self.special[j]).map(|j| row[j]).sum::<f32>();
            s.to_self += row[i];
            if i > 0 {
                s.to_prev += row[i - 1];
            }
            if i + 1 < n {
                s.to_next += row[i + 1];
            }
            s.max += row.iter().copied().fold(0.0, f32::max);
        }
        let nf = n as f32;
        s.entropy /= nf;
        s.entropy_norm = if n > 1 { s.entropy / nf.ln() } else { 0.0 };
        s.to_cls /= nf;
        s.to_sep /= nf;
        s.to_self /= nf;
        s.to_prev /= (n.saturating_sub(1)).max(1) as f32;
        s.to_next /= (n.saturating_sub(1)).max(1) as f32;
        s.max /= nf;
        s
    }

    /// Statistics of every head, `[layer][head]`.
    pub fn all_head_stats(&self) -> Vec<Vec<HeadStats>> {
        (0..self.num_layers).map(|l| (0..self.num_heads).map(|h| self.head_stats(l, h)).collect()).collect()
    }

    fn vector<'a>(&self, data: &'a Option<Vec<f32>>, layer: usize, head: usize, token: usize) -> Option<&'a [f32]> {
        let d = self.head_dim;
        let start = ((layer * self.num_heads + head) * self.len() + token) * d;
        data.as_ref().map(|v| &v[start..start + d])
    }

    pub fn query(&self, layer: usize, head: usize, token: usize) -> Option<&[f32]> {
        self.vector(&self.queries, layer, head, token)
    }

    pub fn key(&self, layer: usize, head: usize, token: usize) -> Option<&[f32]> {
        self.vector(&self.keys, layer, head, token)
    }

    /// The neuron view for one token in one head, recomputed from the captured queries and keys. Its softmax
    /// equals the model's attention row (a check that the view shows the model, not an approximation).
    pub fn neuron(&self, layer: usize, head: usize, token: usize) -> Option<NeuronView> {
        let query = self.query(layer, head, token)?.to_vec();
        let keys: Vec<Vec<f32>> = (0..self.len()).map(|j| self.key(layer, head, j).map(<[f32]>::to_vec)).collect::<Option<_>>()?;
        let scale = 1.0 / (self.head_dim as f32).sqrt();
        let products: Vec<Vec<f32>> = keys.iter().map(|k| k.iter().zip(&query).map(|(k, q)| k * q).collect()).collect();
        let scores: Vec<f32> = products.iter().map(|p| p.iter().sum::<f32>() * scale).collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f32 = exps.iter().sum();
        let softmax = exps.iter().map(|e| e / total).collect();
        Some(NeuronView { query, keys, products, scores, softmax })
    }

    /// The documented JSON export (`nlu-lab/attention@1`, see README): nested arrays, easy to read from JS or Python.
    pub fn to_json(&self) -> serde_json::Value {
        let n = self.len();
        let nest = |data: &[f32], inner: usize| -> Vec<Vec<Vec<Vec<f32>>>> {
            data.chunks(self.num_heads * n * inner)
                .map(|layer| layer.chunks(n * inner).map(|head| head.chunks(inner).map(<[f32]>::to_vec).collect()).collect())
                .collect()
        };
        let mut out = json!({
            "schema": "nlu-lab/attention@1",
            "model": self.model,
            "text": self.text,
            "text_b": self.text_b,
            "tokens": self.tokens,
            "segments": self.segments,
            "special": self.special,
            "offsets": self.offsets,
            "dropped_tokens": self.dropped_tokens,
            "layers": self.num_layers,
            "heads": self.num_heads,
            "head_dim": self.head_dim,
            "attention": nest(&self.weights, n),
        });
        if let (Some(q), Some(k)) = (&self.queries, &self.keys) {
            out["queries"] = json!(nest(q, self.head_dim));
            out["keys"] = json!(nest(k, self.head_dim));
        }
        out
    }
}
