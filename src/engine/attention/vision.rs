//! CLIP's image attention: every layer and head over [CLS] + patches, and the views' summaries of it (where
//! [CLS] looks, and the [`super::rollout`] of all layers) over the patch grid.

use serde::{Deserialize, Serialize};

use super::rollout::{attention_rollout, cls_to_patches};
use super::stats::mean_attention;
use super::Pick;

/// The image's attention: every layer and head over [CLS] + patches, with the views' summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisionAttention {
    pub num_layers: usize,
    pub num_heads: usize,
    /// [CLS] first, then the patches row by row: `1 + grid²`.
    pub tokens: usize,
    /// Patches per side.
    pub grid: usize,
    /// `[layers][heads][from][to]`, row-major; each row sums to 1.
    pub weights: Vec<f32>,
}

impl VisionAttention {
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.tokens;
        let start = (layer * self.num_heads + head) * n * n;
        &self.weights[start..start + n * n]
    }

    /// `[tokens, tokens]` for a layer/head pick, averaging where asked.
    pub fn pick(&self, layer: Pick, head: Pick) -> Vec<f32> {
        mean_attention(&self.weights, self.num_layers, self.num_heads, self.tokens, layer, head)
    }

    /// Where [CLS] looks, `[grid, grid]` row-major: the [CLS] row of a layer/head pick without [CLS] itself
    /// (so the cells sum to 1 minus [CLS]'s attention to itself).
    pub fn cls_heatmap(&self, layer: Pick, head: Pick) -> Vec<f32> {
        cls_to_patches(&self.pick(layer, head), self.tokens)
    }

    /// Attention rollout over all layers, `[tokens, tokens]` (see [`attention_rollout`]).
    pub fn rollout(&self) -> Vec<f32> {
        attention_rollout(&self.weights, self.num_layers, self.num_heads, self.tokens)
    }

    /// The rollout's [CLS] row over the patch grid: which patches flow into the image embedding.
    pub fn rollout_heatmap(&self) -> Vec<f32> {
        cls_to_patches(&self.rollout(), self.tokens)
    }
}
