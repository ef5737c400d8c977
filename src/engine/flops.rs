//! Matmul FLOP counts (2·m·n·k over every matmul of a forward pass), for the benchmarks' GFLOP/s figures
//! (`nlu-lab-dev bench`, tests/bench_web.rs, the worker's benchmark requests). Feature `bench` only.

use super::bert;
use super::clip;

/// Multiply-add count of one forward pass (2·m·n·k over all matmuls), for GFLOP/s figures.
pub fn bert_flops(cfg: &bert::Config, n: usize) -> f64 {
    let (h, i, l) = (cfg.hidden_size as f64, cfg.intermediate_size as f64, cfg.num_hidden_layers as f64);
    let n = n as f64;
    let per_layer = 2.0 * n * h * h * 4.0 + 2.0 * n * h * i * 2.0 + 2.0 * n * n * h * 2.0;
    per_layer * l
}

/// Multiply-add count of one classification (2·m·n·k over the matmuls), for GFLOP/s figures: the vision tower
/// once, the text tower over `captions` rows of `n` tokens.
pub fn clip_flops(cfg: &clip::Config, captions: usize, n: usize) -> f64 {
    let tower = |h: usize, i: usize, l: usize, tokens: usize| {
        let (h, i, l, t) = (h as f64, i as f64, l as f64, tokens as f64);
        (2.0 * t * h * h * 4.0 + 2.0 * t * h * i * 2.0 + 2.0 * t * t * h * 2.0) * l
    };
    let v = &cfg.vision;
    let t = &cfg.text;
    let patch = 2.0 * (v.grid() * v.grid()) as f64 * (v.num_channels * v.patch_size * v.patch_size) as f64 * v.hidden_size as f64;
    let vision = tower(v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_tokens()) + patch;
    let text = tower(t.hidden_size, t.intermediate_size, t.num_hidden_layers, n) * captions as f64;
    vision + text
}
