//! Bad input gets a clear error, never a panic: empty and huge text, control characters, broken checkpoints.

mod common;

use common::*;
use nlu_lab::engine::bert::Config;
use nlu_lab::engine::Error;

/// Rewrite tiny-bert's safetensors with one tensor removed or replaced.
fn edit_weights(weights: &[u8], name: &str, replacement: Option<(Vec<usize>, Vec<f32>)>) -> Vec<u8> {
    let tensors = safetensors::SafeTensors::deserialize(weights).unwrap();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != name)
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    if let Some((shape, values)) = replacement {
        owned.push((name.to_string(), shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, s, d)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn empty_and_blank_text_are_refused() {
    let t = tiny();
    let lab = load(&t.config, &t.tokenizer, &t.weights).unwrap();
    for text in ["", "   ", "\n\t"] {
        let err = lab.attention(text, None, false).unwrap_err();
        assert!(matches!(err, Error::EmptyInput), "{text:?}: {err}");
        assert!(err.to_string().contains("enter some text"));
    }
}

#[test]
fn ten_thousand_characters_are_truncated_and_reported() {
    let t = tiny();
    let lab = load(&t.config, &t.tokenizer, &t.weights).unwrap();
    let text = "the cat sat on the mat. ".repeat(420);
    assert!(text.chars().count() >= 10_000);
    let data = lab.attention(&text, None, true).unwrap();
    assert_eq!(data.len(), 64, "cut to the model's 64 positions");
    assert!(data.dropped_tokens > 2000, "dropped {}", data.dropped_tokens);
    assert_eq!(data.tokens.last().unwrap(), "[SEP]");
}

#[test]
fn control_characters_only_is_a_clear_error_and_mixed_ones_are_dropped() {
    let t = tiny();
    let lab = load(&t.config, &t.tokenizer, &t.weights).unwrap();
    let err = lab.attention("\u{0}\u{1}\u{7f}\u{1b}", None, false).unwrap_err();
    assert!(matches!(err, Error::NoTokens), "{err}");
    let data = lab.attention("the\u{0} cat\u{7}", None, false).unwrap();
    let clean = lab.attention("the cat", None, false).unwrap();
    assert_eq!(data.tokens, clean.tokens, "control characters are dropped as BERT's normaliser does");
}

#[test]
fn missing_tensor_is_named() {
    let t = tiny();
    let name = "encoder.layer.1.attention.self.key.weight";
    let weights = edit_weights(&t.weights, name, None);
    let err = load(&t.config, &t.tokenizer, &weights).err().expect("must fail");
    assert!(err.to_string().contains(name), "{err}");
}

#[test]
fn mis_shaped_tensor_is_named_with_both_shapes() {
    let t = tiny();
    let name = "encoder.layer.0.attention.self.query.weight";
    let weights = edit_weights(&t.weights, name, Some((vec![32, 16], vec![0.0; 32 * 16])));
    let err = load(&t.config, &t.tokenizer, &weights).err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains(name) && msg.contains("16"), "{msg}");
}

#[test]
fn unknown_model_type_and_broken_files_are_clear_errors() {
    let t = tiny();
    let gpt = t.config.replace("\"bert\"", "\"gpt2\"");
    let err = Config::from_json(&gpt).unwrap_err();
    assert!(err.to_string().contains("unknown model_type \"gpt2\""), "{err}");
    assert!(Config::from_json("{not json").unwrap_err().to_string().starts_with("config.json"));
    assert!(load(&t.config, b"{}", &t.weights).err().unwrap().to_string().starts_with("tokenizer.json"));
    let err = load(&t.config, &t.tokenizer, b"definitely not safetensors").err().unwrap();
    assert!(err.to_string().contains("model.safetensors is damaged"), "{err}");
    let err = load(&t.config, &t.tokenizer, &[]).err().unwrap();
    assert!(err.to_string().starts_with("weights:"), "{err}");
}
