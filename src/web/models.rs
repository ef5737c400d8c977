//! Models loaded from the weights store, kept for the next request. Shared by the app's inference worker and the
//! JavaScript package (`src/bin/pkg.rs`), so both read the same IndexedDB store the same way.

use std::cell::RefCell;
use std::rc::Rc;

use super::download::{drop_stored, fetch_stored, host_of, stream_weight_pieces, stream_weights, Provenance, Transfer};
use super::hub::hub_origin;
use super::js::now_ms;
use super::messages::{ModelSource, Step};
use crate::engine::pipeline::{ClipClassifier, LabModel};
use crate::engine::tokenize::TextTokenizer;

/// Hears what loading a model is doing: each file read from the store or downloaded into it, then the build.
pub type Progress<'a> = &'a dyn Fn(Step);

/// What happens to `file` of `source`, as a step of the status line.
pub fn file_step(source_hub: &str, file: &str, transfer: Transfer<'_>) -> Step {
    let from = || host_of(&hub_origin(source_hub)).to_string();
    match transfer {
        Transfer::Reading(size) => Step::Reading { file: file.into(), size },
        Transfer::Bytes { done, total } => Step::Downloading { file: file.into(), from: from(), done, total },
        Transfer::Retrying { detail, unreachable } => {
            Step::Retrying { file: file.into(), from: from(), detail: detail.into(), unreachable }
        }
    }
}

/// At most this many models stay loaded (a BERT base is 440 MB of wasm memory, CLIP B/32 605 MB, and wasm32 has
/// 4 GB): trying a third model drops the least recently used one first.
pub const MAX_LOADED_MODELS: usize = 2;

#[derive(Clone)]
enum Model {
    Attention(Rc<LabModel>),
    Clip(Rc<ClipClassifier>),
}

/// A loaded model and what the student must be told about its files (a pinned file that did not match its pin).
#[derive(Clone)]
struct LoadedModel {
    model: Model,
    warnings: Vec<String>,
    weights: Vec<WeightFile>,
}

/// What a result was computed from, for the page: warnings about the files, and whether every file was verified.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelTrust {
    pub verified: bool,
    pub warnings: Vec<String>,
    /// The weight files the model was built from, with the sha256 of their bytes as stored here.
    pub weights: Vec<WeightFile>,
    /// What to say when the files are not verified though none contradicted a pin (there was none to check
    /// against): the catalogue's note for the model (its sizes may be known, not its checksums).
    pub unverified: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightFile {
    pub name: String,
    pub sha256: String,
}

/// Collects the warnings about the files a model is built from, and its weight files' digests.
#[derive(Default)]
struct Trust {
    warnings: RefCell<Vec<String>>,
    weights: RefCell<Vec<WeightFile>>,
}

impl Trust {
    fn add(&self, p: Provenance) {
        if let Some(w) = p.warning {
            self.warnings.borrow_mut().push(w);
        }
    }

    fn add_weights(&self, p: Provenance) {
        self.weights.borrow_mut().push(WeightFile { name: p.file.clone(), sha256: p.sha256.clone() });
        self.add(p);
    }

    fn loaded(&self, model: Model) -> LoadedModel {
        LoadedModel { model, warnings: self.warnings.borrow().clone(), weights: self.weights.borrow().clone() }
    }
}

#[derive(Default)]
struct Loaded {
    /// Small (a few MB each); kept for the tokenize preview.
    tokenizers: Vec<(ModelSource, Rc<TextTokenizer>)>,
    /// Most recently used last.
    models: Vec<(ModelSource, LoadedModel)>,
}

thread_local! {
    static LOADED: RefCell<Loaded> = RefCell::new(Loaded::default());
}

/// A pack's files get their pins before any of them is fetched.
fn announce_pack(source: &ModelSource) {
    if let Some(pack) = &source.pack {
        crate::engine::catalogue::register_pack(pack);
    }
}

/// What loading a model took: `ms` in all (reading its files from the store, or downloading them, and building
/// it), of which `build_ms` building the model from the bytes read; both 0 when it was loaded already.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadTime {
    pub ms: f64,
    pub build_ms: f64,
}

impl LoadTime {
    /// From `start` (before the first file was read) and `built` (when the build began) to now.
    fn since(start: f64, built: f64) -> Self {
        let now = now_ms();
        Self { ms: now - start, build_ms: now - built }
    }
}

/// The loaded model of `source`, moved to the most-recently-used end; with no load time. Else `load()`'s model
/// (and its load time), after dropping models so that at most [`MAX_LOADED_MODELS`] are loaded with it. No borrow
/// of the cache is held while `load` runs.
async fn find_or_load<F>(source: &ModelSource, load: impl FnOnce() -> F) -> Result<(LoadedModel, LoadTime), String>
where
    F: std::future::Future<Output = Result<(LoadedModel, LoadTime), String>>,
{
    announce_pack(source);
    let found = LOADED.with(|s| {
        let models = &mut s.borrow_mut().models;
        let i = models.iter().position(|(k, _)| k == source)?;
        let entry = models.remove(i);
        let model = entry.1.clone();
        models.push(entry);
        Some(model)
    });
    if let Some(model) = found {
        return Ok((model, LoadTime::default()));
    }
    // Drop before loading: the new model's tensors can reuse the freed memory (wasm memory never shrinks).
    LOADED.with(|s| {
        let models = &mut s.borrow_mut().models;
        let excess = (models.len() + 1).saturating_sub(MAX_LOADED_MODELS);
        models.drain(..excess);
    });
    let (model, time) = load().await?;
    LOADED.with(|s| s.borrow_mut().models.push((source.clone(), model.clone())));
    Ok((model, time))
}

/// The models loaded now, least recently used first (repo names; for tests and the memory figure).
pub fn loaded_models() -> Vec<String> {
    LOADED.with(|s| s.borrow().models.iter().map(|(k, _)| k.repo.clone()).collect())
}

/// Parse a stored small file with `parse`; if the stored bytes do not parse (damaged, or a hub's bad file), drop
/// them and fetch once more before giving up.
async fn fetch_parsed<T>(
    source: &ModelSource,
    file: &str,
    on_progress: Progress<'_>,
    trust: &Trust,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    let (bytes, provenance) = fetch_file(source, file, on_progress).await?;
    match parse(&bytes) {
        Ok(value) => {
            trust.add(provenance);
            Ok(value)
        }
        Err(first) => {
            web_sys::console::warn_1(&format!("{}: stored {file} does not parse ({first}); fetching it again", source.repo).into());
            drop_stored(&source.hub, &source.repo, &source.revision, file).await?;
            let (bytes, provenance) = fetch_file(source, file, on_progress).await?;
            trust.add(provenance);
            parse(&bytes).map_err(|e| format!("{file} of {}: {e}", source.repo))
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_string())
}

/// JSON that parses (the model's own parser then reads it again: this only catches files that are not JSON).
fn json_text(bytes: &[u8]) -> Result<String, String> {
    let text = utf8(bytes)?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    Ok(text)
}

/// From the weights store (IndexedDB) when the file is complete there; otherwise downloaded into it first
/// (resumable, size- and sha256-checked), then read back.
async fn fetch_file(source: &ModelSource, file: &str, on_progress: Progress<'_>) -> Result<(Vec<u8>, Provenance), String> {
    fetch_stored(&source.hub, &source.repo, &source.revision, file, &|t| on_progress(file_step(&source.hub, file, t))).await
}

/// `model.safetensors` (or a pack's pieces) as tensors, streamed from the weights store.
async fn weights(
    source: &ModelSource,
    on_progress: Progress<'_>,
    trust: &Trust,
) -> Result<candle_nn::VarBuilder<'static>, String> {
    if let Some(pack) = &source.pack {
        let pieces = pack.weight_files();
        if pieces != ["model.safetensors"] {
            let (vb, provenances) = stream_weight_pieces(&source.hub, &source.repo, &source.revision, &pieces, &|piece, t| {
                on_progress(file_step(&source.hub, piece, t))
            })
            .await?;
            provenances.into_iter().for_each(|p| trust.add_weights(p));
            return Ok(vb);
        }
    }
    let (vb, provenance) = stream_weights(&source.hub, &source.repo, &source.revision, &|t| {
        on_progress(file_step(&source.hub, "model.safetensors", t))
    })
    .await?;
    trust.add_weights(provenance);
    Ok(vb)
}

pub async fn tokenizer(source: &ModelSource, on_progress: Progress<'_>) -> Result<Rc<TextTokenizer>, String> {
    announce_pack(source);
    let found = LOADED.with(|s| s.borrow().tokenizers.iter().find(|(k, _)| k == source).map(|(_, t)| t.clone()));
    if let Some(tokenizer) = found {
        return Ok(tokenizer);
    }
    let tokenizer = fetch_parsed(source, "tokenizer.json", on_progress, &Trust::default(), |b| {
        TextTokenizer::from_bytes(b).map_err(|e| e.to_string())
    })
    .await?;
    let tokenizer = Rc::new(tokenizer);
    LOADED.with(|s| {
        let list = &mut s.borrow_mut().tokenizers;
        if list.len() >= 4 {
            list.remove(0);
        }
        list.push((source.clone(), tokenizer.clone()));
    });
    Ok(tokenizer)
}

fn trust_of(loaded: &LoadedModel, source: &ModelSource) -> ModelTrust {
    let verified = match &source.pack {
        // Its files are checked against the site's pins; verified when the build checked its source too.
        Some(pack) => pack.source_verified,
        None => crate::engine::catalogue::find(&source.repo).is_some_and(|e| e.is_verified() && e.revision == source.revision),
    };
    let verified = verified && loaded.warnings.is_empty();
    let unverified = (!verified && loaded.warnings.is_empty()).then(|| {
        let entry = crate::engine::catalogue::find(&source.repo).filter(|_| source.pack.is_none());
        entry.and_then(|e| e.unverified_note()).unwrap_or(crate::engine::catalogue::NOT_VERIFIED).to_string()
    });
    ModelTrust { verified, warnings: loaded.warnings.clone(), weights: loaded.weights.clone(), unverified }
}

/// A model of the attention lab (BERT family or GPT-2), what its files can be trusted for, and what loading it
/// took (nothing when it was already loaded).
pub async fn attention_model(
    source: &ModelSource,
    on_progress: Progress<'_>,
) -> Result<(Rc<LabModel>, ModelTrust, LoadTime), String> {
    let (loaded, time) = find_or_load(source, || async {
        let trust = Trust::default();
        let start = now_ms();
        let config = fetch_parsed(source, "config.json", on_progress, &trust, json_text).await?;
        let tokenizer =
            fetch_parsed(source, "tokenizer.json", on_progress, &trust, |b| json_text(b).map(|_| b.to_vec())).await?;
        let weights = weights(source, on_progress, &trust).await?;
        on_progress(Step::Loading);
        let built = now_ms();
        let model = LabModel::from_parts(&source.repo, &config, &tokenizer, weights).map_err(|e| e.to_string())?;
        Ok((trust.loaded(Model::Attention(Rc::new(model))), LoadTime::since(start, built)))
    })
    .await?;
    let trust = trust_of(&loaded, source);
    match loaded.model {
        Model::Attention(m) => Ok((m, trust, time)),
        Model::Clip(_) => Err(format!("{} is a CLIP model, not one for the attention lab", source.repo)),
    }
}

/// A CLIP model, what its files can be trusted for, and what loading it took (nothing when it was already loaded).
pub async fn clip_model(
    source: &ModelSource,
    on_progress: Progress<'_>,
) -> Result<(Rc<ClipClassifier>, ModelTrust, LoadTime), String> {
    let (loaded, time) = find_or_load(source, || async {
        let trust = Trust::default();
        let start = now_ms();
        let config = fetch_parsed(source, "config.json", on_progress, &trust, json_text).await?;
        let preprocessor = fetch_parsed(source, "preprocessor_config.json", on_progress, &trust, json_text).await?;
        let tokenizer =
            fetch_parsed(source, "tokenizer.json", on_progress, &trust, |b| json_text(b).map(|_| b.to_vec())).await?;
        let weights = weights(source, on_progress, &trust).await?;
        on_progress(Step::Loading);
        let built = now_ms();
        let model = ClipClassifier::from_parts(&source.repo, &config, &tokenizer, &preprocessor, weights)
            .map_err(|e| e.to_string())?;
        Ok((trust.loaded(Model::Clip(Rc::new(model))), LoadTime::since(start, built)))
    })
    .await?;
    let trust = trust_of(&loaded, source);
    match loaded.model {
        Model::Clip(m) => Ok((m, trust, time)),
        Model::Attention(_) => Err(format!("{} is not a CLIP model", source.repo)),
    }
}
