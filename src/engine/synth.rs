//! Deterministic synthetic weights: the counter-based generator of `tests/fixtures/clip/README.md`
//! (`tests/fixtures/synth_weights.py`), bit-exact, and a way to turn any model's list of tensors into a
//! safetensors checkpoint.
//!
//! Every value depends only on (tensor name, index, seed), so a 195 MB checkpoint need not be committed: the
//! tests regenerate the tiny CLIP the Python goldens were computed with, and benchmarks can make full-depth
//! bert-base or ViT-B/32 shaped checkpoints the same way. Which tensors a model has is asked of the model
//! itself: [`record_tensors`] runs its `load` against a backend that hands out placeholders and notes every
//! (name, shape) requested, so the list can never drift from what the loader reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::{Init, VarBuilder};

use super::attention::AttentionData;
use super::{bert, clip, Error, Result};

/// The global seed S of the CLIP fixture.
pub const CLIP_FIXTURE_SEED: u64 = 0x5EED_C11B;

pub fn splitmix64(x: u64) -> u64 {
    let x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// How a tensor's uniform draws `r ∈ [-1, 1)` become values: `offset + r * scale`, all in f32.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    Constant(f32),
    Affine { offset: f32, scale: f32 },
}

fn rule(name: &str, shape: &[usize]) -> Rule {
    if name == "logit_scale" {
        return Rule::Constant(100f64.ln() as f32);
    }
    let module = name.rsplit('.').nth(1).unwrap_or("");
    let small = Rule::Affine { offset: 0.0, scale: 0.02 };
    match shape.len() {
        1 if name.ends_with("bias") => small,
        1 if module.to_lowercase().contains("norm") => Rule::Affine { offset: 1.0, scale: 0.1 },
        1 => small,
        n if n >= 2 && module.contains("embedding") && !module.contains("patch") => small,
        _ => {
            let fan_in: usize = shape.iter().skip(1).product();
            Rule::Affine { offset: 0.0, scale: (1.0 / (fan_in as f64).sqrt()) as f32 }
        }
    }
}

/// Value `i` of a tensor whose counter base is `base`.
#[inline(always)]
fn value(base: u64, i: u64, rule: Rule) -> f32 {
    let u = (splitmix64(base.wrapping_add(i)) >> 40) as f32 / 16_777_216.0;
    let r = 2.0 * u - 1.0;
    match rule {
        Rule::Constant(c) => c,
        // Two roundings (multiply, then add), as numpy does; `offset` 0 adds exactly nothing.
        Rule::Affine { offset, scale } => offset + r * scale,
    }
}

fn base(name: &str, seed: u64) -> u64 {
    fnv1a64(name.as_bytes()) ^ seed
}

/// The tensor `name` of shape `shape` (row-major), as the Python generator makes it.
pub fn synth_tensor(name: &str, shape: &[usize], seed: u64) -> Vec<f32> {
    let (base, rule) = (base(name, seed), rule(name, shape));
    (0..shape.iter().product::<usize>() as u64).map(|i| value(base, i, rule)).collect()
}

/// Value `index` (row-major) of the tensor `name` of shape `shape`.
pub fn synth_value(name: &str, shape: &[usize], seed: u64, index: usize) -> f32 {
    value(base(name, seed), index as u64, rule(name, shape))
}

/// Fill `out` with the little-endian f32 bytes of the tensor's values `first..first + out.len() / 4`.
fn fill_le_bytes(out: &mut [u8], base: u64, rule: Rule, first: u64) {
    for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&value(base, first + i as u64, rule).to_le_bytes());
    }
}

/// One tensor of a checkpoint: its state-dict name and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn new(name: &str, shape: &[usize]) -> Self {
        Self { name: name.to_string(), shape: shape.to_vec() }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A `VarBuilder` backend that answers every request with a zero-cost placeholder of the asked shape and
/// remembers what was asked.
struct Recorder {
    seen: Arc<Mutex<Vec<TensorSpec>>>,
}

impl candle_nn::var_builder::SimpleBackend for Recorder {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let mut seen = self.seen.lock().expect("recorder lock");
        if !seen.iter().any(|t| t.name == name) {
            seen.push(TensorSpec::new(name, s.dims()));
        }
        // A broadcast scalar: the right shape without allocating the tensor.
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("{name}: the recorder needs every tensor's shape (use get, not get_unchecked)")
    }

    /// Every tensor a loader probes for, except the compact forms (`engine::compact`): synthetic checkpoints
    /// are f32.
    fn contains_tensor(&self, name: &str) -> bool {
        !name.ends_with("_int8") && !name.ends_with("_f16")
    }
}

/// The tensors a model's loader reads, in the order it asks for them: run `load` on the recording builder.
pub fn record_tensors<T>(load: impl FnOnce(VarBuilder) -> Result<T>) -> Result<Vec<TensorSpec>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let vb = VarBuilder::from_backend(Box::new(Recorder { seen: seen.clone() }), DType::F32, Device::Cpu);
    load(vb)?;
    let specs = seen.lock().expect("recorder lock").clone();
    Ok(specs)
}

/// A slice of a tensor's bytes to fill: (bytes, counter base, rule, index of its first value).
type Job<'a> = (&'a mut [u8], u64, Rule, u64);

/// A safetensors file (float32) holding the synthetic value of every tensor in `specs`.
pub fn safetensors_bytes(specs: &[TensorSpec], seed: u64) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt", "generator": "nlu-lab synth" }));
    let mut offset = 0usize;
    for spec in specs {
        let end = offset + 4 * spec.numel();
        let entry = serde_json::json!({ "dtype": "F32", "shape": spec.shape, "data_offsets": [offset, end] });
        if header.insert(spec.name.clone(), entry).is_some() {
            return Err(Error::Weights(format!("tensor {} listed twice", spec.name)));
        }
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).map_err(|e| Error::Weights(e.to_string()))?;
    // The data must start 8-byte aligned; the format allows padding the header with spaces.
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let start = 8 + header.len();
    let mut out = vec![0u8; start + offset];
    out[..8].copy_from_slice(&(header.len() as u64).to_le_bytes());
    out[8..start].copy_from_slice(&header);

    // Cut the data into (tensor, element range) jobs of about equal size and share them out over the cores:
    // the tiny CLIP alone is 49 M values.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    const JOB: usize = 1 << 20;
    let mut jobs: Vec<Vec<Job>> = (0..threads).map(|_| Vec::new()).collect();
    let mut rest = &mut out[start..];
    let mut next = 0;
    for spec in specs {
        let (base, rule) = (base(&spec.name, seed), rule(&spec.name, &spec.shape));
        let (mut data, tail) = rest.split_at_mut(4 * spec.numel());
        rest = tail;
        let mut first = 0u64;
        while !data.is_empty() {
            let (chunk, tail) = data.split_at_mut((4 * JOB).min(data.len()));
            data = tail;
            jobs[next % threads].push((chunk, base, rule, first));
            first += JOB as u64;
            next += 1;
        }
    }
    let run = |list: Vec<Job>| {
        for (chunk, base, rule, first) in list {
            fill_le_bytes(chunk, base, rule, first);
        }
    };
    if threads == 1 {
        // No threads to spawn (wasm32 without atomics has none).
        jobs.into_iter().for_each(run);
    } else {
        std::thread::scope(|scope| {
            for list in jobs {
                scope.spawn(move || run(list));
            }
        });
    }
    Ok(out)
}

/// A CLIP checkpoint (transformers `CLIPModel` names) with synthetic weights for `config`.
pub fn clip_checkpoint(config: &clip::Config, seed: u64) -> Result<Vec<u8>> {
    let specs = record_tensors(|vb| clip::ClipModel::load(vb, config.clone()))?;
    safetensors_bytes(&specs, seed)
}

/// A BERT/RoBERTa/DistilBERT encoder checkpoint (bare encoder names) with synthetic weights for `config`.
pub fn bert_checkpoint(config: &bert::Config, seed: u64) -> Result<Vec<u8>> {
    let specs = record_tensors(|vb| bert::BertModel::load(vb, config.clone()))?;
    safetensors_bytes(&specs, seed)
}

/// f64 sums of the tensors in a safetensors file, by name (what golden.json's `synth.tensors` records).
pub fn tensor_sums(bytes: &[u8]) -> Result<HashMap<String, f64>> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(e.to_string()))?;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let sum = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).sum();
            (name, sum)
        })
        .collect())
}

/// An input of `tokens` tokens (`[CLS]`, words, `[SEP]`) with attention for `layers` × `heads`, each row a softmax
/// of uniform logits in ±4 (values spread over two decades around 1/tokens, as in a trained model, so that exports
/// have realistic digit counts): export sizes and timings at 512 tokens (`nlu-lab-dev export-bench`).
pub fn attention_data(model: &str, layers: usize, heads: usize, head_dim: usize, tokens: usize, seed: u64) -> AttentionData {
    let n = tokens.max(2);
    let base = fnv1a64(model.as_bytes()) ^ seed;
    let mut weights = Vec::with_capacity(layers * heads * n * n);
    let mut row = vec![0f32; n];
    for r in 0..(layers * heads * n) as u64 {
        for (j, w) in row.iter_mut().enumerate() {
            *w = (4.0 * value(base, r * n as u64 + j as u64, Rule::Affine { offset: 0.0, scale: 1.0 })).exp();
        }
        let sum: f32 = row.iter().sum();
        weights.extend(row.iter().map(|w| w / sum));
    }
    let words: Vec<String> = (1..n - 1).map(|i| format!("w{i}")).collect();
    let tokens: Vec<String> = std::iter::once("[CLS]".to_string()).chain(words).chain(["[SEP]".to_string()]).collect();
    let text = tokens[1..n - 1].join(" ");
    let mut at = 0u32;
    let offsets = (0..n)
        .map(|i| {
            if i == 0 || i == n - 1 {
                return [0, 0];
            }
            let len = tokens[i].len() as u32;
            let span = [at, at + len];
            at += len + 1;
            span
        })
        .collect();
    AttentionData {
        model: model.to_string(),
        text,
        text_b: None,
        special: (0..n).map(|i| i == 0 || i == n - 1).collect(),
        segments: vec![0; n],
        offsets,
        words: (0..n).map(|i| (i > 0 && i < n - 1).then(|| i as u32 - 1)).collect(),
        tokens,
        num_layers: layers,
        num_heads: heads,
        head_dim,
        weights,
        queries: None,
        keys: None,
        dropped_tokens: 0,
        heads_off: Default::default(),
        causal: false,
    }
}
