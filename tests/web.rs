//! Browser tests (wasm-bindgen-test in headless Chromium): the engine compiled to wasm against the reference,
//! and the browser glue — worker messages, hub URLs, fetching from the loopback hub.
#![cfg(target_arch = "wasm32")]

use candle_core::Device;
use nlu_lab::engine::heads_off::HeadsOff;
use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};
use nlu_lab::web::hub::{file_url, validate_hub, DEFAULT_HUB};
use nlu_lab::web::messages::{decode, encode, Envelope, ModelSource, Request, Response};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $path))
    };
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The same engine, compiled to wasm with SIMD128, equals transformers on every tiny-BERT golden case.
#[wasm_bindgen_test]
fn tiny_bert_in_wasm_matches_transformers() {
    let config = std::str::from_utf8(fixture!("bert/tiny-bert/config.json")).unwrap();
    let files = CheckpointFiles {
        config_json: config,
        tokenizer_json: fixture!("bert/tiny-bert/tokenizer.json"),
        safetensors: fixture!("bert/tiny-bert/model.safetensors"),
    };
    let lab = AttentionModel::load("tiny-bert", &files).unwrap();
    let golden: serde_json::Value = serde_json::from_slice(fixture!("bert/tiny-bert/golden.json")).unwrap();
    let tensors = candle_core::safetensors::load_buffer(fixture!("bert/tiny-bert/golden.safetensors"), &Device::Cpu).unwrap();
    for (i, case) in golden["cases"].as_array().unwrap().iter().enumerate() {
        let data = lab.attention(case["text"].as_str().unwrap(), case["text_b"].as_str(), true).unwrap();
        let tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
        assert_eq!(data.tokens, tokens);
        let want: Vec<f32> = tensors[&format!("case{i}.attn")].flatten_all().unwrap().to_vec1().unwrap();
        let d = max_abs_diff(&data.weights, &want);
        assert!(d <= 1e-5, "case {i}: attention max |Δ| {d:e}");
        let want_q: Vec<f32> = tensors[&format!("case{i}.q")].flatten_all().unwrap().to_vec1().unwrap();
        let dq = max_abs_diff(data.queries.as_ref().unwrap(), &want_q);
        assert!(dq <= 1e-4, "case {i}: queries max |Δ| {dq:e}");
    }
}

/// Heads switched off in wasm (the packed attention kernel) equal transformers' `head_mask` on the tiny RoBERTa.
#[wasm_bindgen_test]
fn heads_off_in_wasm_match_transformers_head_mask() {
    let config = std::str::from_utf8(fixture!("bert/tiny-roberta/config.json")).unwrap();
    let files = CheckpointFiles {
        config_json: config,
        tokenizer_json: fixture!("bert/tiny-roberta/tokenizer.json"),
        safetensors: fixture!("bert/tiny-roberta/model.safetensors"),
    };
    let lab = AttentionModel::load("tiny-roberta", &files).unwrap();
    let golden: serde_json::Value = serde_json::from_slice(fixture!("bert/tiny-roberta/head_mask.json")).unwrap();
    let tensors = candle_core::safetensors::load_buffer(fixture!("bert/tiny-roberta/head_mask.safetensors"), &Device::Cpu).unwrap();
    let off = HeadsOff::parse(golden["heads_off"].as_str().unwrap()).unwrap();
    for case in golden["cases"].as_array().unwrap() {
        let i = case["case"].as_u64().unwrap();
        let data = lab.attention_with_heads_off(case["text"].as_str().unwrap(), case["text_b"].as_str(), false, &off).unwrap();
        let want: Vec<f32> = tensors[&format!("case{i}.attn")].flatten_all().unwrap().to_vec1().unwrap();
        let d = max_abs_diff(&data.weights, &want);
        assert!(d <= 1e-4, "case {i}: attention with heads {off} off, max |Δ| {d:e}");
    }
}

/// GPT-2 compiled to wasm (the packed attention kernel with the causal mask) equals transformers' GPT2Model on the
/// small random GPT-2 with GPT-2's real tokenizer.
#[wasm_bindgen_test]
fn tiny_gpt2_in_wasm_matches_transformers() {
    let config = std::str::from_utf8(fixture!("gpt2/tiny-gpt2/config.json")).unwrap();
    let files = CheckpointFiles {
        config_json: config,
        tokenizer_json: fixture!("gpt2/tiny-gpt2/tokenizer.json"),
        safetensors: fixture!("gpt2/tiny-gpt2/model.safetensors"),
    };
    let lab = nlu_lab::engine::pipeline::DecoderModel::load("tiny-gpt2", &files).unwrap();
    let golden: serde_json::Value = serde_json::from_slice(fixture!("gpt2/tiny-gpt2/golden.json")).unwrap();
    let tensors = candle_core::safetensors::load_buffer(fixture!("gpt2/tiny-gpt2/golden.safetensors"), &Device::Cpu).unwrap();
    for (i, case) in golden["cases"].as_array().unwrap().iter().enumerate() {
        let enc = lab.tokenizer.encode(case["text"].as_str().unwrap(), None, lab.model.config.n_positions).unwrap();
        let tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
        assert_eq!(enc.tokens, tokens);
        let out = lab.model.forward(&enc.ids, &HeadsOff::default()).unwrap();
        let attn: Vec<f32> = out.layers.iter().flat_map(|l| l.probs.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect();
        let want: Vec<f32> = tensors[&format!("case{i}.attn")].flatten_all().unwrap().to_vec1().unwrap();
        let d = max_abs_diff(&attn, &want);
        assert!(d <= 1e-4, "case {i}: attention max |Δ| {d:e}");
        // The queries and keys the neuron view shows, within 1e-3 as natively.
        for (name, pick) in [("q", 0), ("k", 1)] {
            let got: Vec<f32> = out
                .layers
                .iter()
                .flat_map(|l| if pick == 0 { &l.queries } else { &l.keys }.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect();
            let want: Vec<f32> = tensors[&format!("case{i}.{name}")].flatten_all().unwrap().to_vec1().unwrap();
            let d = max_abs_diff(&got, &want);
            assert!(d <= 1e-3, "case {i}: {name} max |Δ| {d:e}");
        }
    }
}

#[wasm_bindgen_test]
fn messages_survive_the_transfer_encoding() {
    let request = Envelope {
        id: 7,
        body: Request::Attention {
            source: ModelSource { hub: DEFAULT_HUB.into(), repo: "a/b".into(), revision: "main".into(), pack: None },
            text: "Grüße 🙂".into(),
            text_b: Some("zwei".into()),
            queries_keys: true,
            heads_off: HeadsOff::parse("0:3,2:11").unwrap(),
            mask: Some(2),
        },
    };
    let (buffer, transfer) = encode(&request).unwrap();
    assert_eq!(transfer.length(), 1, "the buffer is transferred, not copied");
    let back: Envelope<Request> = decode(&buffer).unwrap();
    assert_eq!(format!("{back:?}"), format!("{request:?}"));
    let garbage = js_sys::Uint8Array::from(&[255u8, 255, 255][..]).buffer();
    assert!(decode::<Envelope<Response>>(&garbage.into()).is_err());
}

#[wasm_bindgen_test]
fn hub_urls_are_https_or_loopback() {
    assert_eq!(validate_hub(&format!("{DEFAULT_HUB}/")).unwrap(), DEFAULT_HUB, "a trailing slash is dropped");
    assert!(validate_hub("https://mirror.example.edu/hf").is_ok());
    assert!(validate_hub("http://127.0.0.1:8090").is_ok());
    assert!(validate_hub("http://localhost:8090").is_ok());
    assert!(validate_hub("http://example.com").is_err());
    assert!(validate_hub("javascript:alert(1)").is_err());
    assert!(validate_hub("not a url").is_err());
    // A mirror bundled with the site: a path on this page's own origin, returned absolute.
    let origin = web_sys::window().unwrap().location().origin().unwrap();
    let bundled = validate_hub("models/").unwrap();
    assert!(bundled.starts_with(&origin) && bundled.ends_with("/models"), "{bundled}");
    assert_eq!(validate_hub(&format!("{origin}/models")).unwrap(), format!("{origin}/models"), "same origin, even over http");
    assert!(validate_hub("//example.com/hf").is_err(), "protocol-relative: another origin");
    assert!(validate_hub("").is_err());
    assert_eq!(
        file_url(DEFAULT_HUB, "openai/clip-vit-base-patch32", "refs/pr/15", "model.safetensors"),
        format!("{DEFAULT_HUB}/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors")
    );
}

/// Fetch through the loopback hub (started by scripts/test.sh; its URL is baked in at compile time).
#[wasm_bindgen_test]
async fn fetch_follows_the_hub_redirect_with_progress() {
    let Some(hub) = option_env!("NLU_LAB_TEST_HUB") else {
        panic!("NLU_LAB_TEST_HUB is not set: run the browser tests through scripts/test.sh");
    };
    let url = file_url(hub, "sentence-transformers/all-MiniLM-L6-v2", "main", "config.json");
    let seen = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let s = seen.clone();
    let bytes = nlu_lab::web::fetch::fetch_bytes(&url, &move |done, _| s.set(done)).await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(config["hidden_size"], 384);
    assert_eq!(seen.get(), bytes.len() as u64);
    let missing = file_url(hub, "sentence-transformers/all-MiniLM-L6-v2", "main", "nope.bin");
    let err = nlu_lab::web::fetch::fetch_bytes(&missing, &|_, _| {}).await.unwrap_err();
    assert!(err.contains("404"), "{err}");
}

/// The SIMD128 matmul kernel (what the app's linear layers run in wasm) against candle's product, for every row
/// count that ends in a different tail: the 4-row micro-kernel, and the 2-row one for the last one or two rows.
/// The SIMD128 widening of f16 and int8 panels gives exactly the plain-loop product (`kernels::reference_product`):
/// every row tail, a column tail, and f16 subnormals, zeros and both signs.
#[wasm_bindgen_test]
fn compact_kernels_in_wasm_compute_exactly_the_reference_product() {
    use candle_core::{Module, Tensor};
    use nlu_lab::engine::compact::{CompactMatrix, Precision};
    use nlu_lab::engine::kernels::{reference_product, PackedLinear};
    let dev = Device::Cpu;
    let (k, n) = (37, 21);
    let mut w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    // Halves' edge cases: subnormal, signed zeros, the largest finite.
    w[..5].copy_from_slice(&[3e-6, -4e-7, 0.0, -0.0, 65504.0]);
    let bias = Tensor::randn(0f32, 1.0, n, &dev).unwrap().to_vec1::<f32>().unwrap();
    for precision in [Precision::F16, Precision::Int8] {
        let matrix = CompactMatrix::from_f32(w.clone(), n, k, precision).unwrap();
        let layer = PackedLinear::from_matrix(matrix.clone(), Some(bias.clone())).unwrap();
        for m in 1..=9 {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let got = layer.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(got, reference_product(&xs, m, &matrix, Some(&bias)), "{precision:?}, {m} rows");
        }
    }
}

#[wasm_bindgen_test]
fn packed_linear_in_wasm_matches_candle_for_every_row_tail() {
    use candle_core::{Module, Tensor};
    use nlu_lab::engine::kernels::PackedLinear;
    let dev = Device::Cpu;
    let (k, n) = (37, 21);
    let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
    let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
    let linear = candle_nn::Linear::new(w, Some(b));
    let packed = PackedLinear::new(linear.clone()).unwrap();
    for m in 1..=9 {
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let want: Vec<f32> = linear.forward(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let got: Vec<f32> = packed.forward_packed(&x, None).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let d = max_abs_diff(&got, &want);
        assert!(d < 1e-4, "{m} rows: max |Δ| {d:e}");
    }
}
