//! Benchmark requests (scripts/bench.sh), answered by the app's worker built with the `bench` feature
//! (scripts/build_bench_worker.sh; the site's worker has none of this), so the figures are those of the release
//! wasm as the app runs it: weights through the same store (IndexedDB, downloaded from the hub on first use), the
//! same model loaders and forward code.
//!
//! The bench page posts a plain JSON *string* `{"bench": {...}}` (the app's own messages are postcard
//! `ArrayBuffer`s, so the two never mix) and gets a JSON string back: per-run milliseconds, load time, wasm
//! memory size and the matmul FLOPs of one run.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};

use super::download::{fetch_stored, stream_weights, Transfer};
use super::js::{memory_bytes, now_ms};
use crate::engine::flops::{bert_flops, clip_flops};
use crate::engine::image_prep::PreparedImage;
use crate::engine::pipeline::{collect_captures, AttentionModel, ClipClassifier};

#[derive(Deserialize)]
struct Message {
    bench: BenchRequest,
}

#[derive(Deserialize)]
struct BenchRequest {
    hub: String,
    repo: String,
    revision: String,
    /// "attention" (a BERT-family checkpoint), "clip", or "ops" (a per-op profile of one bert-base-shaped layer
    /// at `ids.len()` tokens; hub, repo and revision unused).
    kind: String,
    /// attention: the token ids to run (token types all 0).
    #[serde(default)]
    ids: Vec<u32>,
    /// clip: the captions (tokenized here; the ids used come back in the answer) and one preprocessed image.
    #[serde(default)]
    captions: Vec<String>,
    #[serde(default)]
    pixel_values: Vec<f32>,
    runs: usize,
    #[serde(default)]
    warmup: usize,
    /// And keep warming up until this much time has passed: V8 first runs wasm from its baseline compiler and
    /// moves hot functions to the optimising one in the background, which takes a while on two cores.
    #[serde(default)]
    warmup_ms: f64,
}

async fn fetch(req: &BenchRequest, file: &str) -> Result<Vec<u8>, String> {
    Ok(fetch_stored(&req.hub, &req.repo, &req.revision, file, &|_| {}).await?.0)
}

/// The weights streamed from the store into tensors, as the app's worker loads them, and their file size.
async fn weights(req: &BenchRequest) -> Result<(candle_nn::VarBuilder<'static>, u64), String> {
    let size = std::cell::Cell::new(0);
    // Every stored file is read back from the store once it is complete, downloaded just now or not; without a
    // store (no IndexedDB) it is only downloaded, and its size is the download's.
    let (vb, _) = stream_weights(&req.hub, &req.repo, &req.revision, &|t| match t {
        Transfer::Reading(bytes) => size.set(bytes),
        Transfer::Bytes { done, .. } if size.get() < done => size.set(done),
        _ => {}
    })
    .await?;
    Ok((vb, size.get()))
}

fn utf8(bytes: Vec<u8>, file: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{file} is not UTF-8 text"))
}

/// Time `runs` calls of `run` after `warmup` untimed ones (the first call is timed on its own). With no warm-up
/// asked for (a warm worker timing one run of an interleaved pair) there is no separate first call either.
fn time_runs(req: &BenchRequest, mut run: impl FnMut() -> Result<(), String>) -> Result<(f64, Vec<f64>), String> {
    if req.warmup == 0 && req.warmup_ms <= 0.0 {
        let mut times = Vec::with_capacity(req.runs);
        for _ in 0..req.runs {
            let t0 = now_ms();
            run()?;
            times.push(now_ms() - t0);
        }
        return Ok((times.first().copied().unwrap_or(0.0), times));
    }
    let t0 = now_ms();
    run()?;
    let first_ms = now_ms() - t0;
    let mut warmed = 1;
    while warmed < req.warmup || now_ms() - t0 < req.warmup_ms {
        run()?;
        warmed += 1;
    }
    let mut times = Vec::with_capacity(req.runs);
    for _ in 0..req.runs {
        let t0 = now_ms();
        run()?;
        times.push(now_ms() - t0);
    }
    Ok((first_ms, times))
}

/// The model a request loaded, kept for the next request of the same repo and kind: scripts/bench.sh alternates
/// the runtimes run by run, each in its own warm worker, so that each of its requests is one forward pass.
#[derive(Clone)]
enum KeptModel {
    Attention(Rc<AttentionModel>),
    Clip(Rc<ClipClassifier>),
}

/// What loading cost, as the first request measured it (0 ms for the requests that reuse the model).
#[derive(Clone, Copy)]
struct LoadFigures {
    fetched_ms: f64,
    load_ms: f64,
    weight_bytes: u64,
    memory_after_load: u64,
}

thread_local! {
    /// One model at a time (a bert-base and a CLIP together would double the worker's memory figure).
    static KEPT: RefCell<Option<(String, KeptModel, LoadFigures)>> = const { RefCell::new(None) };
}

fn kept(req: &BenchRequest) -> Option<(KeptModel, LoadFigures)> {
    let key = format!("{}\0{}", req.kind, req.repo);
    KEPT.with(|k| k.borrow().as_ref().filter(|(k, _, _)| *k == key).map(|(_, m, f)| (m.clone(), LoadFigures { fetched_ms: 0.0, load_ms: 0.0, ..*f })))
}

fn keep(req: &BenchRequest, model: KeptModel, figures: LoadFigures) {
    KEPT.with(|k| *k.borrow_mut() = Some((format!("{}\0{}", req.kind, req.repo), model, figures)));
}

async fn load_attention(req: &BenchRequest) -> Result<(Rc<AttentionModel>, LoadFigures), String> {
    if let Some((KeptModel::Attention(model), figures)) = kept(req) {
        return Ok((model, figures));
    }
    KEPT.with(|k| k.borrow_mut().take());
    let start = now_ms();
    let config = utf8(fetch(req, "config.json").await?, "config.json")?;
    let tokenizer = fetch(req, "tokenizer.json").await?;
    let fetched_ms = now_ms() - start;
    let (weights, weight_bytes) = weights(req).await?;
    let model = Rc::new(AttentionModel::from_parts(&req.repo, &config, &tokenizer, weights).map_err(|e| e.to_string())?);
    let figures = LoadFigures { fetched_ms, load_ms: now_ms() - start, weight_bytes, memory_after_load: memory_bytes() };
    keep(req, KeptModel::Attention(model.clone()), figures);
    Ok((model, figures))
}

async fn load_clip(req: &BenchRequest) -> Result<(Rc<ClipClassifier>, LoadFigures), String> {
    if let Some((KeptModel::Clip(model), figures)) = kept(req) {
        return Ok((model, figures));
    }
    KEPT.with(|k| k.borrow_mut().take());
    let start = now_ms();
    let config = utf8(fetch(req, "config.json").await?, "config.json")?;
    let preprocessor = utf8(fetch(req, "preprocessor_config.json").await?, "preprocessor_config.json")?;
    let tokenizer = fetch(req, "tokenizer.json").await?;
    let fetched_ms = now_ms() - start;
    let (weights, weight_bytes) = weights(req).await?;
    let model = ClipClassifier::from_parts(&req.repo, &config, &tokenizer, &preprocessor, weights).map_err(|e| e.to_string())?;
    let model = Rc::new(model);
    let figures = LoadFigures { fetched_ms, load_ms: now_ms() - start, weight_bytes, memory_after_load: memory_bytes() };
    keep(req, KeptModel::Clip(model.clone()), figures);
    Ok((model, figures))
}

async fn bench(req: BenchRequest) -> Result<serde_json::Value, String> {
    match req.kind.as_str() {
        "attention" => {
            let (model, LoadFigures { fetched_ms, load_ms, weight_bytes, memory_after_load }) = load_attention(&req).await?;
            let types = vec![0u32; req.ids.len()];
            // What the worker does for an attention request, minus tokenizing: forward, then the attention
            // probabilities copied out into the flat arrays the views read.
            let (first_ms, times) = time_runs(&req, || {
                let output = model.model.forward(&req.ids, &types).map_err(|e| e.to_string())?;
                std::hint::black_box(collect_captures(&output, false).map_err(|e| e.to_string())?);
                Ok(())
            })?;
            Ok(json!({
                "fetched_ms": fetched_ms, "load_ms": load_ms, "first_ms": first_ms, "runs_ms": times,
                "weight_bytes": weight_bytes, "memory_after_load": memory_after_load, "memory_bytes": memory_bytes(),
                "flops": bert_flops(&model.model.config, req.ids.len()), "input_ids": [req.ids],
            }))
        }
        "clip" => {
            let (model, LoadFigures { fetched_ms, load_ms, weight_bytes, memory_after_load }) = load_clip(&req).await?;
            // Precomputed pixels (the same the other runtime gets); everything after image decoding is the app's
            // classify path.
            let image = PreparedImage { pixel_values: req.pixel_values.clone(), ..Default::default() };
            let mut input_ids = Vec::new();
            let (first_ms, times) = time_runs(&req, || {
                let result = model.classify_prepared(&image, &req.captions).map_err(|e| e.to_string())?;
                input_ids = result.input_ids.clone();
                std::hint::black_box(result);
                Ok(())
            })?;
            let n = input_ids.iter().map(Vec::len).max().unwrap_or(0);
            Ok(json!({
                "fetched_ms": fetched_ms, "load_ms": load_ms, "first_ms": first_ms, "runs_ms": times,
                "weight_bytes": weight_bytes, "memory_after_load": memory_after_load, "memory_bytes": memory_bytes(),
                "flops": clip_flops(&model.model.config, input_ids.len(), n), "input_ids": input_ids,
            }))
        }
        "ops" => ops_profile(&req).map_err(|e| e.to_string()),
        "peak" => Ok(peak(&req)),
        other => Err(format!("unknown bench kind \"{other}\" (attention, clip, ops or peak)")),
    }
}

/// Our kernel's throughput on a product whose operands stay in L1 (its ceiling here), in GFLOP/s: the best of
/// `runs` timed loops of about 100 ms each (after the warm-up), on this thread.
fn peak(req: &BenchRequest) -> serde_json::Value {
    use crate::engine::kernels::in_cache_product_loop;
    let calls = 20_000;
    let t0 = now_ms();
    while now_ms() - t0 < req.warmup_ms.max(100.0) {
        std::hint::black_box(in_cache_product_loop(calls));
    }
    let mut best = 0f64;
    for _ in 0..req.runs.max(1) {
        let (mut flops, t) = (0.0, now_ms());
        while now_ms() - t < 100.0 {
            let (sum, f) = in_cache_product_loop(calls);
            std::hint::black_box(sum);
            flops += f;
        }
        best = best.max(flops / ((now_ms() - t) / 1e3) / 1e9);
    }
    json!({ "gflops": best, "runs_ms": [], "flops": 0.0 })
}

/// Median ms of `runs` calls after `warmup` and at least `warmup_ms` (a fresh worker's code is still being
/// optimised by V8: without it the first op measured looked 5 ms slower).
fn median_ms(req: &BenchRequest, mut f: impl FnMut() -> candle_core::Result<()>) -> candle_core::Result<f64> {
    let t0 = now_ms();
    let mut warmed = 0;
    while warmed < req.warmup.max(1) || now_ms() - t0 < req.warmup_ms {
        f()?;
        warmed += 1;
    }
    let mut times = Vec::new();
    for _ in 0..req.runs.max(1) {
        let t0 = now_ms();
        f()?;
        times.push(now_ms() - t0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// What one bert-base-shaped layer's pieces cost in this wasm, old path (candle) next to the current one: the
/// profile that says where a forward pass goes.
fn ops_profile(req: &BenchRequest) -> candle_core::Result<serde_json::Value> {
    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{LayerNorm, Linear, VarBuilder};

    use crate::engine::kernels::PackedLinear;
    use crate::engine::nn::{ProjectionNames, SelfAttention};
    let (n, h, i, heads) = (req.ids.len(), 768, 3072, 12);
    let dev = Device::Cpu;
    let linear = |inp: usize, out: usize| -> candle_core::Result<Linear> {
        Ok(Linear::new(Tensor::randn(0f32, 0.02, (out, inp), &dev)?, Some(Tensor::randn(0f32, 0.02, out, &dev)?)))
    };
    let x = Tensor::randn(0f32, 1.0, (1, n, h), &dev)?;
    let x4 = Tensor::randn(0f32, 1.0, (1, n, i), &dev)?;
    let mut out = serde_json::Map::new();
    for (name, inp, outp, xs) in [("linear 768x768", h, h, &x), ("linear 768x3072", h, i, &x), ("linear 3072x768", i, h, &x4)] {
        let l = linear(inp, outp)?;
        let candle = median_ms(req, || l.forward(xs).map(drop))?;
        let packed = PackedLinear::new(l)?;
        let ours = median_ms(req, || packed.forward_act(xs, None).map(drop))?;
        out.insert(format!("{name} candle"), candle.into());
        out.insert(format!("{name} packed"), ours.into());
    }
    out.insert("gelu candle [n,3072]".into(), median_ms(req, || x4.gelu_erf().map(drop))?.into());
    let values = x4.flatten_all()?.to_vec1::<f32>()?;
    out.insert(
        "gelu fast, incl. a copy [n,3072]".into(),
        median_ms(req, || {
            crate::engine::kernels::gelu_erf_in_place(&mut values.clone());
            Ok(())
        })?
        .into(),
    );
    let ln = LayerNorm::new(Tensor::ones(h, DType::F32, &dev)?, Tensor::zeros(h, DType::F32, &dev)?, 1e-12);
    out.insert("layer_norm [n,768]".into(), median_ms(req, || ln.forward(&x).map(drop))?.into());
    out.insert("residual add [n,768]".into(), median_ms(req, || (&x + &x).map(drop))?.into());
    let names = ProjectionNames { query: "q", key: "k", value: "v" };
    let attention = SelfAttention::load(VarBuilder::zeros(DType::F32, &dev), h, heads, &names)?;
    out.insert("self-attention incl. q/k/v".into(), median_ms(req, || attention.forward(&x, None).map(drop))?.into());
    let scores = Tensor::randn(0f32, 1.0, (1, heads, n, n), &dev)?;
    out.insert("softmax [12,n,n]".into(), median_ms(req, || candle_nn::ops::softmax_last_dim(&scores).map(drop))?.into());
    Ok(json!({ "seq": n, "ops_ms": out, "runs_ms": [], "flops": 0.0 }))
}

/// Handle one `{"bench": ...}` string in the background and post the JSON answer (`{"error": ...}` on failure).
pub fn spawn(text: String) {
    wasm_bindgen_futures::spawn_local(async move {
        let answer = match serde_json::from_str::<Message>(&text) {
            Ok(Message { bench: req }) => bench(req).await.unwrap_or_else(|e| json!({ "error": e })),
            Err(e) => json!({ "error": format!("not a bench request: {e}") }),
        };
        let mut answer = answer;
        if let Some(fields) = answer.as_object_mut() {
            fields.insert("threads".into(), super::worker::threads().into());
        }
        let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        if let Err(e) = scope.post_message(&JsValue::from_str(&answer.to_string())) {
            web_sys::console::error_1(&e);
        }
    });
}
