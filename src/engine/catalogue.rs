//! The models the app offers, in one table: where each lives on the Hub, which files it needs, how big they are.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// BERT, RoBERTa, DistilBERT: the attention lab.
    Encoder,
    /// CLIP: the CLIP lab.
    Clip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelFile {
    pub name: &'static str,
    /// The revision the file is fetched at: a commit hash (never changes), or a ref such as `refs/pr/15` where no
    /// commit holds the file (then the pinned sha256 is what makes it safe).
    pub revision: &'static str,
    /// Exact size in bytes where known (checked as the bytes arrive), else `None`.
    pub size: Option<u64>,
    /// sha256 of the file, from `../shared/hf-pins.md`'s "high" rows. A file with a pin is *verified*: its bytes
    /// are shared whatever hub served them. One without is kept apart per hub and shown as not verified.
    pub sha256: Option<&'static str>,
}

impl ModelFile {
    pub fn is_pinned(&self) -> bool {
        self.sha256.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub repo: &'static str,
    /// The model's revision as shown and handed in (the commit of its small files); each file carries its own.
    pub revision: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub family: Family,
    /// Approximate download in megabytes, for the selector.
    pub download_mb: u32,
    pub files: &'static [ModelFile],
}

impl CatalogueEntry {
    /// Whether every file has a pinned sha256: only then does the app say "verified".
    pub fn is_verified(&self) -> bool {
        self.files.iter().all(ModelFile::is_pinned)
    }

    pub fn file(&self, name: &str) -> Option<&'static ModelFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// What the selector says after the name of a model whose files are not all pinned.
pub const NOT_VERIFIED: &str = "not verified: size and checksum unknown";

const fn pinned(name: &'static str, revision: &'static str, size: Option<u64>, sha256: &'static str) -> ModelFile {
    ModelFile { name, revision, size, sha256: Some(sha256) }
}

const fn unpinned(name: &'static str, revision: &'static str) -> ModelFile {
    ModelFile { name, revision, size: None, sha256: None }
}

const MINILM: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";
const BERT_UNCASED: &str = "86b5e0934494bd15c9632b12f734a8a67f723594";
const BERT_CASED: &str = "cd5ef92a9fb2f889e972770a36d4ed042daf221e";
const BERT_MULTILINGUAL: &str = "3f076fdb1ab68d5b2880cb87a0886f315b8146f8";
const DISTILBERT: &str = "12040accade4e8a0f71eabdb258fecc2e7e948be";
const ROBERTA: &str = "e2da8e2f811d1448a5b465c236feacd80ffbac7b";
const CLIP_B32: &str = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268";
/// CLIP B/32's main has no model.safetensors; the conversion lives on this PR ref (its sha256 is pinned).
const CLIP_B32_WEIGHTS: &str = "refs/pr/15";
const CLIP_B16: &str = "57c216476eefef5ab752ec549e440a49ae4ae5f3";
const CLIP_L14: &str = "32bd64288804d66eefd0ccbe215aa642df71cc41";

/// Byte for byte the same file in bert-base-uncased and distilbert-base-uncased.
const BERT_UNCASED_TOKENIZER: &str = "ce64fce797c24f68df90b40a3f74f579b336a493db14bd583fd520ea0d8c9a98";
const CLIP_PREPROCESSOR: &str = "910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd";

pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        revision: MINILM,
        display_name: "MiniLM-L6 (all-MiniLM-L6-v2)",
        description: "6 layers × 12 heads, a small BERT distilled for sentence similarity — 91 MB, the quickest start",
        family: Family::Encoder,
        download_mb: 91,
        files: &[
            pinned("config.json", MINILM, Some(612), "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            pinned("tokenizer.json", MINILM, Some(466_247), "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
            pinned(
                "model.safetensors",
                MINILM,
                Some(90_868_376),
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
        ],
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-uncased",
        revision: BERT_UNCASED,
        display_name: "BERT base, uncased",
        description: "12 layers × 12 heads, the classic BERT of the course — 440 MB",
        family: Family::Encoder,
        download_mb: 440,
        files: &[
            pinned("config.json", BERT_UNCASED, Some(570), "7160e1553ad2ca51d8c1cb066be533db31826e12d173824c1bb0cb1a4f187d20"),
            pinned("tokenizer.json", BERT_UNCASED, Some(466_062), BERT_UNCASED_TOKENIZER),
            pinned(
                "model.safetensors",
                BERT_UNCASED,
                Some(440_449_768),
                "68d45e234eb4a928074dfd868cead0219ab85354cc53d20e772753c6bb9169d3",
            ),
        ],
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-cased",
        revision: BERT_CASED,
        display_name: "BERT base, cased",
        description: "12 layers × 12 heads, keeps capital letters — 436 MB",
        family: Family::Encoder,
        download_mb: 436,
        // Only one public record of the weights' sha256, none of the small files': not pinned.
        files: &[
            unpinned("config.json", BERT_CASED),
            unpinned("tokenizer.json", BERT_CASED),
            unpinned("model.safetensors", BERT_CASED),
        ],
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-multilingual-cased",
        revision: BERT_MULTILINGUAL,
        display_name: "BERT base, multilingual",
        description: "12 layers × 12 heads, 104 languages — 714 MB",
        family: Family::Encoder,
        download_mb: 714,
        files: &[
            unpinned("config.json", BERT_MULTILINGUAL),
            unpinned("tokenizer.json", BERT_MULTILINGUAL),
            unpinned("model.safetensors", BERT_MULTILINGUAL),
        ],
    },
    CatalogueEntry {
        repo: "distilbert/distilbert-base-uncased",
        revision: DISTILBERT,
        display_name: "DistilBERT base, uncased",
        description: "6 layers × 12 heads, a distilled BERT — 268 MB",
        family: Family::Encoder,
        download_mb: 268,
        files: &[
            pinned("config.json", DISTILBERT, None, "69c94b0222d5d1f4b0ad027ca7416cdafb98378cbbb8305d0bf47c9365c60c83"),
            pinned("tokenizer.json", DISTILBERT, Some(466_062), BERT_UNCASED_TOKENIZER),
            pinned(
                "model.safetensors",
                DISTILBERT,
                Some(267_954_768),
                "5e3f1108e3cb34ee048634875d8482665b65ac713291a7e32396fb18f6ff0063",
            ),
        ],
    },
    CatalogueEntry {
        repo: "FacebookAI/roberta-base",
        revision: ROBERTA,
        display_name: "RoBERTa base",
        description: "12 layers × 12 heads, byte-level BPE tokens (Ġ marks a space) — 499 MB",
        family: Family::Encoder,
        download_mb: 499,
        files: &[
            pinned("config.json", ROBERTA, Some(481), "ef0185e2aae6e06c5f105a285006952c340e20c7dbf43c86ec82601b13fc45e9"),
            pinned("tokenizer.json", ROBERTA, Some(1_355_863), "847bbeab6174d66a88898f729d52fa8d355fafe1bea101cf960dd404581df70e"),
            pinned(
                "model.safetensors",
                ROBERTA,
                Some(498_818_054),
                "5bde1d28afb363d0103324efeb5afc8b2b397fe5e04beabb9b1ef355255ade81",
            ),
        ],
    },
    CatalogueEntry {
        repo: "openai/clip-vit-base-patch32",
        revision: CLIP_B32,
        display_name: "CLIP ViT-B/32",
        description: "the course's CLIP: 12+12 layers, 32-pixel patches — 605 MB",
        family: Family::Clip,
        download_mb: 605,
        files: &[
            pinned("config.json", CLIP_B32, Some(4186), "b575ef3c36f2a057fa19e221650105052d61cc9c1a972ec15019c6261ec98770"),
            pinned("tokenizer.json", CLIP_B32, Some(2_224_041), "b556ac8c99757ffb677208af34bc8c6721572114111a6e0aaf5fa69ff0b8d842"),
            pinned("preprocessor_config.json", CLIP_B32, Some(316), CLIP_PREPROCESSOR),
            pinned(
                "model.safetensors",
                CLIP_B32_WEIGHTS,
                Some(605_157_884),
                "99d28a652e6ec46629ab7047a0ac82c69b1fe11e0ce672c43af65d3a9a3fc05d",
            ),
        ],
    },
    CatalogueEntry {
        repo: "openai/clip-vit-base-patch16",
        revision: CLIP_B16,
        display_name: "CLIP ViT-B/16",
        description: "12+12 layers, 16-pixel patches (14×14 grid): slower, sharper — 599 MB",
        family: Family::Clip,
        download_mb: 599,
        // The config and preprocessor have pins; the tokenizer's and the weights' sha256 have one record each.
        files: &[
            pinned("config.json", CLIP_B16, None, "eaf1c9089a8553c913d27ea66407f8bfc2be9989c80c9f331ddb3d63d4c5e8ad"),
            unpinned("tokenizer.json", CLIP_B16),
            pinned("preprocessor_config.json", CLIP_B16, Some(316), CLIP_PREPROCESSOR),
            unpinned("model.safetensors", CLIP_B16),
        ],
    },
    CatalogueEntry {
        repo: "openai/clip-vit-large-patch14",
        revision: CLIP_L14,
        display_name: "CLIP ViT-L/14",
        description: "24+12 layers, the large CLIP: needs a strong laptop — 1.71 GB",
        family: Family::Clip,
        download_mb: 1710,
        files: &[
            pinned("config.json", CLIP_L14, Some(4519), "8a09b467700c58138c29d53c605b34ebc69beaadd13274a8a2af8ad2c2f4032a"),
            pinned("tokenizer.json", CLIP_L14, Some(2_224_003), "a83e0809aa4c3af7208b2df632a7a69668c6d48775b3c3fe4e1b1199d1f8b8f4"),
            pinned("preprocessor_config.json", CLIP_L14, Some(316), CLIP_PREPROCESSOR),
            pinned(
                "model.safetensors",
                CLIP_L14,
                Some(1_710_540_580),
                "a2bf730a0c7debf160f7a6b50b3aaf3703e7e88ac73de7a314903141db026dcb",
            ),
        ],
    },
];

pub fn find(repo: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.repo == repo)
}

/// Where `file` of `repo` is fetched and what it must be: the catalogue's revision and pin when the model is in
/// the catalogue at `revision` (its revision as the page names it), else `revision` with no pin.
pub fn locate(repo: &str, revision: &str, file: &str) -> (String, Option<&'static ModelFile>) {
    match find(repo).filter(|e| e.revision == revision).and_then(|e| e.file(file)) {
        Some(f) => (f.revision.to_string(), Some(f)),
        None => (revision.to_string(), None),
    }
}

pub fn encoders() -> impl Iterator<Item = &'static CatalogueEntry> {
    CATALOGUE.iter().filter(|e| e.family == Family::Encoder)
}

pub fn clips() -> impl Iterator<Item = &'static CatalogueEntry> {
    CATALOGUE.iter().filter(|e| e.family == Family::Clip)
}

/// Lower-case hex, the form the catalogue's sha256 pins are written in.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes`, written as the catalogue's pins are.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_commit(s: &str) -> bool {
        s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }

    #[test]
    fn every_entry_is_complete_and_unique() {
        let mut repos: Vec<&str> = CATALOGUE.iter().map(|e| e.repo).collect();
        repos.sort();
        repos.dedup();
        assert_eq!(repos.len(), CATALOGUE.len(), "one entry per repo");
        for e in CATALOGUE {
            assert!(e.repo.contains('/') && e.download_mb > 0, "{e:?}");
            assert!(e.files.iter().any(|f| f.name == "model.safetensors"));
            if e.family == Family::Clip {
                assert!(e.files.iter().any(|f| f.name == "preprocessor_config.json"));
            }
        }
        assert_eq!(encoders().next().unwrap().repo, "sentence-transformers/all-MiniLM-L6-v2", "the quick default");
    }

    /// Every file lives at a commit (or, for CLIP B/32's weights, the PR ref that holds them, made safe by the pin);
    /// every file is pinned (a 64-hex sha256) or its model is marked not verified; "verified" models have no gap.
    #[test]
    fn every_file_is_pinned_or_its_model_is_marked() {
        for e in CATALOGUE {
            assert!(is_commit(e.revision), "{}: the model's revision {} is not a commit", e.repo, e.revision);
            for f in e.files {
                let at_ref = f.revision == CLIP_B32_WEIGHTS && e.repo == "openai/clip-vit-base-patch32";
                assert!(is_commit(f.revision) || at_ref, "{}/{} at {}", e.repo, f.name, f.revision);
                if at_ref {
                    assert!(f.is_pinned(), "a file at a moving ref must be pinned");
                }
                if let Some(sha) = f.sha256 {
                    let hex = sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    assert!(sha.len() == 64 && hex, "{}/{}: {sha}", e.repo, f.name);
                } else {
                    assert!(!e.is_verified(), "{} has an unpinned {} yet counts as verified", e.repo, f.name);
                    assert!(f.size.is_none(), "a size without a pin is not from a high row");
                }
            }
        }
        let verified: Vec<&str> = CATALOGUE.iter().filter(|e| e.is_verified()).map(|e| e.repo).collect();
        let marked: Vec<&str> = CATALOGUE.iter().filter(|e| !e.is_verified()).map(|e| e.repo).collect();
        assert_eq!(
            marked,
            ["google-bert/bert-base-cased", "google-bert/bert-base-multilingual-cased", "openai/clip-vit-base-patch16"],
            "the models hf-pins.md has no high rows for"
        );
        assert_eq!(verified.len(), 6);
        // The two uncased BERT tokenizers are the same bytes, so the same pin.
        let tok = |repo| find(repo).unwrap().file("tokenizer.json").unwrap().sha256;
        assert_eq!(tok("google-bert/bert-base-uncased"), tok("distilbert/distilbert-base-uncased"));
    }

    #[test]
    fn locate_takes_each_files_own_revision() {
        let b32 = find("openai/clip-vit-base-patch32").unwrap();
        let (rev, pin) = locate(b32.repo, b32.revision, "model.safetensors");
        assert_eq!(rev, "refs/pr/15");
        assert_eq!(pin.unwrap().size, Some(605_157_884));
        assert_eq!(locate(b32.repo, b32.revision, "config.json").0, CLIP_B32);
        // Not the catalogue's revision, or not a catalogue model: as asked, no pin.
        assert_eq!(locate(b32.repo, "main", "model.safetensors"), ("main".to_string(), None));
        assert_eq!(locate("someone/else", "abc", "config.json"), ("abc".to_string(), None));
    }
}
