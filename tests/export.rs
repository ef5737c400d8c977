//! The exports carry exactly the f32s of the attention: the streamed JSON (`write_json`, shortest round-trip
//! numbers) and the standalone page's base64 Float32 payload, at 512 tokens, and from the CLI on a real checkpoint.

mod common;

use base64::Engine;
use common::*;
use nlu_lab::engine::attention::AttentionData;
use nlu_lab::engine::standalone::{standalone_html, STANDALONE_SCHEMA};
use nlu_lab::engine::synth;
use serde::Deserialize;
use serde_json::Value;

type Nested = Vec<Vec<Vec<Vec<f32>>>>;

#[derive(Deserialize)]
struct Parsed {
    schema: String,
    tokens: Vec<String>,
    layers: usize,
    heads: usize,
    head_dim: usize,
    attention: Nested,
    queries: Option<Nested>,
    keys: Option<Nested>,
}

/// Values whose text is easy to get wrong: f64 widening (0.1), subnormals, 1 and 0, neighbours of 0.1.
const AWKWARD: [f32; 9] =
    [0.1, 1.0, 0.0, f32::MIN_POSITIVE, 1e-45, 3e-40, 0.333_333_34, 0.100_000_01, 0.999_999_94];

/// 512 tokens, 2 layers × 3 heads (1.6 M weights), with the awkward values at the start of each array.
fn data_512(with_qk: bool) -> AttentionData {
    let mut d = synth::attention_data("export-test", 2, 3, 4, 512, 7);
    d.weights[..AWKWARD.len()].copy_from_slice(&AWKWARD);
    d.tokens[1] = "</script><b>x</b>".into();
    if with_qk {
        let qk = |seed: u64| -> Vec<f32> {
            let mut v = synth::synth_tensor("qk", &[2 * 3 * 512 * 4], seed);
            v[..AWKWARD.len()].copy_from_slice(&AWKWARD.map(|x| -x));
            v
        };
        d.queries = Some(qk(1));
        d.keys = Some(qk(2));
    }
    d
}

fn flat(n: &Nested) -> Vec<f32> {
    n.iter().flatten().flatten().flatten().copied().collect()
}

fn assert_same_bits(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: count");
    if let Some(i) = (0..want.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!("{what}[{i}]: {} after the round trip, {} before", got[i], want[i]);
    }
}

#[test]
fn json_export_parses_back_to_every_f32_exactly() {
    for with_qk in [false, true] {
        let d = data_512(with_qk);
        let bytes = d.to_json_bytes();
        let p: Parsed = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(p.schema, "nlu-lab/attention@1");
        assert_eq!(p.tokens, d.tokens);
        assert_eq!((p.layers, p.heads, p.head_dim), (2, 3, 4));
        assert_eq!((p.attention.len(), p.attention[1].len(), p.attention[1][2].len(), p.attention[1][2][511].len()), (2, 3, 512, 512));
        assert_same_bits(&flat(&p.attention), &d.weights, "attention");
        match (&p.queries, &p.keys) {
            (Some(q), Some(k)) => {
                assert!(with_qk);
                assert_eq!(q[1][2][511].len(), 4);
                assert_same_bits(&flat(q), d.queries.as_ref().unwrap(), "queries");
                assert_same_bits(&flat(k), d.keys.as_ref().unwrap(), "keys");
            }
            (None, None) => assert!(!with_qk),
            _ => panic!("queries and keys come together"),
        }
        // Shortest round-trip text, not the f64 widening of the f32 (0.10000000149011612).
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains(r#""attention":[[[[0.1,1.0,0.0,1.1754944e-38,1e-45,3e-40,0.33333334,0.10000001,0.99999994,"#), "{}", &text[text.find("\"attention\"").unwrap()..][..120]);
        // The documented fields (README), no more: the same structure as before the export was streamed.
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        let mut want = vec!["attention", "dropped_tokens", "head_dim", "heads", "layers", "model", "offsets", "schema", "segments", "special", "text", "text_b", "tokens"];
        if with_qk {
            want.extend(["keys", "queries"]);
        }
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(v["text_b"], Value::Null);
        assert_eq!(v["offsets"][2], serde_json::json!([3, 5]), "w2 follows w1 and a space");
    }
}

/// The page's header (`attention-meta`) and its payload (`attention-f32`, base64) as embedded in `html`.
fn standalone_parts(html: &str) -> (Value, Vec<f32>) {
    let block = |id: &str| {
        let open = format!(r#"<script id="{id}""#);
        let start = html.find(&open).unwrap_or_else(|| panic!("no {id} block"));
        let body = &html[start..];
        let body = &body[body.find('>').unwrap() + 1..];
        body[..body.find("</script>").unwrap()].to_string()
    };
    let meta: Value = serde_json::from_str(&block("attention-meta")).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(block("attention-f32").trim()).unwrap();
    assert_eq!(bytes.len() % 4, 0);
    let weights = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (meta, weights)
}

#[test]
fn standalone_page_embeds_the_same_f32s_as_base64() {
    let d = data_512(true);
    let html = standalone_html(&d);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("__ATTENTION_"), "every slot of the template is filled");
    assert!(!html.contains("</script><b>"), "a token cannot end the script element");
    let (meta, weights) = standalone_parts(&html);
    assert_eq!(meta["schema"], STANDALONE_SCHEMA);
    assert_eq!(meta["tokens"][1], "</script><b>x</b>", "the '<' survives as data");
    assert_eq!(meta["shape"], serde_json::json!([2, 3, 512, 512]));
    assert_eq!(meta["special"][0], true);
    assert_same_bits(&weights, &d.weights, "standalone attention");
    // Only the head view's data: queries and keys stay in the JSON export.
    assert!(html.len() < 4 * d.weights.len() * 4 / 3 + 64_000, "{} bytes", html.len());
}

/// The CLI's two formats of one run (a real checkpoint, tiny DistilBERT) carry the same f32s, bit for bit.
#[test]
fn cli_json_and_html_exports_agree_exactly() {
    let run = |format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
            .args(["attention", "--format", format, "--model"])
            .arg(fixture("bert/tiny-distilbert"))
            .args(["--text", "the cat sat on the mat because it was tired"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let p: Parsed = serde_json::from_slice(&run("json")).unwrap();
    let (meta, weights) = standalone_parts(&String::from_utf8(run("html")).unwrap());
    let n = p.tokens.len();
    assert!(n > 5);
    assert_eq!(meta["tokens"], serde_json::json!(p.tokens));
    assert_eq!(meta["shape"], serde_json::json!([p.layers, p.heads, n, n]));
    assert_same_bits(&weights, &flat(&p.attention), "CLI html vs json");
    // The first-visit example format (#18): the same tokens, each weight within 1/255.
    let example = nlu_lab::engine::attention::decode_example(&String::from_utf8(run("example")).unwrap()).unwrap();
    assert_eq!(example.tokens, p.tokens);
    let d = max_abs_diff(&example.weights, &flat(&p.attention));
    assert!(d <= 1.0 / 255.0, "CLI example vs json: max |Δ| {d:e}");
}
