//! Helpers shared by the native test files: fixture paths, goldens, and differences against them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("tests/fixtures").join(path)
}

/// The real all-MiniLM-L6-v2, fetched by `scripts/fetch_models.sh` (never committed). Missing is a failure, not
/// a skip: a parity suite that quietly passes without its model proves nothing.
pub fn minilm_dir() -> PathBuf {
    let cache = std::env::var("NLU_LAB_CACHE").map(PathBuf::from).unwrap_or_else(|_| repo().join(".cache"));
    let dir = cache.join("models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run scripts/fetch_models.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

pub fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn golden_json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&read(path)).expect("golden.json parses")
}

pub fn golden_tensors(path: PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn to_f32(t: &Tensor) -> Vec<f32> {
    t.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// The numbers of a nested JSON array (the CLI's `[layer][head][from][to]` attention), in order.
pub fn json_floats(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(json_floats).collect(),
        v => vec![v.as_f64().expect("a number") as f32],
    }
}

/// Largest |a - b|; panics when the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared arrays differ in length");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The tiny BERT fixture's three files, for tests that damage one of them.
pub struct TinyBert {
    pub config: String,
    pub tokenizer: Vec<u8>,
    pub weights: Vec<u8>,
}

pub fn tiny() -> TinyBert {
    let dir = fixture("bert/tiny-bert");
    TinyBert {
        config: String::from_utf8(read(dir.join("config.json"))).unwrap(),
        tokenizer: read(dir.join("tokenizer.json")),
        weights: read(dir.join("model.safetensors")),
    }
}

/// An attention model from the three files, as the app loads one.
pub fn load(
    config: &str,
    tokenizer: &[u8],
    weights: &[u8],
) -> Result<nlu_lab::engine::pipeline::AttentionModel, nlu_lab::engine::Error> {
    use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};
    AttentionModel::load("tiny", &CheckpointFiles { config_json: config, tokenizer_json: tokenizer, safetensors: weights })
}
