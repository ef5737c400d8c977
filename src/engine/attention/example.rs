//! The attention lab's first-visit example: one input's attention computed in advance (`nlu-lab attention
//! --format example`) and shipped inside the site, drawn at once while the model downloads. The weights are
//! quantised to one byte each (in 255ths, each row's bytes summing to 255, so rows still sum to 1): within 1/255 of
//! the model's own numbers, and MiniLM's 6 × 12 heads over a dozen tokens fit in 17 kB (10 kB gzipped). No queries
//! and keys: the neuron view waits for the real result.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::AttentionData;
use crate::engine::{Error, Result};

pub const EXAMPLE_SCHEMA: &str = "nlu-lab/attention-example@1";

#[derive(Serialize, Deserialize)]
struct Example {
    schema: String,
    /// Everything but the numbers (`weights` empty, no queries and keys).
    data: AttentionData,
    /// `[layers][heads][from][to]`, one byte per weight, base64.
    weights_u8: String,
}

/// A row of probabilities in 255ths that sum to exactly 255 (largest remainder: the floors, then one more for the
/// largest fractions), so that each byte / 255 is within 1/255 of its weight and the row still sums to 1.
fn row_in_bytes(row: &[f32]) -> Vec<u8> {
    let scaled: Vec<f32> = row.iter().map(|w| w.clamp(0.0, 1.0) * 255.0).collect();
    let mut bytes: Vec<u8> = scaled.iter().map(|s| s.floor() as u8).collect();
    let short = 255usize.saturating_sub(bytes.iter().map(|&b| b as usize).sum());
    let mut by_fraction: Vec<usize> = (0..row.len()).collect();
    by_fraction.sort_by(|&a, &b| (scaled[b] - scaled[b].floor()).total_cmp(&(scaled[a] - scaled[a].floor())));
    for &i in by_fraction.iter().take(short) {
        bytes[i] = bytes[i].saturating_add(1);
    }
    bytes
}

/// The example file for `data` (its queries and keys are left out).
pub fn encode_example(data: &AttentionData) -> String {
    let n = data.tokens.len().max(1);
    let bytes: Vec<u8> = data.weights.chunks(n).flat_map(row_in_bytes).collect();
    let data = AttentionData { weights: Vec::new(), queries: None, keys: None, ..data.clone() };
    let example = Example { schema: EXAMPLE_SCHEMA.into(), data, weights_u8: STANDARD.encode(bytes) };
    serde_json::to_string(&example).expect("attention data serialises")
}

/// Read an example file back into attention data whose rows each sum to 1.
pub fn decode_example(json: &str) -> Result<AttentionData> {
    let bad = |why: String| Error::Invalid(format!("attention example: {why}"));
    let example: Example = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    if example.schema != EXAMPLE_SCHEMA {
        return Err(bad(format!("schema {:?}, not {EXAMPLE_SCHEMA}", example.schema)));
    }
    let bytes = STANDARD.decode(example.weights_u8.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let mut data = example.data;
    let n = data.tokens.len();
    if n == 0 || bytes.len() != data.num_layers * data.num_heads * n * n {
        return Err(bad(format!("{} weights for {} layers × {} heads × {n}² tokens", bytes.len(), data.num_layers, data.num_heads)));
    }
    data.weights = bytes
        .chunks(n)
        .flat_map(|row| {
            let sum: f32 = row.iter().map(|&b| b as f32).sum::<f32>().max(1.0);
            row.iter().map(move |&b| b as f32 / sum)
        })
        .collect();
    Ok(data)
}
