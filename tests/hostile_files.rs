//! Files from a hostile hub (or a damaged download): a safetensors header that lies about its size, offsets or
//! shapes; configs with absurd dimensions; JSON bombs; oversized tokenizers. Each must end in a message naming the
//! problem, before anything is allocated from the lie. Each case prints how long it took (never asserted: see
//! scripts/bench*.sh for measurements); `cargo test --test hostile_files -- --nocapture` shows them with the messages.

mod common;

use std::time::Instant;

use common::*;
use nlu_lab::engine::bert::Config as BertConfig;
use nlu_lab::engine::clip::Config as ClipConfig;
use nlu_lab::engine::image_prep::PreprocessConfig;
use nlu_lab::engine::pipeline::AttentionModel;
use nlu_lab::engine::Error;
use serde_json::{json, Value};

/// Run `f`, print the case's time and the error it gave, and return that error's text.
fn refused<T>(case: &str, f: impl FnOnce() -> Result<T, Error>) -> String {
    let start = Instant::now();
    let result = f();
    let elapsed = start.elapsed();
    let Err(err) = result else { panic!("{case}: accepted") };
    eprintln!("[{:>8.1} ms] {case}: {err}", elapsed.as_secs_f64() * 1e3);
    err.to_string()
}

fn assert_says(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "{msg:?} should say {part:?}");
    }
}

/// tiny-bert's weights behind `header` (its length as written, or `declared`) and `data_len` zero bytes.
fn safetensors_file(header: &Value, declared: Option<u64>, data_len: usize) -> Vec<u8> {
    let text = header.to_string();
    let mut file = declared.unwrap_or(text.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(text.as_bytes());
    file.resize(file.len() + data_len, 0);
    file
}

fn load_weights(file: &[u8]) -> Result<AttentionModel, Error> {
    let t = tiny();
    load(&t.config, &t.tokenizer, file)
}

fn f32_entry(shape: &[u64], start: u64, end: u64) -> Value {
    json!({"dtype": "F32", "shape": shape, "data_offsets": [start, end]})
}

// ---- model.safetensors ----

#[test]
fn header_lengths_of_2_to_the_64_and_200_mb_are_refused_before_allocating() {
    for declared in [u64::MAX, 200_000_000] {
        let file = safetensors_file(&json!({}), Some(declared), 0);
        let msg = refused(&format!("safetensors header length {declared}"), || load_weights(&file));
        assert_says(&msg, &["model.safetensors is damaged", &format!("header claims {declared} bytes"), "at most 100000000"]);
    }
    // Under the cap, but longer than the file.
    let file = safetensors_file(&json!({}), Some(50_000_000), 64);
    let msg = refused("safetensors header length 50 MB in a 74-byte file", || load_weights(&file));
    assert_says(&msg, &["header claims 50000000 bytes, but the whole file is 74"]);
}

#[test]
fn offsets_past_the_end_overlapping_or_with_gaps_are_refused() {
    let past = safetensors_file(&json!({"a": f32_entry(&[250], 0, 1000)}), None, 16);
    let msg = refused("data_offsets past the end", || load_weights(&past));
    assert_says(&msg, &["a's data_offsets [0, 1000) reach past the end of the file (16 bytes of data)"]);

    let overlap = safetensors_file(&json!({"a": f32_entry(&[4], 0, 16), "b": f32_entry(&[4], 8, 24)}), None, 24);
    let msg = refused("overlapping data_offsets", || load_weights(&overlap));
    assert_says(&msg, &["b's bytes [8, 24) overlap a's [0, 16)"]);

    let gap = safetensors_file(&json!({"a": f32_entry(&[4], 0, 16), "b": f32_entry(&[4], 20, 36)}), None, 36);
    let msg = refused("gap between tensors", || load_weights(&gap));
    assert_says(&msg, &["b starts at byte 20 of the data, leaving a gap after byte 16"]);

    let trailing = safetensors_file(&json!({"a": f32_entry(&[4], 0, 16)}), None, 20);
    let msg = refused("bytes after the last tensor", || load_weights(&trailing));
    assert_says(&msg, &["its tensors take 16 bytes, but 20 follow the header"]);

    let backwards = safetensors_file(&json!({"a": f32_entry(&[0], 16, 0)}), None, 16);
    let msg = refused("data_offsets ending before they start", || load_weights(&backwards));
    assert_says(&msg, &["a's data_offsets [16, 0) end before they start"]);
}

#[test]
fn offsets_that_do_not_match_dtype_and_shape_are_refused() {
    let short = safetensors_file(&json!({"w": f32_entry(&[4], 0, 12)}), None, 12);
    let msg = refused("offsets shorter than shape × dtype", || load_weights(&short));
    assert_says(&msg, &["w's data_offsets [0, 12) hold 12 bytes, but its shape [4] of F32 needs 16"]);

    let f16 = json!({"h": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 24]}});
    let msg = refused("F16 tensor with F32-sized offsets", || load_weights(&safetensors_file(&f16, None, 24)));
    assert_says(&msg, &["h's data_offsets [0, 24) hold 24 bytes, but its shape [2, 3] of F16 needs 12"]);
}

#[test]
fn absurd_shapes_and_unknown_dtypes_are_refused_naming_the_tensor() {
    let huge = 1u64 << 40;
    let overflow = safetensors_file(&json!({"big": f32_entry(&[huge, huge], 0, 16)}), None, 16);
    let msg = refused("shape [2^40, 2^40]", || load_weights(&overflow));
    assert_says(&msg, &["big's shape [1099511627776, 1099511627776] has an element count that overflows"]);

    // 2^40 elements fit in u64, but are 4 TB in f32; a zero dimension does not make the others harmless.
    let absurd = safetensors_file(&json!({"big": f32_entry(&[0, 1 << 20, 1 << 20], 0, 0)}), None, 0);
    let msg = refused("shape [0, 2^20, 2^20]", || load_weights(&absurd));
    assert_says(&msg, &["big's shape [0, 1048576, 1048576] is absurd: more than 4294967295 elements"]);

    let deep = safetensors_file(&json!({"deep": f32_entry(&[1; 100], 0, 4)}), None, 4);
    let msg = refused("shape of 100 dimensions", || load_weights(&deep));
    assert_says(&msg, &["deep: its shape has more than 8 dimensions"]);

    let q4 = json!({"odd": {"dtype": "Q4_K", "shape": [4], "data_offsets": [0, 2]}});
    let msg = refused("unknown dtype", || load_weights(&safetensors_file(&q4, None, 2)));
    assert_says(&msg, &["odd is of dtype Q4_K, which nlu-lab cannot read"]);

    let negative = json!({"neg": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}});
    let msg = refused("negative dimension", || load_weights(&safetensors_file(&negative, None, 4)));
    assert_says(&msg, &["neg: invalid value: integer `-1`"]);
}

#[test]
fn repeated_names_too_many_tensors_and_deep_nesting_in_the_header_are_refused() {
    let text = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let mut twice = (text.len() as u64).to_le_bytes().to_vec();
    twice.extend_from_slice(text.as_bytes());
    twice.extend_from_slice(&[0; 8]);
    let msg = refused("a tensor named twice", || load_weights(&twice));
    assert_says(&msg, &["a appears twice in its header"]);

    let many: serde_json::Map<String, Value> = (0..10_001).map(|i| (format!("t{i}"), f32_entry(&[0], 0, 0))).collect();
    let msg = refused("10 001 empty tensors", || load_weights(&safetensors_file(&Value::Object(many), None, 0)));
    assert_says(&msg, &["its header: it lists more than 10000 tensors"]);

    // Nesting where a value is read is refused at its first level, and where it is skipped (the metadata, keys
    // nobody reads) serde_json skips without recursing: either way no deep stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bomb = safetensors_file(&json!({}), None, 0);
    let in_shape = [&bomb[8..9], format!(r#""a":{{"dtype":"F32","shape":{deep},"data_offsets":[0,0]}}}}"#).as_bytes()].concat();
    let mut nested = (in_shape.len() as u64).to_le_bytes().to_vec();
    nested.extend_from_slice(&in_shape);
    let msg = refused("a shape nested 100 000 deep", || load_weights(&nested));
    assert_says(&msg, &["model.safetensors is damaged: its header: a: invalid type: sequence, expected u64"]);
    let in_metadata = format!(r#"{{"__metadata__":{deep},"a":{{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":{deep}}}}}"#);
    let mut nested = (in_metadata.len() as u64).to_le_bytes().to_vec();
    nested.extend_from_slice(in_metadata.as_bytes());
    let msg = refused("metadata and an unknown key nested 100 000 deep", || load_weights(&nested));
    assert_says(&msg, &["weights: cannot find tensor embeddings.word_embeddings.weight"]);
}

// ---- config.json, preprocessor_config.json ----

fn bert_config_with(changes: Value) -> String {
    let mut config: Value = serde_json::from_str(&tiny().config).unwrap();
    for (k, v) in changes.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

#[test]
fn bert_configs_with_absurd_dimensions_are_refused() {
    let cases = [
        (json!({"hidden_size": 1_000_000_000}), "hidden_size is 1000000000, outside the 1 to 8192"),
        (json!({"num_attention_heads": 0}), "num_attention_heads is 0, outside the 1 to 256"),
        (json!({"num_hidden_layers": 0}), "num_hidden_layers is 0, outside the 1 to 64"),
        (json!({"num_hidden_layers": 1000}), "num_hidden_layers is 1000, outside the 1 to 64"),
        (json!({"vocab_size": 10_000_000}), "vocab_size is 10000000, outside the 1 to 1000000"),
        (json!({"max_position_embeddings": 1_000_000}), "max_position_embeddings is 1000000, outside the 1 to 16384"),
        (json!({"intermediate_size": 1u64 << 40}), "intermediate_size is 1099511627776, outside the 1 to 65536"),
        (json!({"type_vocab_size": 1_000_000}), "type_vocab_size is 1000000, outside the 0 to 1024"),
        (json!({"hidden_size": 30, "num_attention_heads": 4}), "hidden size 30 is not divisible by 4 heads"),
        (json!({"pad_token_id": u64::MAX}), "pad_token_id 18446744073709551615 is outside the vocabulary (3000)"),
        (json!({"hidden_size": -1}), "invalid value: integer `-1`"),
    ];
    for (change, says) in cases {
        let config = bert_config_with(change.clone());
        let msg = refused(&format!("config.json {change}"), || BertConfig::from_json(&config));
        assert_says(&msg, &["config.json: ", says]);
    }
    let msg = refused("config.json with 1e400", || BertConfig::from_json(&tiny().config.replace("3000", "1e400")));
    assert_says(&msg, &["config.json: ", "number out of range"]);
}

#[test]
fn a_config_far_larger_than_its_weights_fails_at_the_first_tensor_without_allocating_for_it() {
    // Every dimension at its cap: 64 layers of 8192 × 65536 would be 100 GB of f32; the loader compares each
    // tensor's shape with the checkpoint's before taking it, so the first mismatch ends the load.
    let t = tiny();
    let config = bert_config_with(json!({"hidden_size": 8192, "num_attention_heads": 64, "num_hidden_layers": 64,
        "intermediate_size": 65536, "vocab_size": 1_000_000, "max_position_embeddings": 16384}));
    let msg = refused("config.json at every cap, tiny weights", || load(&config, &t.tokenizer, &t.weights));
    assert_says(&msg, &["weights: ", "shape mismatch for", "expected [", "8192]"]);
}

#[test]
fn clip_configs_with_absurd_dimensions_are_refused() {
    let cases = [
        (json!({"vision_config": {"patch_size": 0}}), "vision_config: image size 224 is not a multiple of the patch size 0"),
        (json!({"vision_config": {"image_size": 300}}), "vision_config: image size 300 is not a multiple of the patch size 32"),
        (json!({"vision_config": {"image_size": 100_000, "patch_size": 1000}}), "vision_config.image_size is 100000, outside the 1 to 1024"),
        (json!({"vision_config": {"image_size": 1024, "patch_size": 8}}), "128×128 patches of 8 pixels is more than the 1024 patches"),
        (json!({"vision_config": {"num_hidden_layers": 0}}), "vision_config.num_hidden_layers is 0, outside the 1 to 64"),
        (json!({"vision_config": {"num_channels": 1000}}), "vision_config.num_channels is 1000, outside the 1 to 4"),
        (json!({"text_config": {"num_attention_heads": 0}}), "text_config.num_attention_heads is 0, outside the 1 to 256"),
        (json!({"text_config": {"hidden_size": 1_000_000_000}}), "text_config.hidden_size is 1000000000, outside the 1 to 8192"),
        (json!({"text_config": {"max_position_embeddings": 1u64 << 32}}), "text_config.max_position_embeddings is 4294967296"),
        (json!({"text_config": {"vocab_size": 0}}), "text_config.vocab_size is 0, outside the 1 to 1000000"),
        (json!({"projection_dim": 100_000}), "projection_dim is 100000, outside the 1 to 8192"),
    ];
    for (config, says) in cases {
        let msg = refused(&format!("CLIP config.json {config}"), || ClipConfig::from_json(&config.to_string()));
        assert_says(&msg, &["config.json: ", says]);
    }
    let real = String::from_utf8(read(fixture("clip/tiny-clip-b32/config.json"))).unwrap();
    assert!(ClipConfig::from_json(&real).is_ok(), "the fixture's config stays valid");
}

#[test]
fn preprocessor_configs_with_absurd_sizes_are_refused() {
    let cases = [
        (json!({"crop_size": {"height": 100_000, "width": 224}}), "crop_size.height is 100000, outside the 1 to 4096"),
        (json!({"crop_size": 5000}), "crop_size.height is 5000"),
        (json!({"size": {"shortest_edge": 1_000_000_000}}), "size.shortest_edge is 1000000000, outside the 1 to 4096"),
        (json!({"size": {"height": 224, "width": 1u64 << 32}}), "size.width is 4294967296"),
        (json!({"size": 0}), "unsupported \"size\": 0"),
    ];
    for (config, says) in cases {
        let msg = refused(&format!("preprocessor_config.json {config}"), || PreprocessConfig::from_json(&config.to_string()));
        assert_says(&msg, &["preprocessor_config.json: ", says]);
    }
}

#[test]
fn oversized_and_deeply_nested_configs_are_refused_before_parsing() {
    let padded = bert_config_with(json!({"padding": "x".repeat(2 << 20)}));
    let msg = refused("config.json of 2 MB", || BertConfig::from_json(&padded));
    assert_says(&msg, &["config.json: the file is 2097", "more than the 1 MB nlu-lab reads for it"]);
    let msg = refused("CLIP config.json of 2 MB", || ClipConfig::from_json(&padded));
    assert_says(&msg, &["more than the 1 MB"]);
    let msg = refused("preprocessor_config.json of 2 MB", || PreprocessConfig::from_json(&padded));
    assert_says(&msg, &["preprocessor_config.json: the file is", "more than the 1 MB"]);

    let bomb = format!(r#"{{"model_type": "bert", "x": {}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let msg = refused("config.json nested 100 000 deep", || BertConfig::from_json(&bomb));
    assert_says(&msg, &["config.json: recursion limit exceeded"]);
    let msg = refused("CLIP config.json nested 100 000 deep", || ClipConfig::from_json(&bomb));
    assert_says(&msg, &["recursion limit exceeded"]);
    let msg = refused("preprocessor_config.json nested 100 000 deep", || PreprocessConfig::from_json(&bomb));
    assert_says(&msg, &["recursion limit exceeded"]);
    // Unclosed: the parser must stop at its depth limit, not run to the end of the text.
    let open = format!(r#"{{"x": {}"#, "[".repeat(100_000));
    let msg = refused("config.json of 100 000 unclosed [", || BertConfig::from_json(&open));
    assert_says(&msg, &["recursion limit exceeded"]);
}

// ---- tokenizer.json ----

#[test]
fn a_40_mb_tokenizer_is_refused_by_the_cap_before_parsing() {
    let t = tiny();
    let mut tokenizer: Value = serde_json::from_slice(&t.tokenizer).unwrap();
    tokenizer["padding_text"] = Value::String("x".repeat(40 << 20));
    let big = serde_json::to_vec(&tokenizer).unwrap();
    let msg = refused("tokenizer.json of 40 MB", || load(&t.config, &big, &t.weights));
    assert_says(&msg, &[&format!("tokenizer.json: the file is {} bytes, more than the 32 MB nlu-lab reads for it", big.len())]);
}

#[test]
fn a_deeply_nested_tokenizer_is_a_clear_error_not_a_stack_overflow() {
    let t = tiny();
    let text = String::from_utf8(t.tokenizer.clone()).unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Read as a typed list: refused at the first level.
    let bomb = text.replacen(r#""added_tokens": ["#, &format!(r#""added_tokens": [{deep}, "#), 1);
    let msg = refused("tokenizer.json added_tokens nested 100 000 deep", || load(&t.config, bomb.as_bytes(), &t.weights));
    assert_says(&msg, &["tokenizer.json: invalid type: sequence, expected struct AddedTokenWithId"]);
    // Inside a tagged section, which serde buffers whole before reading its "type": the depth limit holds.
    let bomb = text.replacen(r#""normalizer": {"#, &format!(r#""normalizer": {{"x": {deep}, "#), 1);
    let msg = refused("tokenizer.json normalizer with a value nested 100 000 deep", || load(&t.config, bomb.as_bytes(), &t.weights));
    assert_says(&msg, &["tokenizer.json: ", "recursion limit exceeded"]);
    // A structure the format does allow to nest: Sequence normalizers 50 000 deep (JSON depth 100 000).
    let nested = format!(
        r#"{}{{"type": "Lowercase"}}{}"#,
        r#"{"type": "Sequence", "normalizers": ["#.repeat(50_000),
        "]}".repeat(50_000)
    );
    let mut tokenizer: Value = serde_json::from_str(&text).unwrap();
    tokenizer["normalizer"] = Value::Null;
    let bomb = serde_json::to_string(&tokenizer).unwrap().replacen(r#""normalizer":null"#, &format!(r#""normalizer":{nested}"#), 1);
    assert!(bomb.len() > 1_000_000);
    let msg = refused("tokenizer.json with Sequence normalizers 50 000 deep", || load(&t.config, bomb.as_bytes(), &t.weights));
    assert_says(&msg, &["tokenizer.json: ", "recursion limit exceeded"]);
}

#[test]
fn a_huge_vocabulary_or_added_token_list_within_the_cap_loads_in_bounded_time() {
    let t = tiny();
    let base: Value = serde_json::from_slice(&t.tokenizer).unwrap();

    // A million word pieces (vs tiny-bert's 3000, multilingual BERT's 120 k).
    let mut vocab = base.clone();
    let pieces = vocab["model"]["vocab"].as_object_mut().unwrap();
    for i in 0..1_000_000u32 {
        pieces.insert(format!("zz{i}"), Value::from(3000 + i));
    }
    let vocab = serde_json::to_vec(&vocab).unwrap();
    let start = Instant::now();
    let model = load(&t.config, &vocab, &t.weights).unwrap();
    let data = model.attention("the cat sat on the mat", None, false).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    eprintln!("[{ms:>8.1} ms] tokenizer.json of {} MB with 1 000 000 extra word pieces: loaded and ran", vocab.len() >> 20);
    assert_eq!(model.tokenizer.vocab_size(), 1_003_000);
    assert_eq!(data.tokens.first().map(String::as_str), Some("[CLS]"));

    // 100 000 added tokens, each of which the tokenizer must look for in every text.
    let mut added = base;
    let list = added["added_tokens"].as_array_mut().unwrap();
    for i in 0..100_000u32 {
        list.push(json!({"id": 3000 + i, "content": format!("zzadded{i}"), "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": false}));
    }
    let added = serde_json::to_vec(&added).unwrap();
    let start = Instant::now();
    let model = load(&t.config, &added, &t.weights).unwrap();
    let data = model.attention("the cat sat on the mat", None, false).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    eprintln!("[{ms:>8.1} ms] tokenizer.json of {} MB with 100 000 added tokens: loaded and ran", added.len() >> 20);
    assert_eq!(model.tokenizer.vocab_size(), 103_000);
    assert_eq!(data.tokens.first().map(String::as_str), Some("[CLS]"));
}

#[test]
fn the_catalogue_models_configs_are_within_the_caps() {
    // Their dimensions as their hub config.json files give them (the files are not in the repository).
    let berts = [
        r#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
            "intermediate_size": 1536, "max_position_embeddings": 512, "type_vocab_size": 2, "pad_token_id": 0}"#,
        r#"{"model_type": "bert", "vocab_size": 119547, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2, "pad_token_id": 0}"#,
        r#"{"model_type": "distilbert", "vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072,
            "max_position_embeddings": 512, "pad_token_id": 0}"#,
        r#"{"model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1}"#,
        // Not in the catalogue yet: BERT large.
        r#"{"model_type": "bert", "vocab_size": 30522, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
            "intermediate_size": 4096, "max_position_embeddings": 512, "type_vocab_size": 2, "pad_token_id": 0}"#,
    ];
    for json in berts {
        BertConfig::from_json(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    }
    let clips = [
        json!({"projection_dim": 512, "vision_config": {"patch_size": 16}}),
        json!({"projection_dim": 768,
            "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
            "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                "num_hidden_layers": 24, "patch_size": 14}}),
        // CLIP L/14 at 336 pixels: 576 patches.
        json!({"vision_config": {"hidden_size": 1024, "num_attention_heads": 16, "image_size": 336, "patch_size": 14}}),
    ];
    for config in clips {
        let cfg = ClipConfig::from_json(&config.to_string()).unwrap_or_else(|e| panic!("{e}: {config}"));
        assert!(cfg.vision.num_tokens() <= 577);
    }
    assert_eq!(ClipConfig::vit_base_patch32().vision.num_tokens(), 50);
}

#[test]
fn a_catastrophic_split_regex_in_the_tokenizer_ends_in_bounded_time() {
    // A backreference sends fancy-regex to its backtracking engine, where `(a+)+` on a run of a's is the classic
    // exponential case; fancy-regex bounds the search (backtrack limit 1 000 000), so a hub's regex cannot hang
    // the worker. No match: the run of a's stays one word, too long for WordPiece (100 characters): [UNK].
    let t = tiny();
    let mut tokenizer: Value = serde_json::from_slice(&t.tokenizer).unwrap();
    tokenizer["pre_tokenizer"] =
        json!({"type": "Split", "pattern": {"Regex": r"(a+)+\1c"}, "behavior": "Isolated", "invert": false});
    let tokenizer = serde_json::to_vec(&tokenizer).unwrap();
    let model = load(&t.config, &tokenizer, &t.weights).unwrap();
    let text = "a".repeat(5000);
    let start = Instant::now();
    let data = model.attention(&text, None, false).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    eprintln!("[{ms:>8.1} ms] Split regex (a+)+\\1c over 5000 a's: {:?}", data.tokens);
    assert_eq!(data.tokens, ["[CLS]", "[UNK]", "[SEP]"]);
}
