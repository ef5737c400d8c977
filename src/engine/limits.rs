//! Caps on what a checkpoint's files may claim, checked before anything is allocated from them, so that a damaged
//! or hostile file (from the hub, a mirror or a USB stick) ends in a clear message within bounded memory and time.
//! Each bound has a wide margin over every model in `catalogue.rs` (BERT base, multilingual BERT, DistilBERT,
//! RoBERTa, CLIP ViT-B/32, B/16, L/14) and the ones that may join it (GPT-2, BERT large, CLIP at 336 pixels).

use std::ops::RangeInclusive;

/// config.json and preprocessor_config.json: real ones are under 5 KB.
pub const MAX_CONFIG_JSON_BYTES: usize = 1 << 20;
/// tokenizer.json: the largest in the catalogue (multilingual BERT's, 120 k word pieces) is 2.2 MB; XLM-R's
/// 250 k-piece one is 17 MB.
pub const MAX_TOKENIZER_JSON_BYTES: usize = 32 << 20;

/// Layers: 24 in CLIP L/14 and BERT large, 48 in GPT-2 XL.
pub const LAYERS: RangeInclusive<usize> = 1..=64;
/// Hidden size: at most 1024 here (CLIP L/14's vision tower, BERT large); 1600 in GPT-2 XL.
pub const HIDDEN: RangeInclusive<usize> = 1..=8192;
/// Heads: 16 in CLIP L/14 and BERT large, 25 in GPT-2 XL.
pub const HEADS: RangeInclusive<usize> = 1..=256;
/// Feed-forward width: 4096 in CLIP L/14 and BERT large (4 × hidden in all of them).
pub const INTERMEDIATE: RangeInclusive<usize> = 1..=65536;
/// Vocabulary: 119 547 in multilingual BERT, 250 002 in XLM-R.
pub const VOCAB: RangeInclusive<usize> = 1..=1_000_000;
/// Positions: 77 in CLIP's text tower, 512 in BERT, 514 in RoBERTa, 1024 in GPT-2, 4098 in Longformer.
pub const POSITIONS: RangeInclusive<usize> = 1..=16384;
/// Token types: 2 in BERT, 1 in RoBERTa, 0 in DistilBERT (none).
pub const TYPE_VOCAB: RangeInclusive<usize> = 0..=1024;
/// CLIP's projection: 512 (B/32, B/16) and 768 (L/14).
pub const PROJECTION: RangeInclusive<usize> = 1..=8192;
/// The vision tower's input side: 224 in the catalogue, 336 in CLIP L/14-336.
pub const IMAGE_SIDE: RangeInclusive<usize> = 1..=1024;
/// Patches per image: 49 (B/32) to 256 (L/14), 576 for L/14-336. Attention grows with its square.
pub const MAX_PATCHES: usize = 1024;
/// Image channels: RGB is 3; 1 and 4 at most for grey or RGBA towers.
pub const CHANNELS: RangeInclusive<usize> = 1..=4;
/// preprocessor_config.json's resize edge and crop side: 224 in every CLIP config.
pub const PREPROCESS_SIDE: RangeInclusive<usize> = 1..=4096;

/// `what` (a config field, named as in the file) must lie in `range`.
pub fn check(what: &str, value: usize, range: RangeInclusive<usize>) -> Result<(), String> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(format!(
        "{what} is {value}, outside the {} to {} nlu-lab accepts (the file is damaged or not a model it knows)",
        range.start(),
        range.end()
    ))
}

/// A JSON file of `len` bytes may be at most `max` bytes; checked before parsing it.
pub fn check_json_size(len: usize, max: usize) -> Result<(), String> {
    if len <= max {
        return Ok(());
    }
    Err(format!(
        "the file is {} bytes, more than the {} MB nlu-lab reads for it (real ones are far smaller): not parsed",
        len,
        max >> 20
    ))
}
