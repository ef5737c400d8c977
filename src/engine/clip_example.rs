//! The CLIP lab's first-visit example: one photo and the lab's starting captions, classified in advance by the
//! site's build (`scripts/build.sh --clip-example REPO`, on GitHub's runner with the real checkpoint) and announced
//! in index.html, so that a student sees CLIP's probabilities before 605 MB of weights have downloaded.
//!
//! Format (schema `nlu-lab/clip-example@1`, a few hundred bytes): the repo and revision that computed it, whether
//! its files matched the catalogue's pins, the image's file name (in the site's `examples/`) and sha256, and per
//! caption the probability and the logit. `nlu-lab clip --format example` writes it.

use serde::{Deserialize, Serialize};

use super::catalogue::{self, sha256_hex};
use super::pipeline::ClipResult;

pub const CLIP_EXAMPLE_SCHEMA: &str = "nlu-lab/clip-example@1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipExample {
    pub schema: String,
    /// The catalogue model that computed it, at `revision`.
    pub repo: String,
    pub revision: String,
    /// Whether every file of the model folder matched the catalogue's pin (size and sha256): false for a
    /// synthetic or otherwise unpinned checkpoint, and the lab then says so.
    pub verified: bool,
    /// The image's file name in the site's `examples/` folder.
    pub image: String,
    pub image_sha256: String,
    pub captions: Vec<String>,
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
}

impl ClipExample {
    /// `result` of `repo`'s model (its folder's files `verified` against the pins) on the image `image_bytes`,
    /// which the site serves as `examples/<image_name>`.
    pub fn new(result: &ClipResult, repo: &str, verified: bool, image_name: &str, image_bytes: &[u8]) -> Result<Self, String> {
        let entry = catalogue::find(repo).ok_or_else(|| format!("{repo} is not a catalogue model"))?;
        if entry.family != catalogue::Family::Clip {
            return Err(format!("{repo} is not a CLIP model"));
        }
        let example = Self {
            schema: CLIP_EXAMPLE_SCHEMA.into(),
            repo: repo.into(),
            revision: entry.revision.into(),
            verified,
            image: image_name.into(),
            image_sha256: sha256_hex(image_bytes),
            captions: result.captions.clone(),
            probs: result.probs.clone(),
            logits: result.logits.clone(),
        };
        example.check()?;
        Ok(example)
    }

    /// Read what the site announces, refusing anything the lab could not show as it stands.
    pub fn parse(json: &str) -> Result<Self, String> {
        let example: Self = serde_json::from_str(json).map_err(|e| format!("not a CLIP example: {e}"))?;
        example.check()?;
        Ok(example)
    }

    fn check(&self) -> Result<(), String> {
        if self.schema != CLIP_EXAMPLE_SCHEMA {
            return Err(format!("schema {} is not {CLIP_EXAMPLE_SCHEMA}", self.schema));
        }
        let n = self.captions.len();
        if n < 2 || self.probs.len() != n || self.logits.len() != n {
            return Err(format!("{n} captions, {} probabilities, {} logits", self.probs.len(), self.logits.len()));
        }
        let sum: f32 = self.probs.iter().sum();
        if self.probs.iter().chain(&self.logits).any(|v| !v.is_finite()) || (sum - 1.0).abs() > 1e-3 {
            return Err(format!("probabilities that do not sum to 1 ({sum})"));
        }
        // A plain file name: the lab puts it after "examples/" of its own site.
        let plain = !self.image.is_empty()
            && self.image.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !self.image.starts_with('.');
        if !plain {
            return Err(format!("image {:?} is not a plain file name", self.image));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an example serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ClipExample {
        ClipExample {
            schema: CLIP_EXAMPLE_SCHEMA.into(),
            repo: "openai/clip-vit-base-patch32".into(),
            revision: "abc".into(),
            verified: true,
            image: "chelsea.png".into(),
            image_sha256: "00".into(),
            captions: vec!["a photo of a cat".into(), "a photo of a dog".into()],
            probs: vec![0.9, 0.1],
            logits: vec![24.0, 21.8],
        }
    }

    #[test]
    fn parse_reads_back_what_to_json_wrote_and_refuses_what_the_lab_cannot_show() {
        let e = example();
        assert_eq!(ClipExample::parse(&e.to_json()).unwrap(), e);
        let refused = |change: fn(&mut ClipExample)| {
            let mut e = example();
            change(&mut e);
            ClipExample::parse(&e.to_json()).unwrap_err()
        };
        assert!(refused(|e| e.schema = "nlu-lab/clip@1".into()).contains("schema"));
        assert!(refused(|e| e.probs = vec![0.5, 0.2]).contains("sum to 1"));
        assert!(refused(|e| { e.logits.pop(); }).contains("1 logits"));
        assert!(refused(|e| e.image = "../index.html".into()).contains("plain file name"));
        assert!(refused(|e| e.image = "https://example.com/cat.png".into()).contains("plain file name"));
        assert!(refused(|e| e.captions.truncate(1)).contains("1 captions"));
        assert!(ClipExample::parse("{}").unwrap_err().starts_with("not a CLIP example"));
    }
}
