//! The BERT-family engine against transformers (eager attention): tokens identical, attention within 1e-5,
//! queries/keys and hidden states within 1e-4 — on tiny random BERT, DistilBERT and RoBERTa checkpoints and on
//! the real all-MiniLM-L6-v2.

mod common;

use std::path::Path;

use common::*;
use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};
use serde_json::Value;

const ATOL_ATTENTION: f32 = 1e-5;
const ATOL_QK: f32 = 1e-4;
const ATOL_HIDDEN: f32 = 1e-4;

fn load(dir: &Path, weights_file: &str) -> AttentionModel {
    let config = String::from_utf8(read(dir.join("config.json"))).unwrap();
    let tokenizer = read(dir.join("tokenizer.json"));
    let weights = read(dir.join(weights_file));
    let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights };
    AttentionModel::load("test", &files).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn as_u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Check every golden case of one checkpoint; returns the largest differences seen (attention, q/k, hidden).
fn check_model(model_dir: &Path, golden_dir: &str, weights_file: &str) -> (f32, f32, f32) {
    let lab = load(model_dir, weights_file);
    let golden = golden_json(fixture(&format!("{golden_dir}/golden.json")));
    let tensors = golden_tensors(fixture(&format!("{golden_dir}/golden.safetensors")));
    let uses_type_ids = golden["model_uses_token_type_ids"].as_bool().unwrap_or(true);
    let (mut worst_attn, mut worst_qk, mut worst_hidden) = (0.0f32, 0.0f32, 0.0f32);
    for (i, case) in golden["cases"].as_array().unwrap().iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let text_b = case["text_b"].as_str();
        let enc = lab.encode(text, text_b).unwrap();
        let ctx = format!("{golden_dir} case {name}");
        let want_tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
        assert_eq!(enc.tokens, want_tokens, "{ctx}: tokens");
        assert_eq!(enc.ids, as_u32s(&case["input_ids"]), "{ctx}: input ids");
        if uses_type_ids {
            assert_eq!(enc.type_ids, as_u32s(&case["token_type_ids"]), "{ctx}: token type ids");
        }
        let special: Vec<bool> = as_u32s(&case["special_tokens_mask"]).iter().map(|&m| m == 1).collect();
        assert_eq!(enc.special, special, "{ctx}: special tokens");
        let offsets: Vec<[u32; 2]> = serde_json::from_value(case["offsets"].clone()).unwrap();
        assert_eq!(enc.offsets, offsets, "{ctx}: character offsets");
        assert_eq!(enc.dropped as u64, case["dropped"].as_u64().unwrap(), "{ctx}: dropped tokens");

        let data = lab.attention(text, text_b, true).unwrap();
        let attn = max_abs_diff(&data.weights, &to_f32(&tensors[&format!("case{i}.attn")]));
        assert!(attn <= ATOL_ATTENTION, "{ctx}: attention max |Δ| {attn:e} > {ATOL_ATTENTION:e}");
        let (q, k) = (data.queries.as_ref().unwrap(), data.keys.as_ref().unwrap());
        let qk = if let Some(golden_q) = tensors.get(&format!("case{i}.q")) {
            max_abs_diff(q, &to_f32(golden_q)).max(max_abs_diff(k, &to_f32(&tensors[&format!("case{i}.k")])))
        } else {
            // Long cases keep queries/keys for some layers only: `qk_layers_only` = {case index: [layers]}.
            let qk_layers_only: Vec<u64> = golden["qk_layers_only"][i.to_string()]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            assert!(!qk_layers_only.is_empty(), "{ctx}: golden has no queries/keys");
            let per_layer = data.num_heads * data.len() * data.head_dim;
            qk_layers_only
                .iter()
                .map(|&l| {
                    let range = l as usize * per_layer..(l as usize + 1) * per_layer;
                    let gq = to_f32(&tensors[&format!("case{i}.q.layer{l}")]);
                    let gk = to_f32(&tensors[&format!("case{i}.k.layer{l}")]);
                    max_abs_diff(&q[range.clone()], &gq).max(max_abs_diff(&k[range], &gk))
                })
                .fold(0.0, f32::max)
        };
        assert!(qk <= ATOL_QK, "{ctx}: queries/keys max |Δ| {qk:e} > {ATOL_QK:e}");
        let output = lab.model.forward(&enc.ids, &enc.type_ids).unwrap();
        let hidden = max_abs_diff(&to_f32(&output.hidden), &to_f32(&tensors[&format!("case{i}.hidden")]));
        assert!(hidden <= ATOL_HIDDEN, "{ctx}: hidden states max |Δ| {hidden:e} > {ATOL_HIDDEN:e}");
        worst_attn = worst_attn.max(attn);
        worst_qk = worst_qk.max(qk);
        worst_hidden = worst_hidden.max(hidden);
    }
    println!("{golden_dir} ({weights_file}): attention {worst_attn:.2e}, q/k {worst_qk:.2e}, hidden {worst_hidden:.2e}");
    (worst_attn, worst_qk, worst_hidden)
}

#[test]
fn tiny_bert_matches_transformers() {
    check_model(&fixture("bert/tiny-bert"), "bert/tiny-bert", "model.safetensors");
}

#[test]
fn tiny_bert_loads_with_prefix_and_gamma_beta_names() {
    check_model(&fixture("bert/tiny-bert"), "bert/tiny-bert", "model-prefixed.safetensors");
    check_model(&fixture("bert/tiny-bert"), "bert/tiny-bert", "model-gamma.safetensors");
}

#[test]
fn tiny_distilbert_matches_transformers() {
    check_model(&fixture("bert/tiny-distilbert"), "bert/tiny-distilbert", "model.safetensors");
}

#[test]
fn tiny_roberta_matches_transformers() {
    check_model(&fixture("bert/tiny-roberta"), "bert/tiny-roberta", "model.safetensors");
}

#[test]
fn real_minilm_matches_transformers() {
    check_model(&minilm_dir(), "bert/minilm", "model.safetensors");
}

/// The CLI's JSON on the real MiniLM carries the same attention as transformers.
#[test]
fn cli_attention_json_matches_transformers() {
    let golden = golden_json(fixture("bert/minilm/golden.json"));
    let tensors = golden_tensors(fixture("bert/minilm/golden.safetensors"));
    let case = &golden["cases"][1];
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"));
    cmd.args(["attention", "--model"]).arg(minilm_dir()).args(["--text", case["text"].as_str().unwrap()]);
    if let Some(b) = case["text_b"].as_str() {
        cmd.args(["--text-b", b]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "nlu-lab/attention@1");
    assert_eq!(json["tokens"], case["tokens"]);
    let flat: Vec<f32> = json["attention"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l.as_array().unwrap().iter())
        .flat_map(|h| h.as_array().unwrap().iter())
        .flat_map(|r| r.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let d = max_abs_diff(&flat, &to_f32(&tensors["case1.attn"]));
    assert!(d <= ATOL_ATTENTION, "CLI attention max |Δ| {d:e}");
}

/// `--format html` writes a standalone page with the attention embedded (and `<` escaped inside the script).
#[test]
fn cli_standalone_html_embeds_the_attention() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
        .args(["attention", "--format", "html", "--model"])
        .arg(minilm_dir())
        .args(["--text", "a </script><img src=x onerror=alert(1)> test"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let start = html.find(r#"<script id="attention-meta" type="application/json">"#).unwrap();
    let end = start + html[start..].find("</script>").unwrap();
    let json: Value = serde_json::from_str(html[start..end].split_once('>').unwrap().1).unwrap();
    assert_eq!(json["schema"], "nlu-lab/attention-standalone@1");
    assert!(json["tokens"].as_array().unwrap().iter().any(|t| t == "<"), "the '<' survived as data");
    let n = json["tokens"].as_array().unwrap().len();
    assert_eq!(json["shape"], serde_json::json!([6, 12, n, n]));
}
