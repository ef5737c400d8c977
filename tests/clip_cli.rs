//! `nlu-lab clip` prints transformers' probabilities for an image and captions (a teacher checks a submission).

mod common;

use common::*;

#[test]
fn cli_clip_json_matches_transformers() {
    let dir = std::env::temp_dir().join(format!("nlu-lab-cli-clip-{}", std::process::id()));
    let exe = env!("CARGO_BIN_EXE_nlu-lab");
    let synth = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab-dev"))
        .args(["synth-clip", "--fixture"])
        .arg(fixture("clip/tiny-clip-b32"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(synth.status.success(), "{}", String::from_utf8_lossy(&synth.stderr));
    let golden = golden_json(fixture("clip/tiny-clip-b32/golden.json"));
    let case = &golden["cases"][0];
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["clip", "--model"]).arg(&dir).arg("--image").arg(fixture(case["image"].as_str().unwrap()));
    for c in case["captions"].as_array().unwrap() {
        cmd.args(["--caption", c.as_str().unwrap()]);
    }
    let out = cmd.output().unwrap();
    // The CLIP lab's first-visit example (scripts/clip_example.sh) from the same command: the same numbers, and
    // the synthetic checkpoint is said not to be B/32's pinned files.
    let example = cmd.args(["--format", "example", "--repo", "openai/clip-vit-base-patch32"]).output().unwrap();
    let wrong_repo = std::process::Command::new(exe)
        .args(["clip", "--model"])
        .arg(&dir)
        .arg("--image")
        .arg(fixture(case["image"].as_str().unwrap()))
        .args(["--caption", "a", "--caption", "b", "--format", "example", "--repo", "sentence-transformers/all-MiniLM-L6-v2"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(example.status.success(), "{}", String::from_utf8_lossy(&example.stderr));
    let example = nlu_lab::engine::clip_example::ClipExample::parse(std::str::from_utf8(&example.stdout).unwrap().trim()).unwrap();
    assert_eq!((example.image.as_str(), example.verified), ("chelsea.png", false));
    assert_eq!(example.revision, nlu_lab::engine::catalogue::find("openai/clip-vit-base-patch32").unwrap().revision);
    assert_eq!(example.image_sha256, nlu_lab::engine::catalogue::sha256_hex(&std::fs::read(fixture(case["image"].as_str().unwrap())).unwrap()));
    assert!(String::from_utf8_lossy(&wrong_repo.stderr).contains("is not a CLIP model"), "{}", String::from_utf8_lossy(&wrong_repo.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "nlu-lab/clip@1");
    assert_eq!(json["input_ids"], case["input_ids"]);
    let got: Vec<f32> = serde_json::from_value(json["probs"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(case["probs"].clone()).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-2, "end-to-end probabilities max |Δ| {d:e}");
    assert_eq!(example.captions, serde_json::from_value::<Vec<String>>(case["captions"].clone()).unwrap());
    let e = max_abs_diff(&example.probs, &want);
    assert!(e <= 1e-4, "the example's probabilities max |Δ| {e:e}");
    println!("nlu-lab clip vs transformers: probabilities max |Δ| {d:.2e}; --format example {e:.2e}");
}

/// Issue #14: a file over the 50 MB limit is refused by its size, before the model loads or the file is read.
#[test]
fn cli_refuses_an_image_over_50_mb_by_its_size() {
    let big = std::env::temp_dir().join(format!("nlu-lab-cli-big-{}.jpg", std::process::id()));
    // Sparse: 60 MB long, nothing written.
    std::fs::File::create(&big).unwrap().set_len(60_000_000).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nlu-lab"))
        .args(["clip", "--model", "/nonexistent-model-dir", "--image"])
        .arg(&big)
        .args(["--caption", "a cat"])
        .output()
        .unwrap();
    std::fs::remove_file(&big).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("too large: 60.0 MB") && stderr.contains("50 MB limit"), "{stderr}");
    println!("{}", stderr.trim());
}
