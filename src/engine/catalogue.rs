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
    /// Exact size in bytes where known (always checked once the download ends), else `None`.
    pub size: Option<u64>,
    /// sha256 of the file where known (checked after download).
    pub sha256: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub repo: &'static str,
    /// A commit hash, or the ref where the safetensors live (`refs/pr/15` for CLIP B/32).
    pub revision: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub family: Family,
    /// Approximate download in megabytes, for the selector.
    pub download_mb: u32,
    pub files: &'static [ModelFile],
}

const fn file(name: &'static str) -> ModelFile {
    ModelFile { name, size: None, sha256: None }
}

const ENCODER_FILES: &[ModelFile] = &[file("config.json"), file("tokenizer.json"), file("model.safetensors")];
const CLIP_FILES: &[ModelFile] =
    &[file("config.json"), file("tokenizer.json"), file("preprocessor_config.json"), file("model.safetensors")];

pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        revision: "main",
        display_name: "MiniLM-L6 (all-MiniLM-L6-v2)",
        description: "6 layers × 12 heads, a small BERT distilled for sentence similarity — 91 MB, the quickest start",
        family: Family::Encoder,
        download_mb: 91,
        files: &[
            ModelFile { name: "config.json", size: Some(612), sha256: None },
            ModelFile { name: "tokenizer.json", size: Some(466_247), sha256: None },
            ModelFile {
                name: "model.safetensors",
                size: Some(90_868_376),
                sha256: Some("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            },
        ],
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-uncased",
        revision: "main",
        display_name: "BERT base, uncased",
        description: "12 layers × 12 heads, the classic BERT of the course — 440 MB",
        family: Family::Encoder,
        download_mb: 440,
        files: ENCODER_FILES,
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-cased",
        revision: "main",
        display_name: "BERT base, cased",
        description: "12 layers × 12 heads, keeps capital letters — 436 MB",
        family: Family::Encoder,
        download_mb: 436,
        files: ENCODER_FILES,
    },
    CatalogueEntry {
        repo: "google-bert/bert-base-multilingual-cased",
        revision: "main",
        display_name: "BERT base, multilingual",
        description: "12 layers × 12 heads, 104 languages — 714 MB",
        family: Family::Encoder,
        download_mb: 714,
        files: ENCODER_FILES,
    },
    CatalogueEntry {
        repo: "distilbert/distilbert-base-uncased",
        revision: "main",
        display_name: "DistilBERT base, uncased",
        description: "6 layers × 12 heads, a distilled BERT — 268 MB",
        family: Family::Encoder,
        download_mb: 268,
        files: ENCODER_FILES,
    },
    CatalogueEntry {
        repo: "FacebookAI/roberta-base",
        revision: "main",
        display_name: "RoBERTa base",
        description: "12 layers × 12 heads, byte-level BPE tokens (Ġ marks a space) — 499 MB",
        family: Family::Encoder,
        download_mb: 499,
        files: ENCODER_FILES,
    },
    CatalogueEntry {
        repo: "openai/clip-vit-base-patch32",
        revision: "refs/pr/15",
        display_name: "CLIP ViT-B/32",
        description: "the course's CLIP: 12+12 layers, 32-pixel patches — 605 MB",
        family: Family::Clip,
        download_mb: 605,
        files: CLIP_FILES,
    },
    CatalogueEntry {
        repo: "openai/clip-vit-base-patch16",
        revision: "main",
        display_name: "CLIP ViT-B/16",
        description: "12+12 layers, 16-pixel patches (14×14 grid): slower, sharper — 599 MB",
        family: Family::Clip,
        download_mb: 599,
        files: CLIP_FILES,
    },
    CatalogueEntry {
        repo: "openai/clip-vit-large-patch14",
        revision: "main",
        display_name: "CLIP ViT-L/14",
        description: "24+12 layers, the large CLIP: needs a strong laptop — 1.71 GB",
        family: Family::Clip,
        download_mb: 1710,
        files: CLIP_FILES,
    },
];

pub fn find(repo: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.repo == repo)
}

pub fn encoders() -> impl Iterator<Item = &'static CatalogueEntry> {
    CATALOGUE.iter().filter(|e| e.family == Family::Encoder)
}

pub fn clips() -> impl Iterator<Item = &'static CatalogueEntry> {
    CATALOGUE.iter().filter(|e| e.family == Family::Clip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_complete_and_unique() {
        let mut repos: Vec<&str> = CATALOGUE.iter().map(|e| e.repo).collect();
        repos.sort();
        repos.dedup();
        assert_eq!(repos.len(), CATALOGUE.len(), "one entry per repo");
        for e in CATALOGUE {
            assert!(e.repo.contains('/') && !e.revision.is_empty() && e.download_mb > 0, "{e:?}");
            assert!(e.files.iter().any(|f| f.name == "model.safetensors"));
            if e.family == Family::Clip {
                assert!(e.files.iter().any(|f| f.name == "preprocessor_config.json"));
            }
        }
        assert_eq!(find("openai/clip-vit-base-patch32").unwrap().revision, "refs/pr/15", "where its safetensors live");
        assert_eq!(encoders().next().unwrap().repo, "sentence-transformers/all-MiniLM-L6-v2", "the quick default");
    }
}
