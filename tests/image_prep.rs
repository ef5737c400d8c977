//! Image preprocessing against transformers' `CLIPImageProcessorPil` (golden pixel values, stored as float16) and
//! the files a student may drop on the page: empty, truncated, huge, vector, animated, unknown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};
use nlu_lab::engine::image_prep::{self, PreprocessConfig, Resample, ResizeTo};
use nlu_lab::engine::Error;

const ATOL_PIXELS: f32 = 0.02;

fn config() -> PreprocessConfig {
    let json = String::from_utf8(read(fixture("clip/tiny-clip-b32/preprocessor_config.json"))).unwrap();
    PreprocessConfig::from_json(&json).unwrap()
}

fn image_error(bytes: &[u8]) -> String {
    match image_prep::prepare(bytes, &config()) {
        Err(Error::Image(msg)) => msg,
        other => panic!("expected an image error, got {:?}", other.map(|p| p.info)),
    }
}

#[test]
fn pixels_match_pil_for_every_fixture_image() {
    let golden = golden_json(fixture("clip/tiny-clip-b32/golden.json"));
    let tensors = golden_tensors(fixture("clip/tiny-clip-b32/golden.safetensors"));
    let cfg = config();
    let mut worst = 0.0f32;
    for img in golden["images"].as_array().unwrap() {
        let j = img["index"].as_u64().unwrap();
        let file = img["file"].as_str().unwrap();
        let t = Instant::now();
        let prepared = image_prep::prepare(&read(fixture(file)), &cfg).unwrap();
        let elapsed = t.elapsed();
        let want = to_f32(&tensors[&format!("img{j}.pixel_values")]);
        let d = max_abs_diff(&prepared.pixel_values, &want);
        // How many of the 224·224·3 samples are off by more than float16 storage explains (≈ 1 level of 8 bits).
        let off = prepared.pixel_values.iter().zip(&want).filter(|(a, b)| (*a - *b).abs() > 2e-3).count();
        println!("img{j} {file}: max |Δ| {d:.2e}, {off} samples differ by more than 2e-3 ({elapsed:.1?})");
        assert!(d <= ATOL_PIXELS, "{file}: pixel max |Δ| {d}");
        worst = worst.max(d);

        let info = &prepared.info;
        let wh = |key: &str| -> [u32; 2] { serde_json::from_value(img[key].clone()).unwrap() };
        assert_eq!([info.file_width, info.file_height], wh("file_size_wh"), "{file}: size in the file");
        assert_eq!([info.width, info.height], wh("decoded_size_wh"), "{file}: size after EXIF orientation");
        assert_eq!([info.resized_width, info.resized_height], wh("resized_wh"), "{file}: resized");
        assert_eq!([info.crop_top, info.crop_left], wh("crop_top_left"), "{file}: crop offsets");
        assert_eq!(info.alpha_composited, img["file_mode"] == "RGBA", "{file}: alpha");
        assert_eq!(info.greyscale, img["file_mode"] == "L", "{file}: greyscale");
        assert_eq!(info.exif_orientation, if file.contains("orient6") { 6 } else { 1 }, "{file}: EXIF orientation");
        assert_eq!((prepared.width, prepared.height, prepared.crop_rgb.len()), (224, 224, 224 * 224 * 3));
    }
    println!("worst pixel max |Δ| over all images: {worst:.2e}");
}

/// The crop preview is the image the pixel values were made from.
#[test]
fn preview_is_the_unnormalised_crop() {
    let cfg = config();
    let prepared = image_prep::prepare(&read(fixture("images/chelsea.png")), &cfg).unwrap();
    let (mean, std) = cfg.normalize.unwrap();
    let (x, y) = (100, 37);
    for c in 0..3 {
        let v = prepared.crop_rgb[(y * 224 + x) * 3 + c];
        let want = ((v as f64 / 255.0) as f32 - mean[c]) / std[c];
        assert_eq!(prepared.pixel_values[c * 224 * 224 + y * 224 + x], want);
    }
}

#[test]
fn exif_orientation_and_alpha_are_applied() {
    let cfg = config();
    // Stored 320×240 with a red bar along the top edge; orientation 6 turns it clockwise, so the bar ends up on
    // the right edge of a 240×320 picture (and in the crop, whose right edge is the picture's).
    let p = image_prep::prepare(&read(fixture("images/exif_orient6.jpg")), &cfg).unwrap();
    let px = |p: &image_prep::PreparedImage, x: usize, y: usize| {
        let i = (y * 224 + x) * 3;
        [p.crop_rgb[i], p.crop_rgb[i + 1], p.crop_rgb[i + 2]]
    };
    let [r, g, b] = px(&p, 222, 112);
    assert!(r > 150 && g < 100 && b < 100, "right edge should be red, got {:?}", [r, g, b]);
    // Fully transparent green becomes white, not green.
    let p = image_prep::prepare(&read(fixture("images/rgba_transparent.png")), &cfg).unwrap();
    assert_eq!(px(&p, 2, 2), [255, 255, 255]);
}

#[test]
fn empty_file_is_refused() {
    let msg = image_error(&[]);
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn truncated_files_are_refused() {
    let jpeg = read(fixture("images/rocket.jpg"));
    let msg = image_error(&jpeg[..jpeg.len() / 2]);
    assert!(msg.contains("JPEG") && msg.contains("truncated"), "{msg}");
    let msg = image_error(&jpeg[..300]);
    assert!(msg.contains("JPEG"), "{msg}");
    let png = read(fixture("images/chelsea.png"));
    let msg = image_error(&png[..png.len() / 2]);
    assert!(msg.contains("PNG"), "{msg}");
    let msg = image_error(&png[..20]);
    assert!(msg.contains("PNG") && msg.contains("damaged"), "{msg}");
    println!("truncated PNG: {msg}");
}

/// Just the signature and IHDR chunk of a 20000×20000 RGB PNG: refused from the header, quickly.
#[test]
fn huge_png_is_refused_before_decoding() {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    let t = Instant::now();
    let msg = image_error(&png);
    assert!(t.elapsed() < Duration::from_millis(100), "took {:?}", t.elapsed());
    assert!(msg.contains("too large") && msg.contains("20000×20000") && msg.contains("40 megapixels"), "{msg}");
    println!("{msg}");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn svg_and_unknown_formats_are_refused() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;
    let msg = image_error(svg);
    assert!(msg.contains("SVG"), "{msg}");
    let msg = image_error(b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<svg></svg>");
    assert!(msg.contains("SVG"), "{msg}");
    let msg = image_error(b"RIFF\x24\0\0\0WEBPVP8 ");
    assert!(msg.contains("WEBP") && msg.contains("PNG, JPEG or GIF"), "{msg}");
    let msg = image_error(b"just some text");
    assert!(msg.contains("not an image format"), "{msg}");
    let msg = image_error(&[0u8; 64]);
    assert!(msg.contains("PNG, JPEG or GIF"), "{msg}");
}

/// An animated GIF: the first frame is what the model sees (as Pillow opens it).
#[test]
fn animated_gif_uses_the_first_frame() {
    let frame = |color: [u8; 4]| Frame::from_parts(RgbaImage::from_pixel(64, 48, Rgba(color)), 0, 0, Delay::from_numer_denom_ms(100, 1));
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        encoder.encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])]).unwrap();
    }
    let p = image_prep::prepare(&bytes, &config()).unwrap();
    assert_eq!(p.info.format, "gif");
    assert_eq!((p.info.width, p.info.height, p.info.resized_width, p.info.resized_height), (64, 48, 298, 224));
    assert!(p.crop_rgb.chunks(3).all(|px| px == [255, 0, 0]), "first (red) frame expected");
}

#[test]
fn resize_matches_pil_rules() {
    // Same size: Pillow copies the image; so does the identity weight.
    let src: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 256) as u8).collect();
    assert_eq!(image_prep::resample_window(&src, 7, 5, 7, 5, 0, 0, 7, 5, Resample::Bicubic), src);
    // A window of the resize is the same as cropping the full resize.
    let full = image_prep::resample_window(&src, 7, 5, 13, 9, 0, 0, 13, 9, Resample::Bicubic);
    let window = image_prep::resample_window(&src, 7, 5, 13, 9, 3, 2, 6, 4, Resample::Bicubic);
    let cropped: Vec<u8> = (2..6).flat_map(|y| full[(y * 13 + 3) * 3..(y * 13 + 9) * 3].to_vec()).collect();
    assert_eq!(window, cropped);
    // A constant image stays constant through up- and downscaling with every filter.
    let grey = vec![77u8; 40 * 30 * 3];
    for f in [Resample::Bilinear, Resample::Bicubic, Resample::Lanczos] {
        for (w, h) in [(13, 7), (97, 61)] {
            assert!(image_prep::resample_window(&grey, 40, 30, w, h, 0, 0, w, h, f).iter().all(|&v| v == 77));
        }
    }
    assert_eq!(image_prep::resized_size(451, 300, Some(ResizeTo::ShortestEdge(224))), (336, 224));
    assert_eq!(image_prep::resized_size(427, 640, Some(ResizeTo::ShortestEdge(224))), (224, 335));
    // Extreme aspect ratios only compute the crop.
    let strip = RgbaImage::from_pixel(4000, 2, Rgba([10, 200, 30, 255]));
    let mut png = Vec::new();
    strip.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let p = image_prep::prepare(&png, &config()).unwrap();
    assert_eq!((p.info.resized_width, p.info.resized_height), (448000, 224));
    assert!(p.crop_rgb.chunks(3).all(|px| px == [10, 200, 30]));
}

#[test]
fn preprocessor_config_variants() {
    let d = PreprocessConfig::from_json("{}").unwrap();
    assert_eq!(d, config(), "the fixture's preprocessor_config.json spells out CLIPImageProcessor's defaults");
    assert_eq!(d.resize, Some(ResizeTo::ShortestEdge(224)));
    let old = PreprocessConfig::from_json(r#"{"size": 336, "crop_size": 336, "resample": 2, "do_normalize": false}"#).unwrap();
    assert_eq!((old.resize, old.crop, old.resample, old.normalize), (Some(ResizeTo::ShortestEdge(336)), Some((336, 336)), Resample::Bilinear, None));
    assert!(PreprocessConfig::from_json(r#"{"resample": 0}"#).is_err());
    assert!(PreprocessConfig::from_json(r#"{"image_mean": [0.5, 0.5]}"#).is_err());
}
