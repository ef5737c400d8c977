//! The engine benchmark in headless Chromium (release wasm, SIMD128), run by scripts/bench_engine.sh — not part
//! of the test suite. Prints the same lines as `nlu-lab bench` does natively.
#![cfg(target_arch = "wasm32")]

use nlu_lab::engine::bench::{bench_encoder, bench_precisions, bert_base_config, format_precisions, format_report};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn bench_bert_base_in_the_browser() {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let performance: web_sys::Performance = wasm_bindgen::JsCast::unchecked_into(performance);
    let now = move || performance.now();
    let report = bench_encoder(&bert_base_config(), &[16, 64, 128], 10, &now).unwrap();
    for line in format_report("wasm", &report).lines() {
        console_log!("{line}");
    }
}

#[wasm_bindgen_test]
fn bench_compact_weights_in_the_browser() {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let performance: web_sys::Performance = wasm_bindgen::JsCast::unchecked_into(performance);
    let now = move || performance.now();
    let rows = bench_precisions(&bert_base_config(), &[16, 64], 10, &now).unwrap();
    for line in format_precisions("wasm", &rows).lines() {
        console_log!("{line}");
    }
}
