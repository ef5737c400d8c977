//! What kind of file this is and how big its image is, from its first bytes: nothing is decoded before the
//! format is one the app reads and the pixel count is under the limit.

use image::ImageFormat;

use super::image_error;
use crate::engine::Result;

const SUPPORTED: &str = "please use a PNG, JPEG or GIF file";

/// The file's format from its first bytes; a clear refusal for everything but PNG, JPEG and GIF.
pub fn detect_format(bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(image_error("The image file is empty (0 bytes)."));
    }
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif)) => Ok(f),
        Ok(other) => {
            let name = other.extensions_str().first().map_or("this", |e| e).to_uppercase();
            Err(image_error(format!("{name} images are not supported: {SUPPORTED}.")))
        }
        Err(_) => {
            let head: String =
                String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_lowercase().chars().collect();
            if head.contains("<svg") {
                Err(image_error(format!(
                    "This is an SVG drawing (vector graphics), not a picture made of pixels: export it as PNG first, or {SUPPORTED}."
                )))
            } else if bytes.get(4..8) == Some(b"ftyp") {
                Err(image_error(format!("HEIC/AVIF photos are not supported: {SUPPORTED}.")))
            } else {
                Err(image_error(format!("This file is not an image format the app can read: {SUPPORTED}.")))
            }
        }
    }
}

fn be16(b: &[u8], i: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize)
}

/// Width and height from the file header alone (nothing is decoded).
pub fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Gif => {
            let le16 = |i: usize| Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
            Some((le16(6)?, le16(8)?))
        }
        ImageFormat::Jpeg => {
            // Walk the marker segments to the frame header (SOFn: precision, height, width), skipping stray bytes
            // between segments as libjpeg does.
            let mut i = 2;
            loop {
                while *bytes.get(i)? != 0xFF {
                    i += 1;
                }
                while *bytes.get(i)? == 0xFF {
                    i += 1;
                }
                let marker = bytes[i];
                i += 1;
                match marker {
                    0x01 | 0xD0..=0xD8 => {}
                    0xD9 | 0xDA => return None,
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        return Some((be16(bytes, i + 5)? as u32, be16(bytes, i + 3)? as u32));
                    }
                    _ => i += be16(bytes, i)?,
                }
            }
        }
        _ => None,
    }
}

/// A JPEG whose marker structure runs off the end of the data before the end-of-image marker. (The JPEG decoder
/// is lenient and would show the missing part as grey; Pillow refuses such files.)
pub(super) fn jpeg_truncated(b: &[u8]) -> bool {
    let mut i = 2;
    loop {
        match (b.get(i), b.get(i + 1)) {
            (Some(0xFF), Some(&marker)) => {
                i += 2;
                match marker {
                    0xFF => i -= 1, // fill byte
                    0xD9 => return false,
                    0x01 | 0xD0..=0xD8 => {}
                    _ => {
                        let Some(len) = be16(b, i) else { return true };
                        i += len;
                        if marker == 0xDA {
                            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a
                            // restart marker.
                            while i + 1 < b.len() && !(b[i] == 0xFF && b[i + 1] != 0 && !(0xD0..=0xD7).contains(&b[i + 1])) {
                                i += 1;
                            }
                        }
                    }
                }
            }
            (Some(_), Some(_)) => return false, // not a marker where one belongs: let the decoder judge
            _ => return true,
        }
    }
}
