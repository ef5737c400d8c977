//! Summaries of attention: the mean over layers and heads, and per-head statistics that tell what a head does.

use serde::{Deserialize, Serialize};

use super::{attention_rollout, AttentionData, Pick};

/// `[n, n]` of a layer/head pick from `[layers][heads][n][n]` weights, averaging where asked (shared by the text
/// attention data and CLIP's vision attention).
pub fn mean_attention(weights: &[f32], num_layers: usize, num_heads: usize, n: usize, layer: Pick, head: Pick) -> Vec<f32> {
    let layers: Vec<usize> = match layer {
        Pick::One(l) => vec![l],
        Pick::Mean => (0..num_layers).collect(),
        Pick::Rollout => return attention_rollout(weights, num_layers, num_heads, n),
    };
    let heads: Vec<usize> = match head {
        Pick::One(h) => vec![h],
        Pick::Mean | Pick::Rollout => (0..num_heads).collect(),
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

impl AttentionData {
    /// Per head `[layers][heads]`, the largest |Δ| of its attention against `baseline`, the same input with every
    /// head on: what switching heads off changed (a head that is off changes by its largest weight). `None` when
    /// the two are not the same tokens under the same shape.
    pub fn change_from(&self, baseline: &AttentionData) -> Option<Vec<Vec<f32>>> {
        let same = self.tokens == baseline.tokens
            && (self.num_layers, self.num_heads) == (baseline.num_layers, baseline.num_heads)
            && self.weights.len() == baseline.weights.len();
        if !same {
            return None;
        }
        let nn = self.len() * self.len();
        let per_head: Vec<f32> = self
            .weights
            .chunks_exact(nn)
            .zip(baseline.weights.chunks_exact(nn))
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max))
            .collect();
        Some(per_head.chunks(self.num_heads).map(<[f32]>::to_vec).collect())
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
}
