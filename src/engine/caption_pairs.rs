//! The CLIP assignment's rule on caption probabilities and the caption search's ranking of pairs: plain functions
//! of the model's outputs, shared by the CLIP lab, the guide and the submission export.

/// The assignment's rule: a pair confuses CLIP when its top probability is below this.
pub const CONFUSING_BELOW: f32 = 0.6;

/// The highest of the captions' probabilities (0 when there are none).
pub fn top_probability(probs: &[f32]) -> f32 {
    probs.iter().copied().fold(0.0, f32::max)
}

/// The assignment's rule on a top probability.
pub fn is_confusing(top: f32) -> bool {
    top < CONFUSING_BELOW
}

/// How close to the rule a compact model's top probability must be for the lab to suggest the full-precision check:
/// int8 moves CLIP's probabilities by up to ~1e-2, so a margin of 0.05 leaves room and rarely bothers a clear result.
pub const NEAR_THRESHOLD: f32 = 0.05;

/// Whether `top` is close enough to the rule that a compact model's rounding could put it on the other side.
pub fn is_near_threshold(top: f32) -> bool {
    (top - CONFUSING_BELOW).abs() <= NEAR_THRESHOLD
}

/// What the lab says about one classification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Fewer than two captions: there is no pair to judge.
    NeedsTwoCaptions,
    /// The top probability is below [`CONFUSING_BELOW`]: the pair meets the assignment's rule.
    Confusing { top: f32 },
    NotConfusing { top: f32 },
}

impl Verdict {
    /// The verdict on the probabilities CLIP gave the captions of one image.
    pub fn of(probs: &[f32]) -> Self {
        let top = top_probability(probs);
        if probs.len() < 2 {
            Verdict::NeedsTwoCaptions
        } else if is_confusing(top) {
            Verdict::Confusing { top }
        } else {
            Verdict::NotConfusing { top }
        }
    }

    pub fn is_confusing(self) -> bool {
        matches!(self, Verdict::Confusing { .. })
    }

    /// The sentence the lab shows.
    pub fn message(self) -> String {
        match self {
            Verdict::NeedsTwoCaptions => "Add a second caption: the assignment compares two.".to_string(),
            Verdict::Confusing { top } => {
                format!("Confusing: the top probability is {top:.3}, below {CONFUSING_BELOW} — this pair meets the assignment's rule.")
            }
            Verdict::NotConfusing { top } => {
                format!("Not confusing yet: the top probability is {top:.3} (needs < {CONFUSING_BELOW}). Try more specific captions.")
            }
        }
    }
}

/// Two captions (indices into the scored list) and the top probability CLIP would give them on their own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankedPair {
    pub a: usize,
    pub b: usize,
    pub top: f32,
}

/// Every pair of captions ranked by how confusing it is: the pair's own two-way softmax, top closest to 0.5 first
/// (ties keep the order of the captions).
pub fn rank_pairs(logits: &[f32]) -> Vec<RankedPair> {
    let mut pairs = Vec::new();
    for a in 0..logits.len() {
        for b in a + 1..logits.len() {
            let top = 1.0 / (1.0 + (-(logits[a] - logits[b]).abs()).exp());
            pairs.push(RankedPair { a, b, top });
        }
    }
    pairs.sort_by(|x, y| x.top.total_cmp(&y.top));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn top_probability_is_the_largest() {
        assert_eq!(top_probability(&[0.2, 0.7, 0.1]), 0.7);
        assert_eq!(top_probability(&[1.0]), 1.0);
        assert_eq!(top_probability(&[]), 0.0);
    }

    #[test]
    fn the_rule_is_strictly_below_0_6() {
        assert!(is_confusing(0.599));
        assert!(!is_confusing(0.6));
        assert!(!is_confusing(0.9));
    }

    #[test]
    fn near_the_rule_is_within_0_05_of_0_6() {
        assert!(is_near_threshold(0.6) && is_near_threshold(0.56) && is_near_threshold(0.64));
        assert!(!is_near_threshold(0.54) && !is_near_threshold(0.66) && !is_near_threshold(0.95));
    }

    #[test]
    fn verdicts() {
        assert_eq!(Verdict::of(&[0.55, 0.45]), Verdict::Confusing { top: 0.55 });
        assert_eq!(Verdict::of(&[0.4, 0.6]), Verdict::NotConfusing { top: 0.6 });
        assert_eq!(Verdict::of(&[0.3, 0.3, 0.4]), Verdict::Confusing { top: 0.4 });
        assert_eq!(Verdict::of(&[1.0]), Verdict::NeedsTwoCaptions);
        assert!(Verdict::of(&[0.55, 0.45]).is_confusing());
        assert!(!Verdict::of(&[0.9, 0.1]).is_confusing());
        assert!(!Verdict::of(&[1.0]).is_confusing());
    }

    #[test]
    fn verdict_messages() {
        assert_eq!(
            Verdict::Confusing { top: 0.55 }.message(),
            "Confusing: the top probability is 0.550, below 0.6 — this pair meets the assignment's rule."
        );
        assert_eq!(
            Verdict::NotConfusing { top: 0.8125 }.message(),
            "Not confusing yet: the top probability is 0.812 (needs < 0.6). Try more specific captions."
        );
        assert_eq!(Verdict::NeedsTwoCaptions.message(), "Add a second caption: the assignment compares two.");
    }

    #[test]
    fn pairs_ranked_by_their_two_way_softmax() {
        // σ(|2 − 0|) = 0.8808, σ(|2 − 1|) = σ(|0 − 1|) = 0.7311 (a tie: caption order).
        let ranked = rank_pairs(&[2.0, 0.0, 1.0]);
        assert_eq!(ranked.len(), 3);
        assert_eq!((ranked[0].a, ranked[0].b), (0, 2));
        assert_eq!((ranked[1].a, ranked[1].b), (1, 2));
        assert_eq!((ranked[2].a, ranked[2].b), (0, 1));
        assert!(close(ranked[0].top, 0.731_058_6), "{}", ranked[0].top);
        assert!(close(ranked[1].top, 0.731_058_6));
        assert!(close(ranked[2].top, 0.880_797_1), "{}", ranked[2].top);
        // Equal logits: a coin toss.
        assert!(close(rank_pairs(&[3.0, 3.0])[0].top, 0.5));
        assert!(rank_pairs(&[1.0]).is_empty());
    }

    #[test]
    fn a_pairs_top_is_what_clip_gives_the_two_captions_alone() {
        let logits = [24.1f32, 22.9, 25.3, 23.0];
        for p in rank_pairs(&logits) {
            let (ea, eb) = (logits[p.a].exp(), logits[p.b].exp());
            let alone = top_probability(&[ea / (ea + eb), eb / (ea + eb)]);
            assert!((p.top - alone).abs() < 1e-5, "{p:?} vs {alone}");
        }
        // 4 captions: 6 pairs, most confusing first.
        let ranked = rank_pairs(&logits);
        assert_eq!(ranked.len(), 6);
        assert!(ranked.windows(2).all(|w| w[0].top <= w[1].top));
        assert_eq!((ranked[0].a, ranked[0].b), (1, 3));
    }
}
