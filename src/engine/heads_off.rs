//! Switching heads off, as transformers' `head_mask` does (`BertSelfAttention` in transformers 4.x,
//! https://github.com/huggingface/transformers/blob/v4.57.1/src/transformers/models/bert/modeling_bert.py: the
//! attention probabilities multiplied by the mask before the value product). A head that is off adds nothing to
//! its layer's output, and its attention, as returned, is zero.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use super::nn::AttentionCapture;

/// The heads switched off, as (layer, head), sorted and without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeadsOff(Vec<(usize, usize)>);

impl HeadsOff {
    pub fn new(mut heads: Vec<(usize, usize)>) -> Self {
        heads.sort_unstable();
        heads.dedup();
        Self(heads)
    }

    /// `"0:3,2:11"` (layer:head, as the CLI's `--heads-off` and the permalink write it); empty = none.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let one = |item: &str| -> Option<(usize, usize)> {
            let (l, h) = item.trim().split_once(':')?;
            Some((l.trim().parse().ok()?, h.trim().parse().ok()?))
        };
        let heads = text
            .split(',')
            .filter(|i| !i.trim().is_empty())
            .map(|i| one(i).ok_or_else(|| format!("\"{}\" is not layer:head (e.g. 0:3)", i.trim())))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self::new(heads))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn heads(&self) -> &[(usize, usize)] {
        &self.0
    }

    pub fn contains(&self, layer: usize, head: usize) -> bool {
        self.0.binary_search(&(layer, head)).is_ok()
    }

    /// Refuse a head the model does not have.
    pub fn check(&self, layers: usize, heads: usize) -> std::result::Result<(), String> {
        match self.0.iter().find(|&&(l, h)| l >= layers || h >= heads) {
            Some((l, h)) => Err(format!("head {l}:{h} does not exist: the model has {layers} layers of {heads} heads")),
            None => Ok(()),
        }
    }

    /// One layer's attention output and capture with this layer's heads off: the per-head context `[b, n, heads·d]`
    /// and the probabilities `[b, heads, n, n]` multiplied by 0 for those heads.
    pub(crate) fn apply(&self, layer: usize, context: Tensor, capture: AttentionCapture) -> Result<(Tensor, AttentionCapture)> {
        let (_, heads, _, _) = capture.probs.dims4()?;
        if !self.0.iter().any(|&(l, _)| l == layer) {
            return Ok((context, capture));
        }
        let d = context.dim(2)? / heads;
        let keep: Vec<f32> = (0..heads).map(|h| if self.contains(layer, h) { 0.0 } else { 1.0 }).collect();
        let per_column: Vec<f32> = keep.iter().flat_map(|&k| std::iter::repeat_n(k, d)).collect();
        let dev = context.device();
        let context = context.broadcast_mul(&Tensor::from_vec(per_column, (1, 1, heads * d), dev)?)?;
        let probs = capture.probs.broadcast_mul(&Tensor::from_vec(keep, (1, heads, 1, 1), dev)?)?;
        Ok((context, AttentionCapture { probs, ..capture }))
    }
}

impl std::fmt::Display for HeadsOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.0.iter().map(|(l, h)| format!("{l}:{h}")).collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_what_display_writes_and_says_what_is_wrong() {
        let off = HeadsOff::parse(" 2:11, 0:3,0:3 ").unwrap();
        assert_eq!(off.heads(), [(0, 3), (2, 11)]);
        assert_eq!(off.to_string(), "0:3,2:11");
        assert_eq!(HeadsOff::parse(&off.to_string()).unwrap(), off);
        assert!(HeadsOff::parse("").unwrap().is_empty());
        assert_eq!(HeadsOff::parse("0:3,x").unwrap_err(), "\"x\" is not layer:head (e.g. 0:3)");
        assert_eq!(off.check(6, 12), Ok(()));
        assert_eq!(off.check(2, 12).unwrap_err(), "head 2:11 does not exist: the model has 2 layers of 12 heads");
    }
}
