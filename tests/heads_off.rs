//! Switching heads off against transformers' `head_mask` (transformers 4.57, eager attention;
//! tests/fixtures/make_head_mask.py): attention and the last hidden state within 1e-4 on the real all-MiniLM-L6-v2
//! and on the tiny RoBERTa and DistilBERT checkpoints, with the heads that are off at exactly zero; and the CLI's
//! `--heads-off`.

mod common;

use std::path::Path;

use common::*;
use nlu_lab::engine::heads_off::HeadsOff;
use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};

const ATOL: f32 = 1e-4;

fn load(dir: &Path) -> AttentionModel {
    let config = String::from_utf8(read(dir.join("config.json"))).unwrap();
    let (tokenizer, weights) = (read(dir.join("tokenizer.json")), read(dir.join("model.safetensors")));
    let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights };
    AttentionModel::load("test", &files).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Every case of one checkpoint's head-mask goldens; returns the largest differences (attention, hidden).
fn check(model_dir: &Path, golden_dir: &str) -> (f32, f32) {
    let lab = load(model_dir);
    let golden = golden_json(fixture(&format!("{golden_dir}/head_mask.json")));
    let tensors = golden_tensors(fixture(&format!("{golden_dir}/head_mask.safetensors")));
    let off = HeadsOff::parse(golden["heads_off"].as_str().unwrap()).unwrap();
    assert!(!off.is_empty());
    let heads = lab.model.config.num_attention_heads;
    let (mut worst_attn, mut worst_hidden) = (0.0f32, 0.0f32);
    for case in golden["cases"].as_array().unwrap() {
        let (i, n) = (case["case"].as_u64().unwrap(), case["n"].as_u64().unwrap() as usize);
        let ctx = format!("{golden_dir} case {i}");
        let data = lab.attention_with_heads_off(case["text"].as_str().unwrap(), case["text_b"].as_str(), false, &off).unwrap();
        assert_eq!((data.len(), &data.heads_off), (n, &off), "{ctx}");
        let attn = max_abs_diff(&data.weights, &to_f32(&tensors[&format!("case{i}.attn")]));
        assert!(attn <= ATOL, "{ctx}: attention max |Δ| {attn:e}");
        for &(l, h) in off.heads() {
            let head = &data.weights[(l * heads + h) * n * n..(l * heads + h + 1) * n * n];
            assert!(head.iter().all(|&w| w == 0.0), "{ctx}: head {l}:{h} is off, its attention zero");
        }
        // The hidden state, through the same encoding.
        let enc = lab.encode(case["text"].as_str().unwrap(), case["text_b"].as_str()).unwrap();
        let out = lab.model.forward_with_heads_off(&enc.ids, &enc.type_ids, &off).unwrap();
        let hidden = max_abs_diff(&to_f32(&out.hidden), &to_f32(&tensors[&format!("case{i}.hidden")]));
        assert!(hidden <= ATOL, "{ctx}: hidden max |Δ| {hidden:e}");
        // Not the run with every head on: what switching them off changes is there.
        let plain = lab.attention(case["text"].as_str().unwrap(), case["text_b"].as_str(), false).unwrap();
        assert!(max_abs_diff(&plain.weights, &data.weights) > 1e-2, "{ctx}: the heads off changed nothing");
        // The change map the lab draws: nothing below the first layer with a head off, nor in that layer's heads
        // still on (they run before anything changed); a head that is off changes by its largest weight.
        let change = data.change_from(&plain).unwrap();
        let first = off.heads()[0].0;
        for (l, row) in change.iter().enumerate().take(first + 1) {
            for (h, &c) in row.iter().enumerate() {
                let want = if off.contains(l, h) { plain.head(l, h).iter().copied().fold(0.0, f32::max) } else { 0.0 };
                assert_eq!(c, want, "{ctx}: change of head {l}:{h}");
            }
        }
        assert!(change[first + 1..].iter().flatten().any(|&c| c > 1e-3), "{ctx}: later layers changed");
        worst_attn = worst_attn.max(attn);
        worst_hidden = worst_hidden.max(hidden);
    }
    (worst_attn, worst_hidden)
}

#[test]
fn heads_off_match_transformers_head_mask() {
    for (dir, golden) in [
        (minilm_dir(), "bert/minilm"),
        (fixture("bert/tiny-roberta"), "bert/tiny-roberta"),
        (fixture("bert/tiny-distilbert"), "bert/tiny-distilbert"),
    ] {
        let (attn, hidden) = check(&dir, golden);
        println!("{golden} with heads off vs transformers' head_mask: attention max |Δ| {attn:.2e}, hidden {hidden:.2e}");
    }
}

#[test]
fn cli_heads_off_matches_transformers_and_refuses_a_head_the_model_lacks() {
    let golden = golden_json(fixture("bert/minilm/head_mask.json"));
    let tensors = golden_tensors(fixture("bert/minilm/head_mask.safetensors"));
    let case = &golden["cases"][0];
    let run = |heads_off: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
            .args(["attention", "--model"])
            .arg(minilm_dir())
            .args(["--text", case["text"].as_str().unwrap(), "--heads-off", heads_off])
            .output()
            .unwrap()
    };
    let out = run(golden["heads_off"].as_str().unwrap());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["heads_off"], golden["heads_off"]);
    let flat = json_floats(&json["attention"]);
    let d = max_abs_diff(&flat, &to_f32(&tensors["case0.attn"]));
    assert!(d <= ATOL, "CLI attention max |Δ| {d:e}");
    let bad = run("6:0");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("head 6:0 does not exist: the model has 6 layers of 12 heads"));
    let typo = run("0-3");
    assert!(String::from_utf8_lossy(&typo.stderr).contains("--heads-off: \"0-3\" is not layer:head"), "{}", String::from_utf8_lossy(&typo.stderr));
    println!("nlu-lab attention --heads-off vs transformers' head_mask: attention max |Δ| {d:.2e}");
}
