//! The models the app offers, in one table: where each lives on the Hub, which files it needs, how big they are.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// BERT, RoBERTa, DistilBERT: the attention lab.
    Encoder,
    /// GPT-2: the attention lab, with causal attention.
    Decoder,
    /// CLIP: the CLIP lab.
    Clip,
}

/// The app's two labs, each offering the models of its families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lab {
    Attention,
    Clip,
}

impl Family {
    pub fn lab(self) -> Lab {
        match self {
            Family::Encoder | Family::Decoder => Lab::Attention,
            Family::Clip => Lab::Clip,
        }
    }
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

    /// What the selector says after the name when the model is not verified (`None` when it is).
    pub fn unverified_note(&self) -> Option<&'static str> {
        match (self.is_verified(), self.files.iter().all(|f| f.size.is_some())) {
            (true, _) => None,
            (false, true) => Some(NOT_VERIFIED_SIZED),
            (false, false) => Some(NOT_VERIFIED),
        }
    }

    pub fn file(&self, name: &str) -> Option<&'static ModelFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// What the selector says after the name of a model whose files are not all pinned.
pub const NOT_VERIFIED: &str = "not verified: size and checksum unknown";
/// The same for a model whose files' sizes are known (checked as they arrive) but not all their sha256.
pub const NOT_VERIFIED_SIZED: &str = "not verified: checksum unknown";

const fn pinned(name: &'static str, revision: &'static str, size: Option<u64>, sha256: &'static str) -> ModelFile {
    ModelFile { name, revision, size, sha256: Some(sha256) }
}

const fn unpinned(name: &'static str, revision: &'static str) -> ModelFile {
    ModelFile { name, revision, size: None, sha256: None }
}

/// A file whose size is on public record but not its sha256: the size is checked, the file is not verified.
const fn sized(name: &'static str, revision: &'static str, size: u64) -> ModelFile {
    ModelFile { name, revision, size: Some(size), sha256: None }
}

const MINILM: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";
const BERT_UNCASED: &str = "86b5e0934494bd15c9632b12f734a8a67f723594";
const BERT_CASED: &str = "cd5ef92a9fb2f889e972770a36d4ed042daf221e";
const BERT_MULTILINGUAL: &str = "3f076fdb1ab68d5b2880cb87a0886f315b8146f8";
const DISTILBERT: &str = "12040accade4e8a0f71eabdb258fecc2e7e948be";
const ROBERTA: &str = "e2da8e2f811d1448a5b465c236feacd80ffbac7b";
const GPT2: &str = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
const DISTILGPT2: &str = "2290a62682d06624634c1f46a6ad5be0f47f38aa";
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
        repo: "openai-community/gpt2",
        revision: GPT2,
        display_name: "GPT-2 (124M)",
        description: "12 layers × 12 heads, a decoder: each token sees only the ones before it; guesses the next token — 548 MB",
        family: Family::Decoder,
        download_mb: 548,
        // Only the sizes of the small files are on record: their sha256 is the one taken at the first download.
        files: &[
            sized("config.json", GPT2, 665),
            sized("tokenizer.json", GPT2, 1_355_256),
            pinned(
                "model.safetensors",
                GPT2,
                Some(548_105_171),
                "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707",
            ),
        ],
    },
    CatalogueEntry {
        repo: "distilbert/distilgpt2",
        revision: DISTILGPT2,
        display_name: "DistilGPT-2",
        description: "6 layers × 12 heads, GPT-2 distilled: causal attention, next-token guesses — 353 MB",
        family: Family::Decoder,
        download_mb: 353,
        files: &[
            sized("config.json", DISTILGPT2, 762),
            // The same tokenizer.json as gpt2's.
            sized("tokenizer.json", DISTILGPT2, 1_355_256),
            pinned(
                "model.safetensors",
                DISTILGPT2,
                Some(352_824_413),
                "e1ff18884359fe8beb795a5f414feb85a6ce3d929ad019c0d958c039d2b94a1b",
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

/// A compact copy of a catalogue model (`nlu-lab pack`) that the site serves itself (`scripts/build.sh
/// --bundle-models`), as the site's index.html announces it. Its files are pinned by the build that made them: the
/// page trusts them as it trusts its own code, which comes from the same site.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundledPack {
    /// The catalogue model it was packed from.
    pub repo: String,
    /// "f16" or "int8".
    pub dtype: String,
    /// Where the site keeps it: `<mirror>/<repo>/resolve/<revision>/<file>`; `<dtype>-<source revision>`, so that
    /// the weights store keeps it apart from the full-precision files.
    pub revision: String,
    /// The source's revision and the sha256 of its `model.safetensors` (for the submission).
    pub source_revision: String,
    pub source_sha256: String,
    /// Whether the build checked the source against the catalogue's pin.
    pub source_verified: bool,
    /// Every file, the weights in pieces (`model-00001-of-00004.safetensors`, …) when they are large.
    pub files: Vec<PackFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackFile {
    pub name: String,
    pub size: u64,
    /// Empty when nobody checked it (a pack from the student's own files): only the size is known then.
    pub sha256: String,
}

/// The revision prefix of a pack imported from local files ([`BundledPack::is_local`]).
pub const LOCAL_PACK_PREFIX: &str = "local-";

/// The pack a folder written by `nlu-lab pack` makes, from its `nlu-lab-pack.json` (`manifest_json`) and the names
/// and sizes of the files the user chose (any others are left out); `repo` is the catalogue model chosen for them.
/// Nobody checked these bytes: the pack keeps their sizes, no sha256, and is marked not verified.
pub fn local_pack(manifest_json: &str, chosen: &[(String, u64)], repo: &str) -> Result<BundledPack, String> {
    use super::pack::{PackManifest, MANIFEST_FILE};
    let manifest = PackManifest::from_json(manifest_json).map_err(|e| e.to_string())?;
    let entry = find(repo).ok_or(format!("{repo} is not a model of this app"))?;
    if let Some(source) = manifest.source.repo.as_deref().filter(|r| *r != repo) {
        return Err(format!("These files are a pack of {source}, not of {}: choose that model in the list.", entry.display_name));
    }
    let size = |name: &str| chosen.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
    // The files the pack needs, in order: the model's small files, the manifest, then the weights.
    let mut wanted: Vec<String> = entry.files.iter().filter(|f| f.name != "model.safetensors").map(|f| f.name.to_string()).collect();
    wanted.push(MANIFEST_FILE.to_string());
    let mut no_weights = false;
    if size("model.safetensors").is_some() {
        wanted.push("model.safetensors".into());
    } else {
        // Pieces: model-00001-of-0000n.safetensors … with model.safetensors.index.json, all n of them.
        let count = chosen.iter().find(|(n, _)| is_piece_name(n)).and_then(|(n, _)| n[15..20].parse::<usize>().ok()).unwrap_or(0);
        wanted.push("model.safetensors.index.json".into());
        wanted.extend((1..=count).map(|i| format!("model-{i:05}-of-{count:05}.safetensors")));
        no_weights = count == 0;
    }
    let (mut files, mut missing) = (Vec::new(), Vec::new());
    for name in wanted {
        match size(&name) {
            Some(size) => files.push(PackFile { name, size, sha256: String::new() }),
            None => missing.push(name),
        }
    }
    if no_weights {
        // Neither form is there: say the one file, or the index with its pieces.
        missing.retain(|m| m != "model.safetensors.index.json");
        missing.push("model.safetensors (or its pieces with model.safetensors.index.json)".to_string());
    }
    if !missing.is_empty() {
        return Err(format!("Missing from your files: {}.", missing.join(", ")));
    }
    let source_revision = manifest.source.revision.clone().unwrap_or_else(|| entry.revision.to_string());
    let dtype = manifest.dtype.as_str().to_string();
    Ok(BundledPack {
        repo: repo.to_string(),
        revision: format!("{LOCAL_PACK_PREFIX}{dtype}-{source_revision}"),
        dtype,
        source_revision,
        source_sha256: manifest.source.sha256.clone(),
        source_verified: false,
        files,
    })
}

/// `model-00001-of-00004.safetensors`: a piece of weights in transformers' sharded layout.
fn is_piece_name(name: &str) -> bool {
    let b = name.as_bytes();
    name.len() == 32
        && name.starts_with("model-")
        && name.ends_with(".safetensors")
        && &b[11..15] == b"-of-"
        && b[6..11].iter().chain(&b[15..20]).all(u8::is_ascii_digit)
}

impl BundledPack {
    /// The weight files, in order: the pieces, or `model.safetensors`.
    pub fn weight_files(&self) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.files.iter().map(|f| f.name.as_str()).filter(|n| n.ends_with(".safetensors")).collect();
        names.sort();
        names
    }

    /// A pack the student imported from files on this computer (`nlu-lab pack`'s folder), not one the site serves:
    /// its revision is `local-<dtype>-<source revision>`, so it is stored apart from a site's pack of the same model.
    pub fn is_local(&self) -> bool {
        self.revision.starts_with(LOCAL_PACK_PREFIX)
    }

    /// Bytes of all the files together.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// "8-bit" or "16-bit", as the selector says it.
    pub fn precision_label(&self) -> &'static str {
        match self.dtype.as_str() {
            "int8" => "8-bit",
            "f16" => "16-bit",
            _ => "full precision",
        }
    }
}

/// A model selector's value (and a permalink's `model=`): `repo` for the catalogue model at full precision from the
/// hub, `repo:int8` / `repo:f16` for a pack the site serves.
pub fn parse_choice(choice: &str) -> (&str, Option<&str>) {
    match choice.rsplit_once(':') {
        Some((repo, dtype)) if dtype == "int8" || dtype == "f16" => (repo, Some(dtype)),
        _ => (choice, None),
    }
}

/// The selector value of `repo` in `dtype` (`None`: full precision).
pub fn choice_value(repo: &str, dtype: Option<&str>) -> String {
    match dtype {
        Some(d) => format!("{repo}:{d}"),
        None => repo.to_string(),
    }
}

/// Packs this thread has been told of, with their files as pins. Leaked on purpose: `locate` hands out `&'static`
/// pins like the catalogue's, and a page announces a few packs once (a pack already known is not added again).
static PACKS: std::sync::Mutex<Vec<(String, String, &'static [ModelFile])>> = std::sync::Mutex::new(Vec::new());

/// A pack file's sha256 as a pin: none when it is empty (unchecked).
fn pin(sha: &str) -> Option<&str> {
    (!sha.is_empty()).then_some(sha)
}

/// Make `pack`'s files pinned for [`locate`] (the worker calls this for each request naming a pack).
pub fn register_pack(pack: &BundledPack) {
    let mut packs = PACKS.lock().unwrap_or_else(|e| e.into_inner());
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let same = |files: &[ModelFile]| {
        files.len() == pack.files.len()
            && files.iter().zip(&pack.files).all(|(a, b)| a.name == b.name && a.size == Some(b.size) && a.sha256 == pin(&b.sha256))
    };
    if packs.iter().any(|(repo, revision, files)| *repo == pack.repo && *revision == pack.revision && same(files)) {
        return;
    }
    let revision = leak(&pack.revision);
    let files: Vec<ModelFile> = pack
        .files
        .iter()
        .map(|f| ModelFile { name: leak(&f.name), revision, size: Some(f.size), sha256: pin(&f.sha256).map(leak) })
        .collect();
    packs.retain(|(repo, rev, _)| !(*repo == pack.repo && *rev == pack.revision));
    packs.push((pack.repo.clone(), pack.revision.clone(), Box::leak(files.into_boxed_slice())));
}

fn registered_file(repo: &str, revision: &str, file: &str) -> Option<&'static ModelFile> {
    let packs = PACKS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, files) = packs.iter().find(|(r, rev, _)| r == repo && rev == revision)?;
    files.iter().find(|f| f.name == file)
}

/// Where `file` of `repo` is fetched and what it must be: the catalogue's revision and pin when the model is in
/// the catalogue at `revision` (its revision as the page names it), a registered pack's pin, else `revision` with
/// no pin.
pub fn locate(repo: &str, revision: &str, file: &str) -> (String, Option<&'static ModelFile>) {
    match find(repo).filter(|e| e.revision == revision).and_then(|e| e.file(file)) {
        Some(f) => (f.revision.to_string(), Some(f)),
        None => (revision.to_string(), registered_file(repo, revision, file)),
    }
}

/// The models `lab` offers, in the catalogue's order.
pub fn models_of(lab: Lab) -> impl Iterator<Item = &'static CatalogueEntry> {
    CATALOGUE.iter().filter(move |e| e.family.lab() == lab)
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

    /// A folder `nlu-lab pack` wrote, chosen in the app: the files it needs with their sizes, in pieces or not.
    #[test]
    fn a_pack_folder_from_local_files() {
        let manifest = serde_json::json!({
            "format": "nlu-lab-pack", "version": 1, "dtype": "int8", "quantisation": "per row",
            "source": { "repo": "openai/clip-vit-base-patch32", "revision": "abc", "sha256": "00ff", "size": 10 },
            "compact_tensors": 1, "kept_tensors": 1, "size": 5,
        })
        .to_string();
        let repo = "openai/clip-vit-base-patch32";
        let named = |names: &[&str]| names.iter().enumerate().map(|(i, n)| (n.to_string(), 100 + i as u64)).collect::<Vec<_>>();
        let small = ["config.json", "tokenizer.json", "preprocessor_config.json", "nlu-lab-pack.json"];
        let mut pieces = small.to_vec();
        pieces.extend(["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "notes.txt"]);
        let pack = local_pack(&manifest, &named(&pieces), repo).unwrap();
        assert_eq!((pack.revision.as_str(), pack.dtype.as_str(), pack.source_revision.as_str()), ("local-int8-abc", "int8", "abc"));
        assert!(pack.is_local() && !pack.source_verified && pack.source_sha256 == "00ff");
        assert_eq!(pack.weight_files(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
        assert_eq!(pack.files.len(), 7, "notes.txt left out");
        assert!(pack.files.iter().all(|f| f.sha256.is_empty() && f.size >= 100));
        let mut one = small.to_vec();
        one.push("model.safetensors");
        assert_eq!(local_pack(&manifest, &named(&one), repo).unwrap().weight_files(), ["model.safetensors"]);
        let short = local_pack(&manifest, &named(&pieces[..6]), repo).unwrap_err();
        assert_eq!(short, "Missing from your files: model-00002-of-00002.safetensors.");
        let no_weights = local_pack(&manifest, &named(&small), repo).unwrap_err();
        assert_eq!(no_weights, "Missing from your files: model.safetensors (or its pieces with model.safetensors.index.json).");
        // A name with a multi-byte character where "-of-" goes is not a piece (and no slicing panics on it).
        assert!(!is_piece_name("model-0000éof-00002.safetensors") && is_piece_name("model-00001-of-00002.safetensors"));
        let other = local_pack(&manifest, &named(&one), "sentence-transformers/all-MiniLM-L6-v2").unwrap_err();
        assert!(other.starts_with("These files are a pack of openai/clip-vit-base-patch32"), "{other}");
        assert!(local_pack("{}", &named(&one), repo).is_err());
        // Unchecked files register with their sizes and no sha256 pin.
        register_pack(&pack);
        let (_, pin) = locate(repo, &pack.revision, "model-00002-of-00002.safetensors");
        assert_eq!(pin.map(|p| (p.size, p.sha256)), Some((Some(106), None)));
    }

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
        assert_eq!(models_of(Lab::Attention).next().unwrap().repo, "sentence-transformers/all-MiniLM-L6-v2", "the quick default");
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
                    // hf-pins.md has high rows of sizes alone only for GPT-2's small files.
                    let gpt2_small_file = e.family == Family::Decoder && f.name != "model.safetensors";
                    assert!(f.size.is_none() || gpt2_small_file, "{}/{}: a size without a pin is not from a high row", e.repo, f.name);
                }
            }
        }
        let verified: Vec<&str> = CATALOGUE.iter().filter(|e| e.is_verified()).map(|e| e.repo).collect();
        let marked: Vec<&str> = CATALOGUE.iter().filter(|e| !e.is_verified()).map(|e| e.repo).collect();
        assert_eq!(
            marked,
            [
                "google-bert/bert-base-cased",
                "google-bert/bert-base-multilingual-cased",
                "openai-community/gpt2",
                "distilbert/distilgpt2",
                "openai/clip-vit-base-patch16"
            ],
            "the models hf-pins.md has no high rows of every file's sha256 for"
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

    /// A pack the site announces pins its own files for `locate`, at its own revision only; announcing it again
    /// (every request does) adds nothing, and a rebuilt pack's new pins replace the old.
    #[test]
    fn a_registered_pack_pins_its_files_at_its_revision() {
        let file = |name: &str, sha: &str| PackFile { name: name.into(), size: 10, sha256: sha.repeat(64) };
        let mut pack = BundledPack {
            repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
            dtype: "int8".into(),
            revision: format!("int8-{MINILM}"),
            source_revision: MINILM.into(),
            source_sha256: "5".repeat(64),
            source_verified: true,
            files: vec![file("config.json", "a"), file("model-00002-of-00002.safetensors", "c"), file("model-00001-of-00002.safetensors", "b")],
        };
        assert_eq!(parse_choice(&choice_value(&pack.repo, Some("int8"))), (pack.repo.as_str(), Some("int8")));
        assert_eq!(parse_choice(&pack.repo), (pack.repo.as_str(), None));
        assert_eq!(parse_choice("a/b:c"), ("a/b:c", None), "only a precision is a suffix");
        assert_eq!(pack.weight_files(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
        assert_eq!((pack.size(), pack.precision_label()), (30, "8-bit"));
        assert_eq!(locate(&pack.repo, &pack.revision, "config.json").1, None, "not yet announced");
        register_pack(&pack);
        register_pack(&pack);
        let (revision, pin) = locate(&pack.repo, &pack.revision, "model-00001-of-00002.safetensors");
        assert_eq!((revision.as_str(), pin.and_then(|p| p.sha256)), (pack.revision.as_str(), Some("b".repeat(64).as_str())));
        // The full-precision model keeps the catalogue's pins.
        assert_eq!(locate(&pack.repo, MINILM, "config.json").1, find(&pack.repo).unwrap().file("config.json"));
        pack.files[0] = file("config.json", "d");
        register_pack(&pack);
        assert_eq!(locate(&pack.repo, &pack.revision, "config.json").1.and_then(|p| p.sha256), Some("d".repeat(64).as_str()));
        let packs = PACKS.lock().unwrap();
        assert_eq!(packs.iter().filter(|(r, rev, _)| *r == pack.repo && *rev == pack.revision).count(), 1);
    }
}
