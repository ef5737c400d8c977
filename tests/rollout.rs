//! Attention rollout (Abnar & Zuidema 2020) for encoders against a NumPy reference of the paper's formula
//! (tests/fixtures/make_rollout.py, from transformers' attention of the real all-MiniLM-L6-v2): the formula on the
//! reference's own attention, and end to end (`nlu-lab attention --rollout`, our attention and our rollout).

mod common;

use common::*;
use nlu_lab::engine::attention::attention_rollout;

fn reference() -> serde_json::Value {
    golden_json(fixture("bert/minilm/rollout.json"))
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn rollout_of_transformers_attention_matches_numpy() {
    let golden = golden_json(fixture("bert/minilm/golden.json"));
    let tensors = golden_tensors(fixture("bert/minilm/golden.safetensors"));
    let (layers, heads) = (golden["layers"].as_u64().unwrap() as usize, golden["heads"].as_u64().unwrap() as usize);
    let mut worst = 0.0f32;
    for case in reference()["cases"].as_array().unwrap() {
        let (i, n) = (case["case"].as_u64().unwrap(), case["n"].as_u64().unwrap() as usize);
        let attention = to_f32(&tensors[&format!("case{i}.attn")]);
        let ours = attention_rollout(&attention, layers, heads, n);
        let d = max_abs_diff(&ours, &floats(&case["rollout"]));
        assert!(d <= 1e-5, "case {i}: rollout max |Δ| {d:e}");
        worst = worst.max(d);
    }
    println!("rollout of transformers' attention vs NumPy: max |Δ| {worst:.2e} (5 cases)");
}

#[test]
fn cli_rollout_matches_numpy() {
    let mut worst = 0.0f32;
    for case in reference()["cases"].as_array().unwrap().iter().take(2) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"));
        cmd.args(["attention", "--model"]).arg(minilm_dir()).args(["--text", case["text"].as_str().unwrap(), "--rollout"]);
        if let Some(b) = case["text_b"].as_str() {
            cmd.args(["--text-b", b]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = json["rollout"].as_array().expect("a rollout");
        assert_eq!(rows.len(), case["n"].as_u64().unwrap() as usize, "[n][n]");
        let ours: Vec<f32> = rows.iter().flat_map(floats).collect();
        let d = max_abs_diff(&ours, &floats(&case["rollout"]));
        assert!(d <= 1e-5, "case {}: rollout max |Δ| {d:e}", case["case"]);
        worst = worst.max(d);
    }
    println!("nlu-lab attention --rollout vs NumPy on transformers' attention: max |Δ| {worst:.2e}");
}
