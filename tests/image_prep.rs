//! Image preprocessing against transformers' `CLIPImageProcessorPil` (golden pixel values, stored as float16) and
//! the files a student may drop on the page: empty, truncated, huge, vector, animated, unknown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};
use nlu_lab::engine::image_prep;
use nlu_lab::engine::image_prep::{PreprocessConfig, ResizeTo};
use nlu_lab::engine::image_prep::{resample_window, Resample};
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
        // Stored as float16: round ours the same way (to nearest even, as numpy) and count what still differs.
        let ours16 = candle_core::Tensor::new(prepared.pixel_values.as_slice(), &candle_core::Device::Cpu)
            .and_then(|t| t.to_dtype(candle_core::DType::F16))
            .unwrap();
        let not_equal = to_f32(&ours16).iter().zip(&want).filter(|(a, b)| a != b).count();
        println!(
            "img{j} {file}: max |Δ| {d:.2e}, {off} samples differ by more than 2e-3, {not_equal} differ after rounding to float16 ({elapsed:.1?})"
        );
        assert!(d <= ATOL_PIXELS, "{file}: pixel max |Δ| {d}");
        assert_eq!(not_equal, 0, "{file}: not the reference's samples");
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
        let decoder = if file.ends_with(".jpg") { "libjpeg-turbo exact" } else { "image crate" };
        assert_eq!(info.decoder, decoder, "{file}: decoder");
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
    assert_eq!(resample_window(&src, 7, 5, 7, 5, 0, 0, 7, 5, Resample::Bicubic), src);
    // A window of the resize is the same as cropping the full resize.
    let full = resample_window(&src, 7, 5, 13, 9, 0, 0, 13, 9, Resample::Bicubic);
    let window = resample_window(&src, 7, 5, 13, 9, 3, 2, 6, 4, Resample::Bicubic);
    let cropped: Vec<u8> = (2..6).flat_map(|y| full[(y * 13 + 3) * 3..(y * 13 + 9) * 3].to_vec()).collect();
    assert_eq!(window, cropped);
    // A constant image stays constant through up- and downscaling with every filter.
    let grey = vec![77u8; 40 * 30 * 3];
    for f in [Resample::Bilinear, Resample::Bicubic, Resample::Lanczos] {
        for (w, h) in [(13, 7), (97, 61)] {
            assert!(resample_window(&grey, 40, 30, w, h, 0, 0, w, h, f).iter().all(|&v| v == 77));
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

/// Subsampled, progressive and restart-interval JPEGs (the fixture photos are baseline 4:4:4) decode to exactly
/// Pillow's samples. (The decoder was also checked sample-exact against Pillow on 4:1:1, 1×4, 4×2, greyscale,
/// RGB-coded, 1×1 to 4×2 pixel and 12-megapixel JPEGs.)
#[test]
fn jpeg_decoding_matches_pillow_exactly() {
    let hex = |s: &str| -> Vec<u8> { (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect() };
    for (name, jpeg, rgb) in [
        ("baseline 4:2:0 with restarts", BASELINE_420_RESTART, BASELINE_420_RESTART_RGB),
        ("progressive 4:2:2", PROGRESSIVE_422, PROGRESSIVE_422_RGB),
        ("progressive 4:4:0", PROGRESSIVE_440, PROGRESSIVE_440_RGB),
    ] {
        let bytes = hex(jpeg);
        let (ours, info) = image_prep::decode_rgb(&bytes).unwrap();
        assert_eq!(info.decoder, "libjpeg-turbo exact", "{name}");
        assert_eq!(ours.as_raw(), &hex(rgb), "{name}: samples differ from Pillow's");
        let theirs = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let d = ours.as_raw().iter().zip(theirs.as_raw()).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        println!("{name}: identical to Pillow; the image crate's decoder differs by up to {d} levels");
    }
    assert!(hex(BASELINE_420_RESTART).windows(2).any(|m| m == [0xFF, 0xDD]), "has a restart interval");
}

/// 21×13, a.jpg: written by Pillow/cjpeg; `_RGB` is what Pillow 13 (libjpeg-turbo 3) decodes.
const BASELINE_420_RESTART: &str = "ffd8ffe000104a46494600010100000100010000ffdb0043000403030303020403030304040405060a06060505060c0809070a0e0c0f0e0e0c0d0d0f1116130f1015110d0d131a131517181919190f121b1d1b181d16181918ffdb0043010404040605060b06060b18100d101818181818181818181818181818181818181818181818181818181818181818181818181818181818181818181818181818ffc0001108000d001503012200021101031101ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffdd00040002ffda000c03010002110311003f00f01f85de3e96d671e1fd53648e8cab11cff08ce475ea319edd7bd7d016370d7090dc798245906df2f6f04fdd3db8032719efd6be30bb6687c5c278088dda5214a8fba000dfe7fc8afab3c07732dd7872da591dbf8411c1e4a6ecf4fa7e55f3b5e92528cd6d2499f4d879ca519539ee8eee58609e7f399645528003c104e493fce8aaaf287810a2040a4c78ea3803fc68a8f66baa674c656566ff0033ffd9";
const BASELINE_420_RESTART_RGB: &str = "3e1a0a65402e896251865c44996c4b9b6e4598673fa77552a8765daf7f69ae80689d7454ac89639f7f58a48362987559b78d74aa7c64b888719f6f58a9755f300f005834246944327b523c976c4ca0734c9c6c44a2724ead7b62b3836da3755da47b5da8855f96744eb29374a9876bb58d73ac8367b78b709c7055a7785e2609003c1c0d5231227f5b45886142946a44a87b52ab7b55ab795e9a685196674da4785b8d674392704bb99a7b9a7d5fac8d6eae8d6cb28f6f967353a37c5b1f0500240a002104004c2d1986634787613d865c349e714a916042ad7b62ac7d63996d5097714da2805d997a5dac8f71ae9171b69874b89776a17f5caf8b691f0c001502002913063a201164462e6a47277d57309b6f488d5c3ead7961aa785f996c4fa47b5bad89678c6a4fa38468ab886cb59171b28d70a47d5eb68a6d2215041e11011d0b010f00005037215e412367441e855b359e6f519e6b50a47259b6876ba97e5ea78363a482699e7b65a58167ab866ba88067a0785eac7f682b230e1d14032718111a09012c160840260d6d4c297e5833835436966547aa775caf80649f7356926b4e93705aad8d78a58570a98972aa8773aa8670aa84712e260f170e000f04001708051b09002812005f4222714d298d6041835234ae7b60ab795e9d7053aa82689e7a64a887749f7e6ba58471ac8b78b4917eae897732280d251d0a180d090f01010d0000261304381f015d3c19784f2f88593b946247ad7b62a17359a57b629a7660a6837096735fa98672ac8975a7826fa7816e4436192b1f0921131213040910020227160c2914004b2e0c6e472684573897654ca37158a5765ca67962a57f6aa98471a17b66af8972af8672aa816ba87d6a4b381738260e1806041c0b1317080d180904241200321900583515774c2c8f5d448e5c459c6c55966952a17b669c7661b0836cba8c72b5876fb28369aa7a634e370e2e1600200b0a1d091414040e1c0e0d180700311a005837187d543692624b98664fa878619d7059ad8470a87f69ae8269b4866cb18369b5876daa7b614b2a004021041c00002a14211b09170d0003291909301c01462909734c2d80523a9a6752a777609b6d56a87e68a68069a07b61a27d62a17c61b08b70a47f64";
/// 19×10, b.jpg: written by Pillow/cjpeg; `_RGB` is what Pillow 13 (libjpeg-turbo 3) decodes.
const PROGRESSIVE_422: &str = "ffd8ffe000104a46494600010100000100010000ffdb004300030202020202030202020303030304060404040404080606050609080a0a090809090a0c0f0c0a0b0e0b09090d110d0e0f101011100a0c12131210130f101010ffdb00430103030304030408040408100b090b1010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010ffc2001108000a001303012100021101031101ffc40017000101010100000000000000000000000005000407ffc4001801000203000000000000000000000000000306000204ffda000c0301000210031000000115e59634a94e79aca476164fffc4001c1000020105010000000000000000000000010204000311122122ffda0008010100010502c8decce403786697c345e86e37ffc4001b11000202030100000000000000000000000001113102215191ffda0008010301013f0199503c1befa8a7a1d9ffc4001b11000300020300000000000000000000000001110213223151ffda0008010201013f016b95137097b35e1e1fffc4001f1000020202010500000000000000000000011100020321122231415281ffda0008010100063f0217c57e2fc91a338e5ab7195bfb32d69d2176103f6310d09fffc4001f100100020201050100000000000000000001112100413151617191c1f0ffda0008010100013f21a58cdd0340fa30f522d9e5fddf14c69b33f58d69e006f132534df4831acf0701acffda000c0301000200030000001083fdffc4001c110100010501010000000000000000000001001121314181c191ffda0008010301013f102a1796d5baee20afc01c290b7867d8daa7ffc4001e11010002020105000000000000000000000100112131418191b1d1e1ffda0008010201013f1066aceb93d4484be9af3282c5bf097653d89fffc4001c1001010003010101010000000000000000011100213151614171ffda0008010100013f1081f529d5b161e8321c73ca30cc278d3af769e685c8ea2aafc69c43d195fd870d7358ced25aba44fe6dd7dc7d498b809c0399ffd9";
const PROGRESSIVE_422_RGB: &str = "865d3f9a6e51794d327d4a2d8e542faa6f45b17e49a97742c08c5cb88858a7824dad8c56b8905cb78d5db38c61aa835abe9c6ca985559f754ba77155915b3f966046915a3c89532da06a3e9d6937a76f3eb07148b5754fc28f64b6855acf9a70c9956eac805db78666c68366c0795bb87d5ba36d418f5c31956a3d7f5f2c806c2f7a69246d5610a37d3ca9723ac0814eaf7543be8653bf8c57be9561c2ad78b8a676b5956cb2906ab1956d9e745b9b6d56a97560945d487d4e3074462286522b854d28935b3a9d6647bc906db88c69bc8566c68d72bf8d74bd8f6ecda571caa064c798628d6e408d683ea3764fb37f5898683a7f4d1aa5703a97622c956831a87f49916f329f7b3f9c7033bc8952bc8856c79465b48d56b99660c09a698e6341a077578861407a58359275499c7d4e9f7e49926d39886231906538925f309a6738956c369f7a459f7b4b9e7547ac804fb68b58b8935f8350359a684f895b43794b33804d308e5939976240ab7956986d4b97684aa76a4eab6e518355319266439d654aa86a51c18563c0845fb67c577744178f633693714499784b8b6737855d2c77541e85642f8767388c6238985c38995d398c673a8263358d623f90633c9469349e7138a0724061351a6b4128664429775436a0744da0734aa377528559347e53268d613092663594613497582f9b5732a7663e9a62318d61209d792fa58538915f3e875638754c306d41248757318f5e368c5e3d794c2d7d50297a4d247b51299a6a46945c3b9255389d6242a46f4fac7e5ca47c5999734e";
/// 11×18, c.jpg: written by Pillow/cjpeg; `_RGB` is what Pillow 13 (libjpeg-turbo 3) decodes.
const PROGRESSIVE_440: &str = "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffdb00430103040405040509050509140d0b0d1414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414ffc20011080012000b03011200021101031101ffc4001800000301010000000000000000000000000004060305ffc4001801000301010000000000000000000000000102050304ffda000c030100021003100000019cd615ca349b3e284be2f5ff00ffc4001c1000030001050000000000000000000000010203050004112234ffda0008010100010502c0708d340a98106badc584ed80f254f7ffc4001b11000201050000000000000000000000000001110221324151ffda0008010301013f01d109de0e14627fffc400191101000203000000000000000000000000010002101141ffda0008010201013f01549aaf5cff00ffc40021100001030207010000000000000000000002000103111213224151618191b1ffda0008010100063f029267121376a2a38defbabab934e110e1f8a45d37c5ffc40020100002020103050000000000000000000001110021314151617191b1e1f1ffda0008010100013f21042a2380bec06cb0bdb665f0000a7502bb4b615c80f32efda1b51f527fffda000c0301000200030000001018c1ffc4001d110001040203000000000000000000000001001121b1314171c1f0ffda0008010301013f102c6779dc7680ae7fb946c28ac4bfffc4001d110001030501000000000000000000000001001141213171b1f051ffda0008010201013f10b84c778dcc9dad4c9527076a4e4ed7ffc4002010010100020200070000000000000000000111002131614151718191b1c1ffda0008010100013f106fe451b2c3f5d5e58985a6c842a195deacf6c0915ca17d027207c6deb1f5466da283a004de798b6e7a50fa3e31e159556f2b473fffd9";
const PROGRESSIVE_440_RGB: &str = "7342245a3d2f6e38144c1a1368442eb37f83b99d6db99c7aa180718a6b568e775874462c5c3f2d69371454281b653f2aad7a77b29a6ea588668666517355399e88636b452e5d3f23532c0b6c4f318863499f7161b3a5809c84608d714a725930a892635734216b4a2b623b1a795f3e9f7658c69982a49576a5886893734c84673dab9063623f2c4e2a08663a13906d51a97e51a97b64b29e839d785b9671549d785ba480604b28154a210177431c67392299703cab7e679b7d63a1755ca37e64af8a709e755f4d2b105a36166e340e864b3987642ea78267936a4ea8795f9b7e5ea48569a181686645246e4b2b9a6241925540967447aa87679e71529c7053987e5d987b5da989724f330b684f278d64489464407e5c41987b53a77c5aa6865f91734f91705198745a6043177357327a5a43795229885e529f7c52a27b54a48d61b69979a3846796735d6846185d3619523e2378582f945b54b0825e8d6b3dad986bab977ca58d75a0857279542a59291367533a5f3e1b8c4c43b27d5b9f7a4da8936897866c9c866f9479665d35115d29146a50356540238d4e3cb58561b68f64b49870a0896aa186698b6b524724087c483364412d92644a9b6348af8a5ead8260ae906aa9916f9f82627d5a3c3d240e784f2f6d42399361409b7954a49959c0967eb39571ac966fa289617b593347301e583410643731a2724e99795397955aa87f6daa8966a38b69ad90668d6742482e17653f1b633e2e876341a379539d95719979649871509d7e69a9895a9263474a2c145d371365422f7f613faa7a569b907a9f806b9a7151906f60a98555935f47";
