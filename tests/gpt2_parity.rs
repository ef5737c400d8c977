//! GPT-2 against transformers' `GPT2Model` / `GPT2LMHeadModel` (eager attention), on a small random GPT-2 with
//! GPT-2's real byte-level BPE tokenizer (tests/fixtures/make_gpt2.py: rebuilt from the ranks openai-whisper
//! ships): tokens identical, causal attention within 1e-4 (nothing after the query), queries and keys within 1e-3,
//! the last hidden state and the next-token logits within 1e-4, the same five next tokens.

mod common;

use common::*;
use nlu_lab::engine::pipeline::DecoderModel;
use nlu_lab::engine::heads_off::HeadsOff;
use nlu_lab::engine::pipeline::{CheckpointFiles, LabModel, LabRequest};

/// `load` on the tiny GPT-2's checkpoint files.
fn load_tiny<T>(load: impl FnOnce(&CheckpointFiles) -> T) -> T {
    let dir = fixture("gpt2/tiny-gpt2");
    let config = String::from_utf8(read(dir.join("config.json"))).unwrap();
    let (tokenizer, weights) = (read(dir.join("tokenizer.json")), read(dir.join("model.safetensors")));
    load(&CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights })
}

#[test]
fn tiny_gpt2_matches_transformers() {
    let dir = fixture("gpt2/tiny-gpt2");
    let lab = load_tiny(|files| DecoderModel::load("tiny-gpt2", files).unwrap());
    let (tokenizer, model) = (&lab.tokenizer, &lab.model);
    let golden = golden_json(dir.join("golden.json"));
    let tensors = golden_tensors(dir.join("golden.safetensors"));
    let (mut wa, mut wqk, mut wh, mut wl) = (0f32, 0f32, 0f32, 0f32);
    for (i, case) in golden["cases"].as_array().unwrap().iter().enumerate() {
        let enc = tokenizer.encode(case["text"].as_str().unwrap(), None, model.config.n_positions).unwrap();
        let want_tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
        assert_eq!(enc.tokens, want_tokens, "case {i}: tokens");
        let want_ids: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
        assert_eq!(enc.ids, want_ids, "case {i}: ids");
        let out = model.forward(&enc.ids, &HeadsOff::default()).unwrap();
        let n = enc.ids.len();
        let attn: Vec<f32> = out.layers.iter().flat_map(|l| to_f32(&l.probs)).collect();
        // Causal: a token sees only itself and what came before.
        for (r, row) in attn.chunks(n).enumerate() {
            assert!(row[r % n + 1..].iter().all(|&w| w == 0.0), "case {i}: a weight after the query in row {r}");
        }
        wa = wa.max(max_abs_diff(&attn, &to_f32(&tensors[&format!("case{i}.attn")])));
        let q: Vec<f32> = out.layers.iter().flat_map(|l| to_f32(&l.queries)).collect();
        let k: Vec<f32> = out.layers.iter().flat_map(|l| to_f32(&l.keys)).collect();
        wqk = wqk.max(max_abs_diff(&q, &to_f32(&tensors[&format!("case{i}.q")]))).max(max_abs_diff(&k, &to_f32(&tensors[&format!("case{i}.k")])));
        wh = wh.max(max_abs_diff(&to_f32(&out.hidden), &to_f32(&tensors[&format!("case{i}.hidden")])));
        if let Some(want) = tensors.get(&format!("case{i}.logits")) {
            let logits = model.next_token_logits(&out.hidden.get(n - 1).unwrap()).unwrap();
            wl = wl.max(max_abs_diff(&logits, &to_f32(want)));
            let mut order: Vec<usize> = (0..logits.len()).collect();
            order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
            let want_next: Vec<u64> = case["next"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
            assert_eq!(order[..5].iter().map(|&x| x as u64).collect::<Vec<_>>(), want_next, "case {i}: the next five tokens");
        }
    }
    assert!(wa <= 1e-4 && wqk <= 1e-3 && wh <= 1e-4 && wl <= 1e-4, "attention {wa:e}, q/k {wqk:e}, hidden {wh:e}, logits {wl:e}");
    println!("tiny GPT-2 vs transformers: attention max |Δ| {wa:.2e}, q/k {wqk:.2e}, hidden {wh:.2e}, next-token logits {wl:.2e}");
}

#[test]
fn cli_attention_takes_gpt2_and_prints_the_next_tokens() {
    let dir = fixture("gpt2/tiny-gpt2");
    let golden = golden_json(dir.join("golden.json"));
    let tensors = golden_tensors(dir.join("golden.safetensors"));
    let case = &golden["cases"][0];
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
            .args(["attention", "--model"])
            .arg(&dir)
            .args(["--text", case["text"].as_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--predictions", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tokens"], case["tokens"]);
    let next = json["predictions"]["next"].as_array().unwrap();
    let want = case["next"].as_array().unwrap();
    assert_eq!(next.iter().map(|t| &t["token"]).collect::<Vec<_>>(), want.iter().map(|t| &t["token"]).collect::<Vec<_>>());
    for (got, want) in next.iter().zip(want) {
        assert!((got["prob"].as_f64().unwrap() - want["prob"].as_f64().unwrap()).abs() <= 1e-5);
    }
    let attention = json_floats(&json["attention"]);
    let d = max_abs_diff(&attention, &to_f32(&tensors["case0.attn"]));
    assert!(d <= 1e-4, "CLI attention max |Δ| {d:e}");
    let pair = run(&["--text-b", "a second sentence"]);
    assert!(String::from_utf8_lossy(&pair.stderr).contains("reads one text"), "{}", String::from_utf8_lossy(&pair.stderr));
    let masked = run(&["--mask-token", "1"]);
    assert!(String::from_utf8_lossy(&masked.stderr).contains("has no masked-word head"), "{}", String::from_utf8_lossy(&masked.stderr));
    assert_eq!(json["causal"], true, "the JSON says the attention is causal");
}

/// The attention lab's path (LabModel, as the worker and the package run it): GPT-2 is told apart by its config,
/// its data is marked causal, and the neuron view recomputed from the captured queries and keys shows only the keys
/// at or before the query, its softmax the model's attention row there.
#[test]
fn the_lab_runs_gpt2_causally_and_the_neuron_view_stops_at_the_query() {
    let dir = fixture("gpt2/tiny-gpt2");
    let lab = load_tiny(|files| LabModel::load("tiny-gpt2", files).unwrap());
    assert!(matches!(lab, LabModel::Decoder(_)) && !lab.has_masked_lm());
    let golden = golden_json(dir.join("golden.json"));
    let tensors = golden_tensors(dir.join("golden.safetensors"));
    let case = &golden["cases"][0];
    let off = HeadsOff::default();
    let request = LabRequest { text: case["text"].as_str().unwrap(), text_b: Some(" "), queries_keys: true, heads_off: &off, mask: None, predictions: 5 };
    let run = lab.run(&request).unwrap();
    let data = &run.data;
    assert!(data.causal);
    assert_eq!(run.next.iter().map(|p| p.id as u64).collect::<Vec<_>>(), case["next"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect::<Vec<_>>());
    let d = max_abs_diff(&data.weights, &to_f32(&tensors["case0.attn"]));
    assert!(d <= 1e-4, "attention max |Δ| {d:e}");
    let n = data.len();
    let mut worst = 0f32;
    for layer in 0..data.num_layers {
        for head in 0..data.num_heads {
            for token in 0..n {
                let v = data.neuron(layer, head, token).unwrap();
                assert_eq!(v.keys.len(), n, "every key is shown");
                assert_eq!((v.products.len(), v.scores.len(), v.softmax.len()), (token + 1, token + 1, token + 1), "q×k only up to the query");
                let row = &data.head(layer, head)[token * n..token * n + token + 1];
                worst = worst.max(max_abs_diff(&v.softmax, row));
            }
        }
    }
    assert!(worst <= 1e-5, "neuron view softmax vs the attention row: {worst:e}");
    let pair = LabRequest { text_b: Some("a second sentence"), ..request };
    assert!(lab.run(&pair).is_err(), "a decoder takes no pair");
}

/// Heads switched off against transformers 4.57's `GPT2LMHeadModel` with `head_mask` (make_head_mask.py --gpt2):
/// attention, the last hidden state and the next-token logits within 1e-4, the same five next tokens.
#[test]
fn gpt2_heads_off_match_transformers_head_mask() {
    let dir = fixture("gpt2/tiny-gpt2");
    let lab = load_tiny(|files| DecoderModel::load("tiny-gpt2", files).unwrap());
    let golden = golden_json(dir.join("head_mask.json"));
    let tensors = golden_tensors(dir.join("head_mask.safetensors"));
    let off = HeadsOff::parse(golden["heads_off"].as_str().unwrap()).unwrap();
    let (mut wa, mut wh, mut wl) = (0f32, 0f32, 0f32);
    for case in golden["cases"].as_array().unwrap() {
        let i = case["case"].as_u64().unwrap();
        let text = case["text"].as_str().unwrap();
        let enc = lab.tokenizer.encode(text, None, lab.model.config.n_positions).unwrap();
        let out = lab.model.forward(&enc.ids, &off).unwrap();
        let attn: Vec<f32> = out.layers.iter().flat_map(|l| to_f32(&l.probs)).collect();
        wa = wa.max(max_abs_diff(&attn, &to_f32(&tensors[&format!("case{i}.attn")])));
        wh = wh.max(max_abs_diff(&to_f32(&out.hidden), &to_f32(&tensors[&format!("case{i}.hidden")])));
        let logits = lab.model.next_token_logits(&out.hidden.get(enc.len() - 1).unwrap()).unwrap();
        wl = wl.max(max_abs_diff(&logits, &to_f32(&tensors[&format!("case{i}.logits")])));
        let (_, next) = lab.attention_and_next(text, false, 5, &off).unwrap();
        let want: Vec<&str> = case["next"].as_array().unwrap().iter().map(|t| t["token"].as_str().unwrap()).collect();
        assert_eq!(next.iter().map(|p| p.token.as_str()).collect::<Vec<_>>(), want, "case {i}: the next five tokens with heads off");
    }
    assert!(wa <= 1e-4 && wh <= 1e-4 && wl <= 1e-4, "attention {wa:e}, hidden {wh:e}, logits {wl:e}");
    println!("tiny GPT-2 with heads {off} off vs transformers' head_mask: attention max |Δ| {wa:.2e}, hidden {wh:.2e}, next-token logits {wl:.2e}");
}
