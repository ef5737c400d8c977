//! The CLIP engine against transformers' `CLIPModel` on the synthetic tiny-clip-b32 (weights regenerated here
//! by the counter-based generator, bit-exact with the Python one): token ids identical; from the golden pixel
//! values, logits within 1e-3, probabilities within 1e-4, text and vision attention within 1e-4; end to end from
//! the image files (our own decoding and PIL-exact preprocessing) pixels within 0.02 and probabilities within
//! 1e-2. Plus the caption edge cases a student will try.

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use candle_core::{Device, Tensor};
use common::*;
use nlu_lab::engine::attention::Pick;
use nlu_lab::engine::clip::Config;
use nlu_lab::engine::clip;
use nlu_lab::engine::image_prep::{self, PreparedImage};
use nlu_lab::engine::pipeline::{self, ClipClassifier, ClipFiles, ClipResult};
use nlu_lab::engine::synth::{self, TensorSpec, CLIP_FIXTURE_SEED};
use nlu_lab::engine::Error;
use serde_json::Value;

const DIR: &str = "clip/tiny-clip-b32";
const ATOL_LOGITS: f32 = 1e-3;
const ATOL_PROBS: f32 = 1e-4;
const ATOL_ATTENTION: f32 = 1e-4;
const ATOL_EMBEDS: f32 = 1e-4;
const ATOL_PIXELS: f32 = 0.02;
const ATOL_PROBS_END_TO_END: f32 = 1e-2;

struct Fixture {
    lab: ClipClassifier,
    golden: Value,
    tensors: HashMap<String, Tensor>,
    /// What `ClipModel::load` asked for, in order.
    specs: Vec<TensorSpec>,
    /// f64 sum of every tensor as read back from the written file.
    sums: HashMap<String, f64>,
    /// The patch convolution's kernel `[768, 3, 32, 32]`, for the conv2d cross-check.
    patch_kernel: Tensor,
}

fn text(path: &str) -> String {
    String::from_utf8(read(fixture(path))).unwrap()
}

/// The tiny CLIP, generated once per test binary and loaded the way the app loads a downloaded checkpoint:
/// safetensors bytes written to a file, read back, handed to `ClipClassifier::load`.
/// The fixture's tokenizer and preprocessor with `config_json` and these weights.
fn load_tiny_clip(name: &str, config_json: &str, safetensors: &[u8]) -> ClipClassifier {
    let tokenizer = read(fixture(&format!("{DIR}/tokenizer.json")));
    let preprocessor = text(&format!("{DIR}/preprocessor_config.json"));
    let files = ClipFiles { config_json, tokenizer_json: &tokenizer, preprocessor_config_json: &preprocessor, safetensors };
    ClipClassifier::load(name, &files).unwrap()
}

fn fx() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config_json = text(&format!("{DIR}/config.json"));
        let config = Config::from_json(&config_json).unwrap();
        let t = Instant::now();
        let specs = synth::record_tensors(|vb| clip::ClipModel::load(vb, config.clone())).unwrap();
        let bytes = synth::safetensors_bytes(&specs, CLIP_FIXTURE_SEED).unwrap();
        let generated = t.elapsed();
        let path = std::env::temp_dir().join(format!("nlu-lab-tiny-clip-{}.safetensors", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        drop(bytes);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let sums = synth::tensor_sums(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let kernel = st.tensor("vision_model.embeddings.patch_embedding.weight").unwrap();
        let patch_kernel =
            Tensor::from_raw_buffer(kernel.data(), candle_core::DType::F32, kernel.shape(), &Device::Cpu).unwrap();
        let lab = load_tiny_clip("tiny-clip-b32", &config_json, &bytes);
        println!(
            "synthetic checkpoint: {} tensors, {:.0} MB, generated in {:.2?}, ready in {:.2?}",
            specs.len(),
            bytes.len() as f64 / 1e6,
            generated,
            t.elapsed()
        );
        Fixture {
            lab,
            golden: golden_json(fixture(&format!("{DIR}/golden.json"))),
            tensors: golden_tensors(fixture(&format!("{DIR}/golden.safetensors"))),
            specs,
            sums,
            patch_kernel,
        }
    })
}

fn cases() -> &'static [Value] {
    fx().golden["cases"].as_array().unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

fn golden_pixels(j: usize) -> PreparedImage {
    let pixel_values = to_f32(&fx().tensors[&format!("img{j}.pixel_values")]);
    PreparedImage { pixel_values, width: 224, height: 224, ..PreparedImage::default() }
}

fn tensor(name: &str) -> Vec<f32> {
    to_f32(&fx().tensors[name])
}

#[test]
fn synth_generator_is_bit_exact() {
    // README checksums.
    let name = "text_model.embeddings.token_embedding.weight";
    assert_eq!(synth::fnv1a64(name.as_bytes()), 0xb72fe613ce2fafc1);
    assert_eq!(synth::fnv1a64(name.as_bytes()) ^ CLIP_FIXTURE_SEED, 0xb72fe61390c26eda);
    assert_eq!(synth::splitmix64(0xb72fe61390c26eda), 0xb2c7cb7bbc878fdf);
    let patch = "vision_model.embeddings.patch_embedding.weight";
    assert_eq!(synth::fnv1a64(patch.as_bytes()), 0xdaa0b6052722f067);
    assert_eq!(synth::splitmix64(0xdaa0b60579cf317c), 0x156b4ec7735a915e);
    let bits = |name: &str, shape: &[usize]| -> Vec<u32> {
        synth::synth_tensor(name, shape, CLIP_FIXTURE_SEED)[..8].iter().map(|x| x.to_bits()).collect()
    };
    assert_eq!(
        bits(name, &[49408, 512]),
        [0x3c01ff78, 0x3a5a16b8, 0x3c640552, 0xbc1f3707, 0xbbfa8105, 0x3c832104, 0xba9af585, 0xbaffb83d]
    );
    assert_eq!(
        bits(patch, &[768, 3, 32, 32]),
        [0xbc76234e, 0x3c43ee30, 0x3c884545, 0x3c8ebdd6, 0xbc89fcb5, 0xbc802f4b, 0x3c36a57d, 0x3c67657d]
    );
    assert_eq!(bits("vision_model.pre_layrnorm.weight", &[768])[..4], [0x3f6b3794, 0x3f8bc6a5, 0x3f8660a6, 0x3f84acb0]);

    // golden.json: synth.check (first 8 values, exactly) and, for every tensor, the name, shape, first value and
    // f64 sum of the checkpoint as written to and read back from a file.
    let synth_json = &fx().golden["synth"];
    assert_eq!(synth_json["seed"].as_u64(), Some(CLIP_FIXTURE_SEED));
    for (name, values) in synth_json["check"].as_object().unwrap() {
        let shape: Vec<usize> = serde_json::from_value(synth_json["tensors"][name]["shape"].clone()).unwrap();
        let got = synth::synth_tensor(name, &shape, CLIP_FIXTURE_SEED);
        let want: Vec<f32> = values.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(got[..want.len()], want[..], "{name}: synth.check");
    }
    let golden: &serde_json::Map<String, Value> = synth_json["tensors"].as_object().unwrap();
    let recorded: HashMap<&str, &[usize]> = fx().specs.iter().map(|s| (s.name.as_str(), s.shape.as_slice())).collect();
    assert_eq!(recorded.len(), fx().specs.len(), "a tensor was recorded twice");
    assert_eq!(recorded.len(), golden.len(), "the model loads {} tensors, the state_dict has {}", recorded.len(), golden.len());
    let mut worst_rel = 0.0f64;
    for (name, info) in golden {
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone()).unwrap();
        assert_eq!(recorded.get(name.as_str()).copied(), Some(shape.as_slice()), "{name}: shape");
        let first = synth::synth_value(name, &shape, CLIP_FIXTURE_SEED, 0);
        // (serde_json's float parsing may be 1 ulp off in f64; the f32 is exact.)
        assert_eq!(first, info["first"].as_f64().unwrap() as f32, "{name}: first value");
        let (got, want) = (fx().sums[name], info["sum"].as_f64().unwrap());
        // Same f32 values; only the order of the f64 additions differs (numpy sums pairwise).
        let rel = (got - want).abs() / want.abs().max(1.0);
        assert!(rel < 1e-9, "{name}: sum {got} vs {want}");
        worst_rel = worst_rel.max(rel);
    }
    println!("synth: {} tensors match golden.json (sums within {worst_rel:.1e} relative)", golden.len());
}

#[test]
fn input_ids_match_for_every_case() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let captions = strings(&case["captions"]);
        let got = fx().lab.tokenize(&captions).unwrap();
        for (c, caption) in got.iter().enumerate() {
            let ctx = format!("{name} caption {c}");
            let want: Vec<u32> = serde_json::from_value(case["input_ids"][c].clone()).unwrap();
            assert_eq!(caption.encoded.ids, want, "{ctx}: input ids");
            assert_eq!(caption.encoded.tokens, strings(&case["tokens"][c]), "{ctx}: tokens");
            assert_eq!(caption.truncated, case["truncated"][c].as_bool().unwrap(), "{ctx}: truncated");
            let untruncated = case["untruncated_lengths"][c].as_u64().unwrap() as usize;
            assert_eq!(caption.encoded.ids.len() + caption.encoded.dropped, untruncated, "{ctx}: dropped tokens");
            let pooled = clip::pooled_position(&caption.encoded.ids, fx().lab.model.config.text.eos_token_id);
            assert_eq!(pooled as u64, case["pooled_positions"][c].as_u64().unwrap(), "{ctx}: pooled position");
        }
    }
}

/// Largest differences of one classification against the golden case `k`: logits, probs, embeddings,
/// text attention (caption 0), vision attention.
fn compare(k: usize, result: &ClipResult) -> [f32; 5] {
    let logits = max_abs_diff(&result.logits, &tensor(&format!("case{k}.logits_per_image")));
    let probs = max_abs_diff(&result.probs, &tensor(&format!("case{k}.probs")));
    let text_embeds: Vec<f32> = result.text_embeds.concat();
    let embeds = max_abs_diff(&text_embeds, &tensor(&format!("case{k}.text_embeds")))
        .max(max_abs_diff(&result.image_embed, &tensor(&format!("case{k}.image_embeds"))));
    let caption0 = &result.text_attention[0];
    let per_layer = caption0.weights.len() / caption0.num_layers;
    let text_attn = (0..caption0.num_layers)
        .map(|l| {
            let want = tensor(&format!("case{k}.text_attn.layer{l}"));
            max_abs_diff(&caption0.weights[l * per_layer..(l + 1) * per_layer], &want)
        })
        .fold(0.0, f32::max);
    let vision_attn = max_abs_diff(&result.vision_attention.weights, &tensor(&format!("case{k}.vision_attn")));
    [logits, probs, embeds, text_attn, vision_attn]
}

#[test]
fn golden_pixels_give_golden_logits_probs_and_attention() {
    let mut worst = [0.0f32; 5];
    for (k, case) in cases().iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let j = case["image_index"].as_u64().unwrap() as usize;
        let result = fx().lab.classify_prepared(&golden_pixels(j), &strings(&case["captions"])).unwrap();
        let d = compare(k, &result);
        println!(
            "case{k} {name}: logits {:.1e}, probs {:.1e}, embeds {:.1e}, text attention {:.1e}, vision attention {:.1e}",
            d[0], d[1], d[2], d[3], d[4]
        );
        assert!(d[0] <= ATOL_LOGITS, "{name}: logits max |Δ| {:e}", d[0]);
        assert!(d[1] <= ATOL_PROBS, "{name}: probs max |Δ| {:e}", d[1]);
        assert!(d[2] <= ATOL_EMBEDS, "{name}: embeddings max |Δ| {:e}", d[2]);
        assert!(d[3] <= ATOL_ATTENTION, "{name}: text attention max |Δ| {:e}", d[3]);
        assert!(d[4] <= ATOL_ATTENTION, "{name}: vision attention max |Δ| {:e}", d[4]);
        let pooled: Vec<usize> = serde_json::from_value(case["pooled_positions"].clone()).unwrap();
        assert_eq!(result.pooled_positions, pooled, "{name}: pooled positions");
        assert!((result.temperature - fx().golden["logit_scale_exp"].as_f64().unwrap() as f32).abs() < 1e-4);
        worst.iter_mut().zip(d).for_each(|(w, d)| *w = w.max(d));
    }
    println!(
        "worst over {} cases (golden pixels): logits {:.2e}, probs {:.2e}, embeds {:.2e}, text attention {:.2e}, vision attention {:.2e}",
        cases().len(),
        worst[0],
        worst[1],
        worst[2],
        worst[3],
        worst[4]
    );
}

#[test]
fn end_to_end_from_image_files() {
    let (mut worst_pixels, mut worst_probs) = (0.0f32, 0.0f32);
    for (k, case) in cases().iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let j = case["image_index"].as_u64().unwrap() as usize;
        let bytes = read(fixture(case["image"].as_str().unwrap()));
        let prepared = image_prep::prepare(&bytes, &fx().lab.preprocess).unwrap();
        let pixels = max_abs_diff(&prepared.pixel_values, &tensor(&format!("img{j}.pixel_values")));
        let result = fx().lab.classify(&bytes, &strings(&case["captions"])).unwrap();
        let probs = max_abs_diff(&result.probs, &tensor(&format!("case{k}.probs")));
        let logits = max_abs_diff(&result.logits, &tensor(&format!("case{k}.logits_per_image")));
        println!("case{k} {name} (img{j}): pixels {pixels:.2e}, logits {logits:.2e}, probs {probs:.2e}");
        assert!(pixels <= ATOL_PIXELS, "{name}: pixel max |Δ| {pixels}");
        assert!(probs <= ATOL_PROBS_END_TO_END, "{name}: probs max |Δ| {probs}");
        assert_eq!(result.preview_rgb.len(), 224 * 224 * 3);
        assert_eq!(result.preview_rgb, prepared.crop_rgb);
        worst_pixels = worst_pixels.max(pixels);
        worst_probs = worst_probs.max(probs);
    }
    println!("end to end: worst pixels {worst_pixels:.2e}, worst probs {worst_probs:.2e}");
}

#[test]
fn batched_captions_equal_one_at_a_time() {
    let case = &cases()[1]; // eight captions of different lengths
    let lab = &fx().lab;
    let captions = lab.tokenize(&strings(&case["captions"])).unwrap();
    let ids: Vec<Vec<u32>> = captions.iter().map(|c| c.encoded.ids.clone()).collect();
    // Pad with a different id than the classifier does: the causal mask must make it irrelevant.
    let batch = lab.model.encode_text(&ids, 0).unwrap();
    let (mut embeds, mut attn) = (0.0f32, 0.0f32);
    for (i, one) in ids.iter().enumerate() {
        let single = lab.model.encode_text(std::slice::from_ref(one), 49407).unwrap();
        embeds = embeds.max(max_abs_diff(&batch.embeds[i], &single.embeds[0]));
        attn = attn.max(max_abs_diff(&batch.attention[i], &single.attention[0]));
        assert_eq!(batch.pooled_positions[i], single.pooled_positions[0]);
    }
    println!("batched vs single captions: embeddings {embeds:.1e}, attention {attn:.1e}");
    assert!(embeds <= 1e-5 && attn <= 1e-5, "padding changed a caption: embeds {embeds:e}, attention {attn:e}");
}

#[test]
fn patch_unfold_matmul_matches_conv2d() {
    let pixels = Tensor::from_vec(tensor("img0.pixel_values"), (1, 3, 224, 224), &Device::Cpu).unwrap();
    let embeddings = &fx().lab.model.vision_model.embeddings;
    let unfold = embeddings.patch_embeddings(&pixels).unwrap();
    let conv = pixels.conv2d(&fx().patch_kernel, 0, 32, 1, 1).unwrap().flatten_from(2).unwrap().transpose(1, 2).unwrap();
    let d = max_abs_diff(&to_f32(&unfold), &to_f32(&conv));
    let time = |f: &dyn Fn() -> Tensor| {
        f();
        let t = Instant::now();
        for _ in 0..5 {
            f();
        }
        t.elapsed() / 5
    };
    let t_unfold = time(&|| embeddings.patch_embeddings(&pixels).unwrap());
    let t_conv = time(&|| pixels.conv2d(&fx().patch_kernel, 0, 32, 1, 1).unwrap());
    println!("patch embedding: unfold+matmul {t_unfold:.2?}, candle conv2d {t_conv:.2?}, max |Δ| {d:.1e}");
    assert!(d < 1e-4, "unfold+matmul differs from conv2d by {d}");
}

#[test]
fn vision_attention_summaries() {
    let result = fx().lab.classify_prepared(&golden_pixels(0), &["a photo of a cat"]).unwrap();
    let va = &result.vision_attention;
    assert_eq!((va.num_layers, va.num_heads, va.tokens, va.grid), (2, 12, 50, 7));
    let n = va.tokens;
    let rollout = va.rollout();
    for row in rollout.chunks(n) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "rollout rows sum to 1");
    }
    // By hand for two layers: R = Â₁ · Â₀ with Â = (mean over heads + I), rows renormalised (= (A + I) / 2).
    let hat = |l: usize| -> Vec<f64> {
        let a = va.pick(Pick::One(l), Pick::Mean);
        (0..n * n).map(|i| (a[i] as f64 + if i / n == i % n { 1.0 } else { 0.0 }) / 2.0).collect()
    };
    let (a0, a1) = (hat(0), hat(1));
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let want: f64 = (0..n).map(|k| a1[i * n + k] * a0[k * n + j]).sum();
            worst = worst.max((want - rollout[i * n + j] as f64).abs());
        }
    }
    assert!(worst < 1e-5, "rollout differs from the two-layer product by {worst}");
    let heat = va.rollout_heatmap();
    assert_eq!(heat.len(), 49);
    assert_eq!(heat, rollout[1..n].to_vec());
    let cls = va.cls_heatmap(Pick::One(1), Pick::One(3));
    assert_eq!(cls, va.head(1, 3)[1..n].to_vec());
    let total: f32 = va.cls_heatmap(Pick::Mean, Pick::Mean).iter().sum::<f32>() + va.pick(Pick::Mean, Pick::Mean)[0];
    assert!((total - 1.0).abs() < 1e-5);
}

#[test]
fn caption_edge_cases() {
    let lab = &fx().lab;
    let image = golden_pixels(0);

    let none: [&str; 0] = [];
    let err = lab.classify_prepared(&image, &none).unwrap_err();
    assert!(err.to_string().contains("at least one caption"), "{err}");

    let err = lab.classify_prepared(&image, &["a cat", "   "]).unwrap_err();
    assert_eq!(err.to_string(), "Caption 2 is empty.");

    // One caption: a softmax over one caption is 1 — the cosine and logit still say how well it fits.
    let one = lab.classify_prepared(&image, &["a photo of a cat"]).unwrap();
    assert_eq!(one.probs, vec![1.0]);
    let two = lab.classify_prepared(&image, &["a photo of a cat", "a photo of a dog"]).unwrap();
    assert!((one.logits[0] - two.logits[0]).abs() < 1e-4 && (one.cosines[0] - two.cosines[0]).abs() < 1e-6);
    assert!((one.logits[0] - one.temperature * one.cosines[0]).abs() < 1e-4);

    // Duplicates get identical scores.
    let dup = lab.classify_prepared(&image, &["a photo of a cat", "a photo of a dog", "a photo of a cat"]).unwrap();
    assert_eq!(dup.logits[0], dup.logits[2]);
    assert_eq!(dup.probs[0], dup.probs[2]);
    assert!((dup.probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);

    // 50 captions of different lengths in one batch.
    let many: Vec<String> = (0..50).map(|i| format!("photo number {i} of {}", "a cat ".repeat(i % 7))).collect();
    let t = Instant::now();
    let fifty = lab.classify_prepared(&image, &many).unwrap();
    println!("50 captions: {:.2?}", t.elapsed());
    assert_eq!((fifty.probs.len(), fifty.text_attention.len()), (50, 50));
    assert!((fifty.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let alone = lab.classify_prepared(&image, &[many[7].as_str()]).unwrap();
    assert!((alone.logits[0] - fifty.logits[7]).abs() < 1e-4, "a caption scores the same alone and in a batch");
    let too_many: Vec<String> = (0..pipeline::MAX_CAPTIONS + 1).map(|i| format!("caption {i}")).collect();
    assert!(lab.classify_prepared(&image, &too_many).unwrap_err().to_string().contains("too many"));

    // Over 77 tokens: cut to 77 with <|endoftext|> last, and flagged.
    let long = "a very long caption ".repeat(30);
    let r = lab.classify_prepared(&image, &[long.as_str(), "short"]).unwrap();
    assert_eq!(r.truncated, vec![true, false]);
    assert_eq!(r.input_ids[0].len(), 77);
    assert_eq!((r.input_ids[0][0], r.input_ids[0][76]), (49406, 49407));
    assert_eq!(r.pooled_positions, vec![76, 2]);
    assert!(r.dropped_tokens[0] > 0 && r.dropped_tokens[1] == 0);
    assert_eq!(r.text_attention[0].len(), 77);

    // The caption head view's tokens as a student reads them: CLIP's </w> off, a split word's later piece marked.
    let r = lab.classify_prepared(&image, &["a rocketship"]).unwrap();
    let d = &r.text_attention[0];
    println!("CLIP tokens {:?} shown as {:?}", d.tokens, d.display_tokens());
    assert_eq!(d.tokens[1], "a</w>");
    let shown = d.display_tokens();
    assert_eq!(shown[1], "a");
    assert_eq!(shown.concat().replace('·', ""), format!("{}a{}{}", d.tokens[0], "rocketship", d.tokens[d.len() - 1]));
    assert!(shown[3].starts_with('·'), "{shown:?}");
}

#[test]
fn bad_image_files_give_messages_not_panics() {
    let lab = &fx().lab;
    let jpeg = read(fixture("images/rocket.jpg"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("truncated jpeg", jpeg[..jpeg.len() / 2].to_vec(), "truncated"),
        ("svg", br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>"#.to_vec(), "SVG"),
        ("text", b"hello, this is not an image".to_vec(), "not an image format"),
    ];
    for (what, bytes, expect) in cases {
        let err = lab.classify(&bytes, &["a cat"]).unwrap_err();
        assert!(matches!(err, Error::Image(_)), "{what}: {err:?}");
        assert!(err.to_string().contains(expect), "{what}: {err}");
        println!("{what}: {err}");
    }
}

#[test]
fn other_checkpoint_shapes_load() {
    let large = r#"{"model_type": "clip", "projection_dim": 768,
        "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12, "projection_dim": 768},
        "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768}}"#;
    let patch16 = r#"{"text_config_dict": {"hidden_size": 512}, "vision_config_dict": {"patch_size": 16}}"#;
    for (name, json, tensors, positions, projection) in [
        ("clip-vit-base-patch32", "{}", 398, [50, 768], [512, 768]),
        ("clip-vit-base-patch16", patch16, 398, [197, 768], [512, 768]),
        ("clip-vit-large-patch14", large, 590, [257, 1024], [768, 1024]),
    ] {
        let config = Config::from_json(json).unwrap();
        let specs = synth::record_tensors(|vb| clip::ClipModel::load(vb, config.clone())).unwrap();
        let shape = |n: &str| specs.iter().find(|s| s.name == n).map(|s| s.shape.clone()).unwrap();
        assert_eq!(specs.len(), tensors, "{name}");
        assert_eq!(shape("vision_model.embeddings.position_embedding.weight"), positions, "{name}");
        assert_eq!(shape("visual_projection.weight"), projection, "{name}");
        assert_eq!(shape("logit_scale"), Vec::<usize>::new(), "{name}");
        let params: usize = specs.iter().map(TensorSpec::numel).sum();
        println!("{name}: {} tensors, {:.1} M parameters", specs.len(), params as f64 / 1e6);
    }
    assert!(Config::from_json(r#"{"model_type": "bert"}"#).is_err());
}

/// transformers stores `logit_scale` as a scalar; some exports keep it as `[1]`. Both load, to the same
/// temperature and probabilities.
#[test]
fn a_one_element_logit_scale_loads_like_the_scalar() {
    let mut specs = fx().specs.clone();
    let logit_scale = specs.iter_mut().find(|s| s.name == "logit_scale").unwrap();
    assert_eq!(logit_scale.shape, Vec::<usize>::new());
    logit_scale.shape = vec![1];
    let bytes = synth::safetensors_bytes(&specs, CLIP_FIXTURE_SEED).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("logit_scale").unwrap().shape(), [1]);
    let lab = load_tiny_clip("tiny-clip-b32, [1] logit_scale", &text(&format!("{DIR}/config.json")), &bytes);
    assert_eq!(lab.model.logit_scale, fx().lab.model.logit_scale);
    assert_eq!(lab.model.temperature(), fx().lab.model.temperature());
    let captions = ["a photo of a cat", "a photo of a rocket"];
    let ours = lab.classify_prepared(&golden_pixels(0), &captions).unwrap();
    let scalar = fx().lab.classify_prepared(&golden_pixels(0), &captions).unwrap();
    assert_eq!(ours.temperature, scalar.temperature);
    assert_eq!(ours.probs, scalar.probs);
}

#[test]
fn synthetic_bert_checkpoint_loads() {
    let config_json = text("bert/tiny-bert/config.json");
    let config = nlu_lab::engine::bert::Config::from_json(&config_json).unwrap();
    let bytes = synth::bert_checkpoint(&config, 7).unwrap();
    let model = nlu_lab::engine::bert::BertModel::from_safetensors(&bytes, config).unwrap();
    let out = model.forward(&[101, 2000, 2001, 102], &[0, 0, 0, 0]).unwrap();
    assert_eq!(out.layers.len(), 2);
    let sums = synth::tensor_sums(&bytes).unwrap();
    // The recorder offers every tensor a loader probes for, so the synthetic checkpoint also has the masked-word
    // head (dense 2, LayerNorm 2, bias 1), as bert-base-uncased's checkpoint has.
    assert_eq!(sums.len(), 2 * 16 + 5 + 5, "embeddings (3 + LayerNorm 2), 16 per layer and the masked-word head");
    assert!(model.masked_lm.is_some());
}
