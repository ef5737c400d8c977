//! The engine benchmark, shared by the native dev CLI (`nlu-lab-dev bench`) and the browser
//! (tests/bench_web.rs): a bert-base-shaped encoder with synthetic weights, timed with attention and queries/keys captured.
//! The clock is passed in because `std::time::Instant` does not exist on wasm32-unknown-unknown.

use super::bert::{BertModel, Config};
use super::flops::bert_flops;
use super::pipeline::collect_captures;
use super::synth::bert_checkpoint;
use super::Result;

/// google-bert/bert-base-uncased's shape, as a `config.json` transformers also reads (scripts/export_onnx.py).
pub const BERT_BASE_CONFIG_JSON: &str = r#"{"model_type":"bert","vocab_size":30522,"hidden_size":768,"num_hidden_layers":12,
"num_attention_heads":12,"intermediate_size":3072,"hidden_act":"gelu","max_position_embeddings":512,"type_vocab_size":2,
"layer_norm_eps":1e-12,"pad_token_id":0}"#;

/// The seed of the bert-base-shaped synthetic checkpoint (`nlu-lab-dev bench` and `nlu-lab-dev synth-bert`).
pub const BERT_BASE_SEED: u64 = 0xBE57;

pub fn bert_base_config() -> Config {
    Config::from_json(BERT_BASE_CONFIG_JSON).expect("a valid built-in config")
}

#[derive(Clone, Debug)]
pub struct BenchRow {
    pub seq: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub gflops: f64,
}

pub struct BenchReport {
    pub weight_bytes: usize,
    pub load_ms: f64,
    pub rows: Vec<BenchRow>,
}

/// Load a synthetic checkpoint of `config` and time `runs` forward passes (after one warm-up) per length.
pub fn bench_encoder(config: &Config, seqs: &[usize], runs: usize, now_ms: &dyn Fn() -> f64) -> Result<BenchReport> {
    let bytes = bert_checkpoint(config, BERT_BASE_SEED)?;
    let start = now_ms();
    let model = BertModel::from_safetensors(&bytes, config.clone())?;
    let load_ms = now_ms() - start;
    let mut rows = Vec::new();
    for &seq in seqs {
        let ids: Vec<u32> = (0..seq as u32).map(|i| 1000 + (i * 37) % 20000).collect();
        let types = vec![0u32; seq];
        let mut times = Vec::with_capacity(runs);
        for run in 0..=runs {
            let t0 = now_ms();
            let output = model.forward(&ids, &types)?;
            let captured = collect_captures(&output, true)?;
            std::hint::black_box(captured);
            if run > 0 {
                times.push(now_ms() - t0);
            }
        }
        times.sort_by(f64::total_cmp);
        let median_ms = times[times.len() / 2];
        let gflops = bert_flops(config, seq) / (median_ms / 1e3) / 1e9;
        rows.push(BenchRow { seq, median_ms, min_ms: times[0], gflops });
    }
    Ok(BenchReport { weight_bytes: bytes.len(), load_ms, rows })
}

/// The report as the lines both sides print (one per length), e.g. `bench native seq 64: median 80.1 ms …`.
pub fn format_report(side: &str, report: &BenchReport) -> String {
    let mut out = format!("bench {side} load: {:.0} ms for {} weight bytes\n", report.load_ms, report.weight_bytes);
    for r in &report.rows {
        out += &format!(
            "bench {side} seq {}: median {:.1} ms, min {:.1} ms, {:.1} GFLOP/s\n",
            r.seq, r.median_ms, r.min_ms, r.gflops
        );
    }
    out
}

/// One precision's figures in [`bench_precisions`].
#[derive(Clone, Debug)]
pub struct PrecisionRow {
    pub precision: super::compact::Precision,
    pub weight_bytes: usize,
    pub load_ms: f64,
    /// Per length: median and min ms.
    pub times: Vec<(usize, f64, f64)>,
}

/// The bert-base-shaped checkpoint in f32, packed to f16 and to int8 (`nlu-lab pack`'s packer), each loaded and
/// timed at `seqs`. The three models run in turn, pass by pass (f32, f16, int8, f32, ...), so a slow moment of a
/// shared machine falls on all of them alike; the medians are over `runs` turns after one warm-up turn.
pub fn bench_precisions(config: &Config, seqs: &[usize], runs: usize, now_ms: &dyn Fn() -> f64) -> Result<Vec<PrecisionRow>> {
    use super::compact::Precision;
    let source = bert_checkpoint(config, BERT_BASE_SEED)?;
    let mut models = Vec::new();
    let mut rows = Vec::new();
    for precision in [Precision::F32, Precision::F16, Precision::Int8] {
        let bytes = match precision {
            Precision::F32 => source.clone(),
            // No tokenizer for the synthetic checkpoint: nearest rounding (the same format, so the same speed).
            p => super::pack::pack_safetensors(&source, p, super::pack::Calibration::Nearest)?.bytes,
        };
        let start = now_ms();
        models.push(BertModel::from_safetensors(&bytes, config.clone())?);
        rows.push(PrecisionRow { precision, weight_bytes: bytes.len(), load_ms: now_ms() - start, times: Vec::new() });
    }
    drop(source);
    for &seq in seqs {
        let ids: Vec<u32> = (0..seq as u32).map(|i| 1000 + (i * 37) % 20000).collect();
        let types = vec![0u32; seq];
        let mut times = vec![Vec::with_capacity(runs); models.len()];
        for turn in 0..=runs {
            for (model, t) in models.iter().zip(times.iter_mut()) {
                let t0 = now_ms();
                let output = model.forward(&ids, &types)?;
                std::hint::black_box(collect_captures(&output, true)?);
                if turn > 0 {
                    t.push(now_ms() - t0);
                }
            }
        }
        for (row, mut t) in rows.iter_mut().zip(times) {
            t.sort_by(f64::total_cmp);
            row.times.push((seq, t[t.len() / 2], t[0]));
        }
    }
    Ok(rows)
}

/// [`bench_precisions`]' figures, a line per precision and length, with the ratio to f32 from the same turns.
pub fn format_precisions(side: &str, rows: &[PrecisionRow]) -> String {
    let mut out = String::new();
    for row in rows {
        out += &format!(
            "precision {side} {}: {:.1} MB of weights, loaded in {:.0} ms\n",
            row.precision.as_str(),
            row.weight_bytes as f64 / 1e6,
            row.load_ms
        );
        for (i, &(seq, median, min)) in row.times.iter().enumerate() {
            let f32_median = rows[0].times[i].1;
            out += &format!(
                "precision {side} {} seq {seq}: median {median:.1} ms, min {min:.1} ms, {:.2}x the f32 time\n",
                row.precision.as_str(),
                median / f32_median
            );
        }
    }
    out
}
