//! Masked-word predictions against transformers' `BertForMaskedLM`, `DistilBertForMaskedLM` and
//! `RobertaForMaskedLM` (tests/fixtures/make_mlm.py: the tiny fixtures' encoders with a random head, tied decoder):
//! logits at the masked position within 1e-4, the top 5 the same tokens, probabilities within 1e-5, the masked
//! sentence's attention within 1e-5. A checkpoint without a head (the real MiniLM, the fixtures' model.safetensors)
//! says so.

mod common;

use std::path::Path;

use common::*;
use nlu_lab::engine::heads_off::HeadsOff;
use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};

fn load(dir: &Path, weights: &str) -> AttentionModel {
    let config = String::from_utf8(read(dir.join("config.json"))).unwrap();
    let (tokenizer, weights) = (read(dir.join("tokenizer.json")), read(dir.join(weights)));
    let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights };
    AttentionModel::load("test", &files).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn masked_predictions_match_transformers() {
    for name in ["tiny-bert", "tiny-distilbert", "tiny-roberta"] {
        let dir = fixture(&format!("bert/{name}"));
        let lab = load(&dir, "model-mlm.safetensors");
        let golden = golden_json(dir.join("mlm.json"));
        let tensors = golden_tensors(dir.join("mlm.safetensors"));
        let (mut worst_logit, mut worst_prob, mut worst_attn) = (0.0f32, 0.0f32, 0.0f32);
        for case in golden["cases"].as_array().unwrap() {
            let (i, position) = (case["case"].as_u64().unwrap(), case["position"].as_u64().unwrap() as usize);
            let ctx = format!("{name} case {i}");
            let (data, p) =
                lab.masked_predictions(case["text"].as_str().unwrap(), case["text_b"].as_str(), position, 5, true, &HeadsOff::default()).unwrap();
            assert_eq!(data.tokens[position], golden["mask_token"].as_str().unwrap(), "{ctx}");
            assert!(data.queries.is_some() && data.keys.is_some(), "{ctx}: the masked sentence's queries and keys, for the neuron view");
            let logits = max_abs_diff(&p.logits, &to_f32(&tensors[&format!("case{i}.logits")]));
            assert!(logits <= 1e-4, "{ctx}: logits max |Δ| {logits:e}");
            let top = case["top"].as_array().unwrap();
            let want: Vec<String> = top.iter().map(|t| t["token"].as_str().unwrap().to_string()).collect();
            let got: Vec<String> = p.top.iter().map(|t| t.token.clone()).collect();
            assert_eq!(got, want, "{ctx}: the top 5");
            let probs: Vec<f32> = top.iter().map(|t| t["prob"].as_f64().unwrap() as f32).collect();
            let prob = max_abs_diff(&p.top.iter().map(|t| t.prob).collect::<Vec<_>>(), &probs)
                .max((p.original.prob - case["original_prob"].as_f64().unwrap() as f32).abs());
            assert!(prob <= 1e-5, "{ctx}: probabilities max |Δ| {prob:e}");
            assert_eq!(p.original.token, case["original_token"].as_str().unwrap(), "{ctx}");
            let attn = max_abs_diff(&data.weights, &to_f32(&tensors[&format!("case{i}.attn")]));
            assert!(attn <= 1e-5, "{ctx}: attention max |Δ| {attn:e}");
            worst_logit = worst_logit.max(logits);
            worst_prob = worst_prob.max(prob);
            worst_attn = worst_attn.max(attn);
        }
        println!("{name} masked word vs transformers: logits max |Δ| {worst_logit:.2e}, probabilities {worst_prob:.2e}, attention {worst_attn:.2e}");
    }
}

#[test]
fn a_checkpoint_without_a_head_says_so_and_special_tokens_are_refused() {
    let minilm = load(&minilm_dir(), "model.safetensors");
    let e = minilm.masked_predictions("The cat sat.", None, 2, 5, false, &HeadsOff::default()).unwrap_err();
    assert_eq!(e.to_string(), "test has no masked-word head (its checkpoint does not ship one)");
    let plain = load(&fixture("bert/tiny-bert"), "model.safetensors");
    assert!(plain.model.masked_lm.is_none(), "the fixture's encoder-only checkpoint has none");
    let lab = load(&fixture("bert/tiny-bert"), "model-mlm.safetensors");
    let e = lab.masked_predictions("the cat sat.", None, 0, 5, false, &HeadsOff::default()).unwrap_err();
    assert_eq!(e.to_string(), "token 0 ([CLS]) is a special token: mask a word");
    let e = lab.masked_predictions("the cat sat.", None, 99, 5, false, &HeadsOff::default()).unwrap_err();
    assert!(e.to_string().starts_with("token 99 does not exist"), "{e}");
}

#[test]
fn cli_mask_token_prints_the_predictions_of_transformers() {
    let src = fixture("bert/tiny-roberta");
    let dir = std::env::temp_dir().join(format!("nlu-lab-cli-mlm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(src.join("model-mlm.safetensors"), dir.join("model.safetensors")).unwrap();
    let golden = golden_json(src.join("mlm.json"));
    let case = &golden["cases"][0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
        .args(["attention", "--model"])
        .arg(&dir)
        .args(["--text", case["text"].as_str().unwrap(), "--mask-token", &case["position"].to_string(), "--predictions", "5"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &json["predictions"];
    assert_eq!(p["position"], case["position"]);
    assert_eq!(p["original"]["token"], case["original_token"]);
    let tokens = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|t| t["token"].clone()).collect::<Vec<_>>();
    assert_eq!(tokens(&p["top"]), tokens(&case["top"]));
    for (got, want) in p["top"].as_array().unwrap().iter().zip(case["top"].as_array().unwrap()) {
        assert!((got["prob"].as_f64().unwrap() - want["prob"].as_f64().unwrap()).abs() <= 1e-5);
    }
}

/// Masked words with heads switched off, against transformers 4.57's `*ForMaskedLM` with `head_mask`
/// (tests/fixtures/make_head_mask.py --masked-lm): the guesses change as transformers says.
#[test]
fn masked_predictions_with_heads_off_match_transformers_head_mask() {
    for name in ["tiny-bert", "tiny-distilbert", "tiny-roberta"] {
        let dir = fixture(&format!("bert/{name}"));
        let lab = load(&dir, "model-mlm.safetensors");
        let golden = golden_json(dir.join("mlm_head_mask.json"));
        let tensors = golden_tensors(dir.join("mlm_head_mask.safetensors"));
        let off = HeadsOff::parse(golden["heads_off"].as_str().unwrap()).unwrap();
        let position = golden["position"].as_u64().unwrap() as usize;
        let text = golden["text"].as_str().unwrap();
        let (data, p) = lab.masked_predictions(text, None, position, 5, false, &off).unwrap();
        let logits = max_abs_diff(&p.logits, &to_f32(&tensors["logits"]));
        assert!(logits <= 1e-4, "{name}: logits max |Δ| {logits:e}");
        let attn = max_abs_diff(&data.weights, &to_f32(&tensors["attn"]));
        assert!(attn <= 1e-4, "{name}: attention max |Δ| {attn:e}");
        let top = golden["top"].as_array().unwrap();
        assert_eq!(p.top.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), top.iter().map(|t| t["token"].as_str().unwrap()).collect::<Vec<_>>());
        let d = (p.original.prob - golden["original_prob"].as_f64().unwrap() as f32).abs();
        assert!(d <= 1e-5, "{name}: the original token's probability differs by {d:e}");
        let (_, all_on) = lab.masked_predictions(text, None, position, 5, false, &HeadsOff::default()).unwrap();
        assert!((all_on.original.prob - p.original.prob).abs() > 1e-6, "{name}: switching heads off changed the guess");
        println!("{name} masked word with heads {off} off vs transformers' head_mask: logits max |Δ| {logits:.2e}, attention {attn:.2e}");
    }
}
