//! The committed JPEG corpus (tests/fixtures/jpeg-corpus/, written by its make_corpus.py): every valid file
//! decodes (to Pillow's samples exactly where our decoder claims so), every malformed one gives an error that
//! names its problem, and none panics. Also the work and size bounds: thousands of scans, a frame of empty scans,
//! a file over 50 MB.

mod common;

use std::time::Instant;

use common::*;
use nlu_lab::engine::image_prep::{self, jpeg};
use nlu_lab::engine::Error;

fn corpus() -> Vec<serde_json::Value> {
    golden_json(fixture("jpeg-corpus/corpus.json"))["files"].as_array().unwrap().clone()
}

/// The RGB Pillow decoded (make_corpus.py saved it as PNG, which decodes losslessly).
fn pillow_rgb(file: &str) -> Option<image::RgbImage> {
    let stem = file.rsplit('/').next().unwrap().trim_end_matches(".jpg");
    let path = fixture(&format!("jpeg-corpus/expected/{stem}.png"));
    path.exists().then(|| image::open(path).unwrap().to_rgb8())
}

fn max_diff(a: &[u8], b: &[u8]) -> i32 {
    a.iter().zip(b).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap_or(0)
}

/// Our decoder alone must not panic on any input (decode_rgb would turn a panic into an error message natively,
/// but in the browser a panic aborts the worker).
fn exact_decode_no_panic(name: &str, bytes: &[u8]) -> Result<Option<jpeg::Decoded>, String> {
    std::panic::catch_unwind(|| jpeg::decode(bytes)).unwrap_or_else(|_| panic!("{name}: the JPEG decoder panicked"))
}

#[test]
fn every_corpus_file_decodes_or_is_refused_clearly() {
    let entries = corpus();
    // Nothing in the folder escapes the test.
    let dir = fixture("jpeg-corpus");
    let mut on_disk: Vec<String> = Vec::new();
    for sub in ["", "fuzz"] {
        let Ok(list) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in list {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".jpg") {
                on_disk.push(if sub.is_empty() { name } else { format!("{sub}/{name}") });
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = entries.iter().map(|e| e["file"].as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "corpus.json and the .jpg files in tests/fixtures/jpeg-corpus/ differ");

    let (mut exact, mut decodes, mut errors) = (0, 0, 0);
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let expect = e["expect"].as_str().unwrap();
        let bytes = read(fixture(&format!("jpeg-corpus/{file}")));
        let t = Instant::now();
        let ours = exact_decode_no_panic(file, &bytes);
        let result = image_prep::decode_rgb(&bytes);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match expect {
            "pillow-exact" => {
                let (rgb, info) = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(matches!(ours, Ok(Some(_))), "{file}: our decoder did not take it");
                assert_eq!(info.decoder, "libjpeg-turbo exact", "{file}");
                let want = pillow_rgb(file).expect("Pillow's decode");
                assert_eq!(rgb.dimensions(), want.dimensions(), "{file}: size");
                assert!(rgb.as_raw() == want.as_raw(), "{file}: differs from Pillow by up to {} levels", max_diff(rgb.as_raw(), want.as_raw()));
                println!("{file:40} {ms:6.1} ms  Pillow's samples exactly");
                exact += 1;
            }
            "decodes" => {
                let (rgb, info) = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                let vs_pillow = match pillow_rgb(file) {
                    Some(want) => {
                        assert_eq!(rgb.dimensions(), want.dimensions(), "{file}: size");
                        format!("differs from Pillow's by up to {} levels", max_diff(rgb.as_raw(), want.as_raw()))
                    }
                    None => "Pillow refuses it".into(),
                };
                println!("{file:40} {ms:6.1} ms  decodes ({}), {vs_pillow}", info.decoder);
                decodes += 1;
            }
            "error" => {
                let want = e["error_contains"].as_str().unwrap();
                match result {
                    Err(Error::Image(msg)) => {
                        assert!(msg.contains(want), "{file}: the message should name the problem ({want:?}): {msg}");
                        println!("{file:40} {ms:6.1} ms  {msg}");
                    }
                    other => panic!("{file}: expected an image error containing {want:?}, got {:?}", other.map(|(_, i)| i)),
                }
                errors += 1;
            }
            other => panic!("{file}: unknown expectation {other}"),
        }
    }
    println!("{} corpus files: {exact} Pillow-exact, {decodes} decoded, {errors} refused", entries.len());
    assert!(exact >= 10 && errors >= 20, "the corpus shrank");
}

/// The corpus's progressive 4:2:0 file with `extra` empty DC-refinement scans (all three components) before EOI,
/// and its frame header's size set to `size` (the scans carry no data, so the frame can be claimed huge).
fn scan_bomb(base: &str, extra: usize, size: Option<(u16, u16)>) -> Vec<u8> {
    let mut bytes = read(fixture(&format!("jpeg-corpus/{base}")));
    assert_eq!(bytes.split_off(bytes.len() - 2), [0xFF, 0xD9]);
    if let Some((w, h)) = size {
        let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC2]).unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    }
    let ids: Vec<u8> = {
        let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC2]).unwrap();
        let n = bytes[sof + 9] as usize;
        (0..n).map(|c| bytes[sof + 10 + 3 * c]).collect()
    };
    let mut scan = vec![0xFF, 0xDA, 0, (6 + 2 * ids.len()) as u8, ids.len() as u8];
    for id in &ids {
        scan.extend([*id, 0]);
    }
    scan.extend([0, 0, 0x10]); // Ss 0, Se 0, Ah 1, Al 0: a DC refinement, one bit per block
    for _ in 0..extra {
        bytes.extend(&scan);
    }
    bytes.extend([0xFF, 0xD9]);
    bytes
}

fn refusal(bytes: &[u8]) -> (String, f64) {
    let t = Instant::now();
    let r = image_prep::decode_rgb(bytes);
    let ms = t.elapsed().as_secs_f64() * 1e3;
    match r {
        Err(Error::Image(msg)) => (msg, ms),
        other => panic!("expected a refusal, got {:?}", other.map(|(_, i)| i)),
    }
}

/// Issue #14: thousands of SOS segments are refused within a second, whichever decoder the file would go to.
#[test]
fn thousands_of_scans_are_refused_at_once() {
    for (what, base, size) in [
        ("5000 scans, 67×45 progressive", "progressive_420.jpg", None),
        ("5000 scans, frame claimed 6000×6000", "progressive_420.jpg", Some((6000, 6000))),
        ("5000 scans, CMYK progressive (the image crate's file)", "cmyk_progressive.jpg", None),
    ] {
        let bomb = scan_bomb(base, 5000, size);
        let (msg, ms) = refusal(&bomb);
        println!("{what}: {} KB refused in {ms:.1} ms: {msg}", bomb.len() / 1000);
        assert!(msg.contains("scans") && msg.contains(&format!("at most {}", jpeg::MAX_SCANS)), "{msg}");
        let t = Instant::now();
        assert!(exact_decode_no_panic(what, &bomb).is_err());
        println!("  the JPEG decoder alone: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
}

/// Under the scan limit, but each empty scan would still walk all of a 36-megapixel frame's blocks.
#[test]
fn empty_scans_over_a_huge_frame_are_refused_before_decoding() {
    let bomb = scan_bomb("progressive_420.jpg", 400, Some((6000, 6000)));
    let (msg, ms) = refusal(&bomb);
    println!("400 empty scans over 6000×6000 ({} KB) refused in {ms:.1} ms: {msg}", bomb.len() / 1000);
    assert!(msg.contains("would decode") && msg.contains(&format!("{} times", jpeg::MAX_SCAN_PASSES)), "{msg}");
    // The same frame with its own 10 scans is within the bound.
    let ok = scan_bomb("progressive_420.jpg", 0, None);
    assert!(image_prep::decode_rgb(&ok).is_ok());
}

/// Issue #14 point 5: a file over 50 MB is refused before any of it is decoded.
#[test]
fn files_over_50_mb_are_refused() {
    let mut big = read(fixture("jpeg-corpus/baseline_420.jpg"));
    big.resize(60_000_000, 0);
    let (msg, ms) = refusal(&big);
    println!("{} MB file refused in {ms:.1} ms: {msg}", big.len() / 1_000_000);
    assert!(msg.contains("too large") && msg.contains("50 MB"), "{msg}");
    assert!(image_prep::check_file_size(image_prep::MAX_FILE_BYTES).is_ok());
    assert!(image_prep::check_file_size(image_prep::MAX_FILE_BYTES + 1).is_err());
}
