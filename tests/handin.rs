//! Issue #18: the CLIP lab's hand-in is one zip (submission.json, the image as chosen, card.png), and
//! `nlu-lab check HANDIN.zip --model DIR` recomputes it natively: agree / differ with the largest difference.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use nlu_lab::engine::catalogue::sha256_hex;
use nlu_lab::engine::handin::{HandIn, Submission};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nlu-lab-handin-{}-{name}", std::process::id()))
}

fn synth_clip(dir: &Path) {
    let synth = Command::new(env!("CARGO_BIN_EXE_nlu-lab-dev"))
        .args(["synth-clip", "--fixture"])
        .arg(fixture("clip/tiny-clip-b32"))
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
}

const CAPTIONS: [&str; 2] = ["a photo of a rocket", "a photo of a cat"];

/// The submission JSON the lab writes (ui/clip_extras.rs), with this folder's numbers from `nlu-lab clip`.
fn submission_for(model: &Path, image: &Path) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nlu-lab"));
    cmd.args(["clip", "--model"]).arg(model).arg("--image").arg(image);
    for c in CAPTIONS {
        cmd.args(["--caption", c]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let weights = sha256_hex(&std::fs::read(model.join("model.safetensors")).unwrap());
    serde_json::json!({
        "schema": "nlu-lab/clip-submission@1",
        "app_version": env!("CARGO_PKG_VERSION"),
        "model": "tiny-clip",
        "revision": "main",
        "precision": "f32",
        "weights": [{ "name": "model.safetensors", "sha256": weights }],
        "image_sha256": sha256_hex(&std::fs::read(image).unwrap()),
        "captions": CAPTIONS,
        "probabilities": r["probs"],
        "logits": r["logits"],
    })
}

fn write_handin(name: &str, json: &serde_json::Value, image: &[u8]) -> PathBuf {
    let card = std::fs::read(fixture("images/grey_l.png")).unwrap();
    let handin = HandIn::new(serde_json::to_string_pretty(json).unwrap(), image.to_vec(), card);
    let path = temp(name);
    std::fs::write(&path, handin.to_zip().unwrap()).unwrap();
    path
}

fn check(handin: &Path, model: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nlu-lab")).arg("check").arg(handin).arg("--model").arg(model).output().unwrap()
}

/// The largest difference the first line says (`… largest difference 1.23e-7 …`).
fn largest_difference(stdout: &str) -> f32 {
    let after = stdout.split("largest difference ").nth(1).unwrap_or_else(|| panic!("no difference in {stdout}"));
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_handin_zip_round_trips_and_is_a_plain_zip() {
    let image = std::fs::read(fixture("images/rocket.jpg")).unwrap();
    let card = std::fs::read(fixture("images/grey_l.png")).unwrap();
    let handin = HandIn::new("{\"schema\":\"x\"}".into(), image.clone(), card.clone());
    assert_eq!(handin.image_file, "image.jpg");
    let zip = handin.to_zip().unwrap();
    assert_eq!(HandIn::from_zip(&zip).unwrap(), handin);
    // Any unzip opens it: Python's zipfile lists the four entries with their sizes.
    let path = temp("plain.zip");
    std::fs::write(&path, &zip).unwrap();
    let listed = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(' '.join(f'{i.filename}:{i.file_size}' for i in z.infolist()))"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("image.jpg:{}", image.len())) && listed.contains(&format!("card.png:{}", card.len())), "{listed}");
    assert!(listed.contains("submission.json:14") && listed.contains("README.txt:"), "{listed}");
    println!("hand-in zip: {} bytes for an image of {} and a card of {}: {listed}", zip.len(), image.len(), card.len());
}

#[test]
fn check_agrees_with_the_lab_and_says_by_how_much() {
    let model = temp("model");
    synth_clip(&model);
    let image_path = fixture("images/rocket.jpg");
    let json = submission_for(&model, &image_path);
    let image = std::fs::read(&image_path).unwrap();

    let same = write_handin("same.zip", &json, &image);
    let out = check(&same, &model);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("agree:") && stdout.contains("the same weights"), "{stdout}");
    assert!(largest_difference(&stdout) <= 1e-6, "{stdout}");
    println!("{}", stdout.trim());

    // A probability changed by 0.05 (a student's edit, or another model): differ, by that much.
    let mut altered = json.clone();
    let p0 = altered["probabilities"][0].as_f64().unwrap();
    altered["probabilities"][0] = serde_json::json!(p0 - 0.05);
    let changed = write_handin("altered.zip", &altered, &image);
    let out = check(&changed, &model);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("differ:"), "{stdout}");
    assert!((largest_difference(&stdout) - 0.05).abs() < 1e-3, "{stdout}");
    println!("{}", stdout.lines().next().unwrap());

    // Weights other than the hand-in's: said, and held to the loose tolerance only.
    let mut other = json.clone();
    other["weights"][0]["sha256"] = serde_json::json!("0".repeat(64));
    let other_weights = write_handin("other.zip", &other, &image);
    let out = check(&other_weights, &model);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && stdout.contains("other weights") && stdout.contains("tolerance 2e-2"), "{stdout}");

    for p in [&model, &same, &changed, &other_weights] {
        std::fs::remove_dir_all(p).or_else(|_| std::fs::remove_file(p)).ok();
    }
}

#[test]
fn check_refuses_what_is_not_the_handin_before_loading_a_model() {
    let image = std::fs::read(fixture("images/rocket.jpg")).unwrap();
    let json = serde_json::json!({
        "schema": "nlu-lab/clip-submission@1",
        "image_sha256": sha256_hex(&image),
        "captions": ["a", "b"],
        "probabilities": [0.5, 0.5],
        "logits": [1.0, 1.0],
    });
    // No model folder exists: each refusal comes before the model is read.
    let no_model = Path::new("/nonexistent-model-dir");

    let swapped = write_handin("swapped.zip", &json, &std::fs::read(fixture("images/coffee.png")).unwrap());
    let out = check(&swapped, no_model);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("image.png is not the image the submission was computed on"), "{stderr}");

    let json_only = temp("submission.json");
    std::fs::write(&json_only, json.to_string()).unwrap();
    let out = check(&json_only, no_model);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("not a zip file") && stderr.contains("clip-handin.zip"), "{stderr}");

    let mut other = json.clone();
    other["schema"] = serde_json::json!("something/else@1");
    let foreign = write_handin("foreign.zip", &other, &image);
    let out = check(&foreign, no_model);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("not a CLIP lab hand-in"), "{stderr}");

    let mut short = json.clone();
    short["probabilities"] = serde_json::json!([1.0]);
    let short = write_handin("short.zip", &short, &image);
    let out = check(&short, no_model);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("2 captions but 1 probabilities"), "{stderr}");
    for p in [swapped, json_only, foreign, short] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn a_zip_without_the_parts_is_refused_in_a_sentence() {
    let broken = HandIn::from_zip(b"PK\x03\x04 not really a zip").unwrap_err();
    assert!(broken.starts_with("not a zip file"), "{broken}");
    let image = std::fs::read(fixture("images/rocket.jpg")).unwrap();
    let zip = HandIn::new("{}".into(), image, vec![]).to_zip().unwrap();
    // The JSON renamed away: no submission.json.
    let renamed = rename_entry(&zip, b"submission.json", b"submissiom.json");
    assert_eq!(HandIn::from_zip(&renamed).unwrap_err(), "this zip has no submission.json: it is not a CLIP lab hand-in");
    let renamed = rename_entry(&zip, b"image.jpg", b"imagex.jp");
    assert_eq!(HandIn::from_zip(&renamed).unwrap_err(), "this hand-in has no image (image.png, image.jpg or image.gif)");
    assert!(Submission::parse("{}").unwrap_err().contains("not a CLIP lab hand-in"));
    // Unpacked and zipped again (compressed, as any zip tool does): said so.
    let path = temp("rezipped.zip");
    let made = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED); z.writestr('submission.json', '{}' * 100); z.close()"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let err = HandIn::from_zip(&std::fs::read(&path).unwrap()).unwrap_err();
    std::fs::remove_file(&path).ok();
    assert!(err.contains("so the zip was made again: hand in clip-handin.zip as the lab downloaded it"), "{err}");
}

/// The zip with one entry's name replaced (same length), in its local header and its central directory.
fn rename_entry(zip: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = zip.to_vec();
    let mut i = 0;
    while let Some(at) = out[i..].windows(from.len()).position(|w| w == from) {
        out[i + at..i + at + from.len()].copy_from_slice(to);
        i += at + from.len();
    }
    out
}
