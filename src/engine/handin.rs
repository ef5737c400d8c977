//! The CLIP lab's hand-in: one zip a teacher checks with `nlu-lab check`. It holds the image exactly as the student
//! chose it, the PNG card, the submission JSON (schema `nlu-lab/clip-submission@1`) and a README saying how to check
//! it. Entries are stored, not compressed: the image and the PNG are compressed already, and the reader stays small.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

pub const SUBMISSION_SCHEMA: &str = "nlu-lab/clip-submission@1";
pub const SUBMISSION_FILE: &str = "submission.json";
pub const CARD_FILE: &str = "card.png";
pub const README_FILE: &str = "README.txt";
/// What the lab names the download.
pub const HANDIN_FILE: &str = "clip-handin.zip";

/// The largest entry a hand-in may hold: the image limit (50 MB), with room for the card.
const MAX_ENTRY_BYTES: u64 = 60_000_000;
const MAX_ENTRIES: usize = 16;

const README: &str = "A CLIP lab hand-in from nlu-lab.

submission.json  the captions, CLIP's probabilities and logits, the model, its revision and weights (sha256),
                 the precision, the image's sha256 and the app's version
image.*          the image exactly as the student chose it (its sha256 is in submission.json)
card.png         the picture the student saw: the crop, the captions and their probabilities

To check it, with the model's folder (config.json, tokenizer.json, preprocessor_config.json, model.safetensors):

  nlu-lab check clip-handin.zip --model DIR

It recomputes the probabilities natively and prints agree or differ, with the largest difference.
";

fn zipped_again(name: &str) -> String {
    format!("{name} in this zip is compressed, so the zip was made again: hand in {HANDIN_FILE} as the lab downloaded it")
}

/// The hand-in's parts.
#[derive(Clone, Debug, PartialEq)]
pub struct HandIn {
    pub submission_json: String,
    /// `image.png`, `image.jpg` or `image.gif`, by the bytes' format.
    pub image_file: String,
    pub image: Vec<u8>,
    pub card_png: Vec<u8>,
}

/// `image.<ext>` for the image's bytes (the lab only takes PNG, JPEG and GIF).
pub fn image_file_name(image: &[u8]) -> String {
    let ext = match crate::engine::image_prep::detect_format(image) {
        Ok(image::ImageFormat::Png) => "png",
        Ok(image::ImageFormat::Gif) => "gif",
        Ok(image::ImageFormat::Jpeg) => "jpg",
        _ => "bin",
    };
    format!("image.{ext}")
}

impl HandIn {
    pub fn new(submission_json: String, image: Vec<u8>, card_png: Vec<u8>) -> Self {
        Self { submission_json, image_file: image_file_name(&image), image, card_png }
    }

    pub fn to_zip(&self) -> Result<Vec<u8>, String> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let entries: [(&str, &[u8]); 4] = [
            (SUBMISSION_FILE, self.submission_json.as_bytes()),
            (&self.image_file, &self.image),
            (CARD_FILE, &self.card_png),
            (README_FILE, README.as_bytes()),
        ];
        for (name, bytes) in entries {
            zip.start_file(name, stored).map_err(|e| format!("cannot write the hand-in: {e}"))?;
            zip.write_all(bytes).map_err(|e| format!("cannot write the hand-in: {e}"))?;
        }
        Ok(zip.finish().map_err(|e| format!("cannot write the hand-in: {e}"))?.into_inner())
    }

    /// Read a hand-in zip. Anything else (another zip, a damaged one, entries too large) is refused with a sentence
    /// that says what is wrong; nothing is extracted to disk.
    pub fn from_zip(bytes: &[u8]) -> Result<Self, String> {
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a zip file ({e}): a hand-in is the lab's {HANDIN_FILE}"))?;
        if zip.len() > MAX_ENTRIES {
            return Err(format!("a hand-in holds 4 files, this zip {}", zip.len()));
        }
        let mut entry = |name: &str| -> Result<Option<Vec<u8>>, String> {
            let mut file = match zip.by_name(name) {
                Ok(file) => file,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                // The lab writes stored entries; a zip made again by hand is compressed.
                Err(zip::result::ZipError::UnsupportedArchive(_)) => return Err(zipped_again(name)),
                Err(e) => return Err(format!("{name} in the hand-in: {e}")),
            };
            if file.compression() != CompressionMethod::Stored {
                return Err(zipped_again(name));
            }
            if file.size() > MAX_ENTRY_BYTES {
                return Err(format!("{name} in the hand-in is {} bytes, more than any hand-in holds", file.size()));
            }
            let size = file.size();
            let mut out = Vec::with_capacity(size as usize);
            // At most the size its header claims (checked above), whatever the entry's data says.
            (&mut file).take(size).read_to_end(&mut out).map_err(|e| format!("{name} in the hand-in cannot be read: {e}"))?;
            Ok(Some(out))
        };
        let json = entry(SUBMISSION_FILE)?.ok_or(format!("this zip has no {SUBMISSION_FILE}: it is not a CLIP lab hand-in"))?;
        let submission_json = String::from_utf8(json).map_err(|_| format!("{SUBMISSION_FILE} is not UTF-8 text"))?;
        let card_png = entry(CARD_FILE)?.unwrap_or_default();
        for image_file in ["image.png", "image.jpg", "image.gif"] {
            if let Some(image) = entry(image_file)? {
                return Ok(Self { submission_json, image_file: image_file.into(), image, card_png });
            }
        }
        Err("this hand-in has no image (image.png, image.jpg or image.gif)".into())
    }
}

/// A hand-in's submission JSON, the parts a re-check needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub captions: Vec<String>,
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    pub precision: String,
    pub image_sha256: String,
    /// The full-precision check's probabilities, when the student ran it.
    pub full_precision: Option<Vec<f32>>,
    /// The weight files that computed it, name and sha256 (empty in hand-ins from before the app recorded them).
    pub weights: Vec<(String, String)>,
    pub app_version: Option<String>,
}

impl Submission {
    /// Whether `image` (called `name` in the message) is the image the submission was computed on, by sha256.
    pub fn check_image(&self, image: &[u8], name: &str) -> Result<(), String> {
        let sha = crate::engine::catalogue::sha256_hex(image);
        if sha == self.image_sha256 {
            return Ok(());
        }
        Err(format!("{name} is not the image the submission was computed on (its sha256 is {sha}, the submission's {})", self.image_sha256))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if doc["schema"] != SUBMISSION_SCHEMA {
            return Err(format!("not a CLIP lab hand-in (schema {SUBMISSION_SCHEMA})"));
        }
        let numbers = |v: &serde_json::Value| -> Option<Vec<f32>> { v.as_array()?.iter().map(|x| x.as_f64().map(|x| x as f32)).collect() };
        let field = |name: &str| format!("no {name}");
        let captions: Vec<String> = doc["captions"]
            .as_array()
            .and_then(|a| a.iter().map(|c| c.as_str().map(String::from)).collect())
            .ok_or(field("captions"))?;
        let probabilities = numbers(&doc["probabilities"]).ok_or(field("probabilities"))?;
        let logits = numbers(&doc["logits"]).ok_or(field("logits"))?;
        let full_precision = numbers(&doc["full_precision"]["probabilities"]);
        let lengths = [Some(probabilities.len()), Some(logits.len()), full_precision.as_ref().map(Vec::len)];
        if captions.is_empty() || lengths.iter().flatten().any(|n| *n != captions.len()) {
            return Err(format!("{} captions but {} probabilities and {} logits", captions.len(), probabilities.len(), logits.len()));
        }
        let files = |v: &serde_json::Value| -> Vec<(String, String)> {
            v.as_array()
                .map(|ws| ws.iter().filter_map(|w| Some((w["name"].as_str()?.to_string(), w["sha256"].as_str()?.to_string()))).collect())
                .unwrap_or_default()
        };
        // A pack names its weight files itself; newer hand-ins name them at the top for every precision.
        let mut weights = files(&doc["weights"]);
        if weights.is_empty() {
            weights = files(&doc["pack"]["weights"]);
        }
        Ok(Self {
            captions,
            probabilities,
            logits,
            precision: doc["precision"].as_str().unwrap_or("f32").to_string(),
            image_sha256: doc["image_sha256"].as_str().ok_or(field("image_sha256"))?.to_string(),
            full_precision,
            weights,
            app_version: doc["app_version"].as_str().map(String::from),
        })
    }
}
