//! What a view draws: one layer/head pick of an [`AttentionData`] as a [`Matrix`], with sub-word pieces merged
//! into words, special tokens hidden and one block of a sentence pair picked as [`MatrixOptions`] say.

use serde::{Deserialize, Serialize};

use super::{AttentionData, Pick};

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
    /// As a reader sees it ([`AttentionData::display_tokens`]), or the word's own text for a merged word.
    pub text: String,
    /// The tokenizer's token(s), space-separated for a merged word.
    #[serde(default)]
    pub raw: String,
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

impl AttentionData {
    /// Token labels, or word labels (consecutive pieces of one word in one text merged).
    pub fn labels(&self, words: bool) -> Vec<Label> {
        let mut labels: Vec<Label> = Vec::new();
        let shown = self.display_tokens();
        for i in 0..self.len() {
            if words && self.continues_word(i) {
                let last = labels.last_mut().expect("a previous label");
                last.tokens[1] = i + 1;
                last.text = self.span_text(last.tokens[0], i + 1);
                last.raw = self.tokens[last.tokens[0]..i + 1].join(" ");
            } else {
                labels.push(Label {
                    text: shown[i].clone(),
                    raw: self.tokens[i].clone(),
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
}
