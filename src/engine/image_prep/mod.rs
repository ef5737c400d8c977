//! Image file → the pixel values CLIP reads, as transformers' PIL-based `CLIPImageProcessor` makes them
//! (`CLIPImageProcessorPil`, which the goldens use): decode, turn by the EXIF orientation, composite alpha on
//! white, resize the shortest edge to 224 with **PIL's** bicubic filter, centre-crop 224×224, rescale by 1/255,
//! normalise with the checkpoint's mean and std, and lay out as CHW f32.
//!
//! PNG and GIF are decoded by the `image` crate (lossless: the same samples as Pillow). JPEG is decoded by `jpeg`,
//! a small decoder that reproduces libjpeg-turbo (Pillow's decoder) sample for sample; the `image` crate's JPEG
//! decoder differs by up to 2 levels here and there, which is more than the 0.02 tolerance after normalisation.
//! JPEGs it does not handle (CMYK, arithmetic-coded, 12-bit) go to the `image` crate.
//!
//! The resize ([`resample`]) is a re-implementation of Pillow's `Resample.c` (`ImagingResample` for 8-bit
//! images), not the `image` crate's filters, because the model's inputs should be the ones it was evaluated with:
//! Pillow computes each output sample from the input samples within `support × scale` of its centre (the kernel is
//! stretched when downscaling, which antialiases), rounds the normalised coefficients to 22-bit fixed point, and
//! runs a horizontal pass, rounded to 8 bits, before the vertical one. Only the pixels inside the crop are computed
//! (every output pixel depends on its own coefficients alone, so the result is the same as resizing everything
//! and cropping); this also keeps extreme aspect ratios cheap.
//!
//! [`config`] reads `preprocessor_config.json`; [`format`] sniffs the file and reads its header before anything is
//! decoded. Mirrors transformers' processor:
//! https://github.com/huggingface/transformers/blob/main/src/transformers/models/clip/image_processing_clip.py

mod config;
mod format;
/// Public for its corpus and fuzz tests (tests/jpeg_corpus.rs, tests/jpeg_fuzz.rs); the app goes through
/// [`decode_rgb`].
pub mod jpeg;
mod resample;

pub use config::{PreprocessConfig, ResizeTo, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD};
pub use format::{detect_format, header_dimensions};
pub use resample::{resample_window, Resample};

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};

use self::format::jpeg_truncated;
use super::{Error, Result};

/// Larger images are refused before decoding (from the sizes in the file header).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Larger files are refused before anything is read from them (a 40-megapixel JPEG is typically 10–20 MB).
pub const MAX_FILE_BYTES: u64 = 50_000_000;

/// The refusal for a file of `len` bytes, if it is over [`MAX_FILE_BYTES`]: callers that know a file's size before
/// reading it (a dropped file, the CLI) check it first; [`decode_rgb`] checks what it is given.
pub fn check_file_size(len: u64) -> Result<()> {
    if len > MAX_FILE_BYTES {
        return Err(image_error(format!(
            "The image file is too large: {:.1} MB, over the {} MB limit. Please scale it down or save it smaller first.",
            len as f64 / 1e6,
            MAX_FILE_BYTES / 1_000_000
        )));
    }
    Ok(())
}

/// What happened to the image on its way to the model (for the UI and the tests).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// "png", "jpeg", "gif" (empty when the pixels came precomputed).
    pub format: String,
    /// Which decoder made the samples: "libjpeg-turbo exact" (our JPEG decoder, sample for sample what Pillow
    /// gets) or "image crate".
    pub decoder: String,
    /// As stored in the file.
    pub file_width: u32,
    pub file_height: u32,
    /// EXIF orientation (1 = as stored; 6 = turn 90° clockwise, ...).
    pub exif_orientation: u8,
    /// After the orientation: the picture as a person sees it.
    pub width: u32,
    pub height: u32,
    /// The file had an alpha channel, composited on white.
    pub alpha_composited: bool,
    pub greyscale: bool,
    pub resized_width: u32,
    pub resized_height: u32,
    pub crop_top: u32,
    pub crop_left: u32,
}

/// The model's input and a picture of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreparedImage {
    /// `[3, height, width]` row-major, rescaled and normalised.
    pub pixel_values: Vec<f32>,
    /// The resized and cropped RGB image the pixel values come from, `[height][width][3]`.
    pub crop_rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
    pub info: ImageInfo,
}

/// Decode an image file and preprocess it for the model.
pub fn prepare(bytes: &[u8], cfg: &PreprocessConfig) -> Result<PreparedImage> {
    let (rgb, info) = decode_rgb(bytes)?;
    prepare_rgb(&rgb, info, cfg)
}

fn image_error(msg: impl Into<String>) -> Error {
    Error::Image(msg.into())
}

/// Decode to 8-bit RGB as the reference does: EXIF orientation applied, alpha composited on white with
/// `(c·a + 255·(255 − a) + 127) / 255`, greyscale replicated, 16-bit samples cut to their high byte (as Pillow
/// reads 16-bit RGB PNGs). GIFs give their first frame.
pub fn decode_rgb(bytes: &[u8]) -> Result<(RgbImage, ImageInfo)> {
    check_file_size(bytes.len() as u64)?;
    let format = detect_format(bytes)?;
    let upper = match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        _ => "GIF",
    };
    let name = upper.to_lowercase();
    let (w, h) = header_dimensions(bytes, format)
        .ok_or_else(|| image_error(format!("This {upper} file is damaged: its header cannot be read.")))?;
    if w == 0 || h == 0 {
        return Err(image_error(format!("This {upper} file says the image is {w}×{h} pixels: nothing to show.")));
    }
    let pixels = w as u64 * h as u64;
    if pixels > MAX_PIXELS {
        return Err(image_error(format!(
            "The image is too large: {w}×{h} pixels ({:.0} megapixels); the limit is {} megapixels. Please scale it down first.",
            pixels as f64 / 1e6,
            MAX_PIXELS / 1_000_000
        )));
    }
    if format == ImageFormat::Jpeg && jpeg_truncated(bytes) {
        return Err(image_error("This JPEG file is incomplete (truncated): it ends before the image does."));
    }
    let damaged = |e: image::ImageError| image_error(format!("This {upper} file cannot be decoded (damaged or truncated?): {e}"));
    // Decoders for untrusted files: a panic inside one becomes an error message, not a crash (natively).
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(DynamicImage, u8, bool)> {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(w.max(h));
        limits.max_image_height = Some(w.max(h));
        reader.limits(limits);
        // JPEG samples as Pillow (libjpeg-turbo) decodes them; what our decoder leaves aside goes to `image`. Its
        // errors (damaged structure, unsupported coding, the work bound) stand for both decoders.
        let exact = match format {
            ImageFormat::Jpeg => jpeg::decode(bytes).map_err(|e| image_error(format!("This JPEG file cannot be decoded: {e}.")))?,
            _ => None,
        };
        let mut decoder = reader.into_decoder().map_err(damaged)?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let exact_jpeg = exact.is_some();
        let mut img = match exact {
            Some(j) if j.channels == 1 => DynamicImage::ImageLuma8(
                image::GrayImage::from_raw(j.width as u32, j.height as u32, j.data).expect("w·h samples"),
            ),
            Some(j) => DynamicImage::ImageRgb8(RgbImage::from_raw(j.width as u32, j.height as u32, j.data).expect("w·h·3 samples")),
            None => DynamicImage::from_decoder(decoder).map_err(damaged)?,
        };
        img.apply_orientation(orientation);
        Ok((img, orientation.to_exif(), exact_jpeg))
    }))
    .unwrap_or_else(|_| Err(image_error(format!("This {upper} file could not be decoded (the decoder failed on it)."))))?;
    let (img, exif_orientation, exact_jpeg) = decoded;
    let greyscale = !img.color().has_color();
    let alpha = img.color().has_alpha();
    let rgb = to_rgb_on_white(img);
    let info = ImageInfo {
        format: name,
        decoder: if exact_jpeg { "libjpeg-turbo exact" } else { "image crate" }.to_string(),
        file_width: w,
        file_height: h,
        exif_orientation,
        width: rgb.width(),
        height: rgb.height(),
        alpha_composited: alpha,
        greyscale,
        ..ImageInfo::default()
    };
    Ok((rgb, info))
}

/// `c` over white with opacity `a`, rounded as the fixture's reference does.
#[inline]
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (c as u32, a as u32);
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

fn to_rgb_on_white(img: DynamicImage) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let from_rgba = |px: &mut dyn Iterator<Item = [u8; 4]>| -> RgbImage {
        let mut out = Vec::with_capacity(w as usize * h as usize * 3);
        for [r, g, b, a] in px {
            out.extend_from_slice(&[over_white(r, a), over_white(g, a), over_white(b, a)]);
        }
        RgbImage::from_raw(w, h, out).expect("w·h·3 samples")
    };
    let hi = |v: u16| (v >> 8) as u8;
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        DynamicImage::ImageLuma8(l) => from_rgba(&mut l.pixels().map(|p| [p[0], p[0], p[0], 255])),
        DynamicImage::ImageLumaA8(la) => from_rgba(&mut la.pixels().map(|p| [p[0], p[0], p[0], p[1]])),
        DynamicImage::ImageRgba8(rgba) => from_rgba(&mut rgba.pixels().map(|p| p.0)),
        DynamicImage::ImageRgb16(i) => from_rgba(&mut i.pixels().map(|p| [hi(p[0]), hi(p[1]), hi(p[2]), 255])),
        DynamicImage::ImageRgba16(i) => from_rgba(&mut i.pixels().map(|p| [hi(p[0]), hi(p[1]), hi(p[2]), hi(p[3])])),
        DynamicImage::ImageLuma16(i) => from_rgba(&mut i.pixels().map(|p| [hi(p[0]), hi(p[0]), hi(p[0]), 255])),
        DynamicImage::ImageLumaA16(i) => from_rgba(&mut i.pixels().map(|p| [hi(p[0]), hi(p[0]), hi(p[0]), hi(p[1])])),
        other => from_rgba(&mut other.to_rgba8().pixels().map(|p| p.0)),
    }
}

/// Size after the resize step, `(width, height)`.
pub fn resized_size(width: usize, height: usize, resize: Option<ResizeTo>) -> (usize, usize) {
    match resize {
        None => (width, height),
        Some(ResizeTo::Exact { height, width }) => (width, height),
        Some(ResizeTo::ShortestEdge(edge)) => {
            let (short, long) = if width <= height { (width, height) } else { (height, width) };
            // Python's int(edge * long / short): the exact quotient rounded to f64, then truncated.
            let new_long = ((edge * long) as f64 / short as f64) as usize;
            if width <= height {
                (edge, new_long)
            } else {
                (new_long, edge)
            }
        }
    }
}

/// Resize, crop, rescale and normalise an RGB image.
pub fn prepare_rgb(rgb: &RgbImage, mut info: ImageInfo, cfg: &PreprocessConfig) -> Result<PreparedImage> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (rw, rh) = resized_size(w, h, cfg.resize);
    let (ch, cw) = cfg.crop.unwrap_or((rh, rw));
    if ch > rh || cw > rw {
        return Err(Error::Config(format!(
            "preprocessor_config.json: a {cw}×{ch} crop of the {rw}×{rh} resized image is not supported"
        )));
    }
    let (top, left) = ((rh - ch) / 2, (rw - cw) / 2);
    let crop = resample_window(rgb.as_raw(), w, h, rw, rh, left, top, cw, ch, cfg.resample);
    let mut pixel_values = Vec::with_capacity(3 * ch * cw);
    for c in 0..3 {
        pixel_values.extend(crop.chunks_exact(3).map(|px| {
            let v = px[c];
            let mut x = match cfg.rescale_factor {
                Some(f) => (v as f64 * f) as f32,
                None => v as f32,
            };
            if let Some((mean, std)) = &cfg.normalize {
                x = (x - mean[c]) / std[c];
            }
            x
        }));
    }
    info.resized_width = rw as u32;
    info.resized_height = rh as u32;
    info.crop_top = top as u32;
    info.crop_left = left as u32;
    Ok(PreparedImage { pixel_values, crop_rgb: crop, width: cw, height: ch, info })
}
