//! The attention data's analyses: slices, hidden special tokens, word merges, head statistics, neuron view.

mod common;

use common::*;
use nlu_lab::engine::attention::{MatrixOptions, PairFilter};
use nlu_lab::engine::attention::{AttentionData, Pick};
use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};

fn minilm() -> AttentionModel {
    let dir = minilm_dir();
    let config = String::from_utf8(read(dir.join("config.json"))).unwrap();
    let tokenizer = read(dir.join("tokenizer.json"));
    let weights = read(dir.join("model.safetensors"));
    AttentionModel::load("minilm", &CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights })
        .unwrap()
}

fn pair() -> AttentionData {
    minilm().attention("The unbelievable cat sat.", Some("It was exhausted by tokenization."), true).unwrap()
}

fn assert_rows_sum_to_one(values: &[f32], width: usize) {
    for (r, row) in values.chunks(width).enumerate() {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row {r} sums to {s}");
    }
}

#[test]
fn pair_filters_select_the_right_blocks() {
    let d = pair();
    let seg_a = d.segments.iter().filter(|&&s| s == 0).count();
    let seg_b = d.len() - seg_a;
    assert_eq!(d.tokens[seg_a - 1], "[SEP]", "A ends with its [SEP]");
    let full = d.head(2, 3);
    let n = d.len();
    for (filter, rows, cols, r0, c0) in [
        (PairFilter::All, n, n, 0, 0),
        (PairFilter::AToA, seg_a, seg_a, 0, 0),
        (PairFilter::AToB, seg_a, seg_b, 0, seg_a),
        (PairFilter::BToA, seg_b, seg_a, seg_a, 0),
        (PairFilter::BToB, seg_b, seg_b, seg_a, seg_a),
    ] {
        let m = d.matrix(Pick::One(2), Pick::One(3), &MatrixOptions { filter, ..Default::default() });
        assert_eq!((m.rows.len(), m.cols.len()), (rows, cols), "{filter:?}");
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(m.get(r, c), full[(r0 + r) * n + c0 + c], "{filter:?} [{r},{c}]");
            }
        }
    }
}

#[test]
fn hiding_special_tokens_with_and_without_renormalising() {
    let d = pair();
    let raw = d.matrix(Pick::One(0), Pick::One(0), &MatrixOptions { hide_special: true, ..Default::default() });
    assert!(raw.rows.iter().chain(&raw.cols).all(|l| !l.special));
    assert_eq!(raw.rows.len(), d.len() - 3);
    assert!(raw.values.chunks(raw.cols.len()).any(|row| row.iter().sum::<f32>() < 0.999));
    let renorm = d.matrix(Pick::One(0), Pick::One(0), &MatrixOptions { hide_special: true, renormalize: true, ..Default::default() });
    assert_rows_sum_to_one(&renorm.values, renorm.cols.len());
}

#[test]
fn word_merge_sums_attention_to_a_word_and_averages_from_it() {
    let d = pair();
    let pieces: Vec<&str> = d.tokens.iter().map(String::as_str).collect();
    let first = pieces.iter().position(|t| t.starts_with("##")).expect("a split word") - 1;
    let last = (first + 1..d.len()).take_while(|&i| d.tokens[i].starts_with("##")).last().unwrap();
    let m = d.matrix(Pick::One(1), Pick::One(5), &MatrixOptions { words: true, ..Default::default() });
    assert_rows_sum_to_one(&m.values, m.cols.len());
    let w = m.rows.iter().position(|l| l.tokens == [first, last + 1]).expect("merged word");
    assert_eq!(m.rows[w].text, "tokenization", "word label from the original text");
    assert_eq!(m.rows[w].raw, d.tokens[first..=last].join(" "), "the raw pieces for the tooltip");
    // Token by token: the pieces without their ##, each later one marked as continuing the word.
    let tokens = d.matrix(Pick::One(1), Pick::One(5), &MatrixOptions::default());
    let shown: Vec<&str> = tokens.rows[first..=last].iter().map(|l| l.text.as_str()).collect();
    let want: Vec<String> = (first..=last)
        .map(|i| if i == first { d.tokens[i].clone() } else { format!("·{}", &d.tokens[i][2..]) })
        .collect();
    assert_eq!(shown, want);
    assert_eq!(tokens.rows[first + 1].raw, d.tokens[first + 1]);
    assert_eq!(d.display_tokens()[0], "[CLS]", "special tokens as they are");
    let full = d.head(1, 5);
    let n = d.len();
    // Attention from [CLS] to the word = sum over its pieces.
    let to_word: f32 = (first..=last).map(|j| full[j]).sum();
    assert!((m.get(0, w) - to_word).abs() < 1e-6);
    // Attention from the word to [CLS] = mean over its pieces.
    let from_word: f32 = (first..=last).map(|i| full[i * n]).sum::<f32>() / (last - first + 1) as f32;
    assert!((m.get(w, 0) - from_word).abs() < 1e-6);
}

#[test]
fn averages_over_heads_and_layers() {
    let d = pair();
    let n = d.len();
    let mean = d.pick(Pick::One(4), Pick::Mean);
    let manual: f32 = (0..d.num_heads).map(|h| d.head(4, h)[n + 2]).sum::<f32>() / d.num_heads as f32;
    assert!((mean[n + 2] - manual).abs() < 1e-6);
    let all = d.pick(Pick::Mean, Pick::Mean);
    assert_rows_sum_to_one(&all, n);
}

#[test]
fn neuron_view_softmax_equals_the_attention_row() {
    let d = pair();
    for (layer, head, token) in [(0, 0, 1), (3, 7, 4), (5, 11, d.len() - 1)] {
        let v = d.neuron(layer, head, token).unwrap();
        let row = &d.head(layer, head)[token * d.len()..(token + 1) * d.len()];
        let diff = max_abs_diff(&v.softmax, row);
        assert!(diff < 1e-5, "layer {layer} head {head} token {token}: |Δ| {diff:e}");
        // q·k/√d from the products; the view multiplies by 1/√d, so the two may differ in the last bit.
        let score = v.products[2].iter().sum::<f32>() / (d.head_dim as f32).sqrt();
        assert!((score - v.scores[2]).abs() <= 2.0 * f32::EPSILON * score.abs(), "{score} vs {}", v.scores[2]);
    }
    let no_qk = minilm().attention("A cat.", None, false).unwrap();
    assert!(no_qk.neuron(0, 0, 0).is_none(), "no queries/keys captured → no neuron view");
}

#[test]
fn head_statistics_find_positional_and_delimiter_heads() {
    let d = minilm().attention("The quick brown fox jumps over the lazy dog near the river bank today.", None, false).unwrap();
    let stats = d.all_head_stats();
    let roles: Vec<(usize, usize, &str)> = stats
        .iter()
        .enumerate()
        .flat_map(|(l, hs)| hs.iter().enumerate().filter_map(move |(h, s)| s.role().map(|r| (l, h, r))))
        .collect();
    println!("head roles: {roles:?}");
    assert!(roles.iter().any(|r| r.2 == "previous token" || r.2 == "next token"), "MiniLM has positional heads");
    for hs in &stats {
        for s in hs {
            assert!((0.0..=1.0001).contains(&s.entropy_norm));
            assert!(s.to_prev <= 1.0001 && s.to_sep <= 1.0001 && s.max <= 1.0001);
        }
    }
    // A synthetic identity head is "self".
    let mut synthetic = d.clone();
    let n = d.len();
    synthetic.weights[..n * n].iter_mut().enumerate().for_each(|(i, w)| *w = if i / n == i % n { 1.0 } else { 0.0 });
    assert_eq!(synthetic.head_stats(0, 0).role(), Some("self"));
    assert_eq!(synthetic.head_stats(0, 0).entropy, 0.0);
}

#[test]
fn top_mass_threshold_keeps_the_largest_weights() {
    let d = pair();
    let m = d.matrix(Pick::One(0), Pick::One(1), &MatrixOptions::default());
    let thin = m.keep_top_mass(0.5);
    for r in 0..m.rows.len() {
        let kept: f32 = thin.row(r).iter().sum();
        assert!(kept >= 0.5 - 1e-6, "row {r} keeps {kept}");
        let smallest_kept = thin.row(r).iter().copied().filter(|&v| v > 0.0).fold(f32::INFINITY, f32::min);
        let largest_dropped =
            m.row(r).iter().zip(thin.row(r)).filter(|(_, t)| **t == 0.0).map(|(v, _)| *v).fold(0.0, f32::max);
        assert!(largest_dropped <= smallest_kept);
    }
}

/// Issue #18: the first-visit example shipped in the site (web/examples/minilm-attention.json) is the real
/// all-MiniLM-L6-v2's attention on the form's default sentence, to its one-byte rounding, rows summing to 1.
#[test]
fn the_shipped_example_is_minilms_attention_to_its_rounding() {
    use nlu_lab::engine::attention::decode_example;
    let example = decode_example(&String::from_utf8(read(repo().join("web/examples/minilm-attention.json"))).unwrap()).unwrap();
    let real = minilm().attention(&example.text, None, false).unwrap();
    assert_eq!(example.text, "The cat sat on the mat because it was tired.");
    assert_eq!(example.tokens, real.tokens);
    assert_eq!((example.num_layers, example.num_heads, example.offsets.clone()), (real.num_layers, real.num_heads, real.offsets.clone()));
    let d = max_abs_diff(&example.weights, &real.weights);
    assert!(d <= 1.0 / 255.0, "example vs MiniLM: attention max |Δ| {d:e}");
    let n = example.tokens.len();
    let worst_row = example.weights.chunks(n).map(|r| (r.iter().sum::<f32>() - 1.0).abs()).fold(0.0f32, f32::max);
    assert!(worst_row <= 1e-5, "a row sums to 1 ± {worst_row:e}");
    assert!(example.queries.is_none() && example.keys.is_none());
    let size = read(repo().join("web/examples/minilm-attention.json")).len();
    println!("example: {n} tokens, {size} bytes, attention max |Δ| {d:.2e} vs all-MiniLM-L6-v2 computed now");
}

#[test]
fn an_example_file_that_does_not_fit_is_refused() {
    use nlu_lab::engine::attention::{decode_example, encode_example};
    let data = load(&tiny().config, &tiny().tokenizer, &tiny().weights).unwrap().attention("hello world", None, false).unwrap();
    let json = encode_example(&data);
    let back = decode_example(&json).unwrap();
    assert_eq!(back.tokens, data.tokens);
    assert!(max_abs_diff(&back.weights, &data.weights) <= 1.0 / 255.0);
    let mut doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["weights_u8"] = serde_json::json!("AAAA");
    let err = decode_example(&doc.to_string()).unwrap_err().to_string();
    assert!(err.contains("3 weights for"), "{err}");
    doc["schema"] = serde_json::json!("nlu-lab/attention@1");
    assert!(decode_example(&doc.to_string()).unwrap_err().to_string().contains("not nlu-lab/attention-example@1"));
}
