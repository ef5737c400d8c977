//! Models loaded from the weights store, kept for the next request. Shared by the app's inference worker and the
//! JavaScript package (`src/bin/pkg.rs`), so both read the same IndexedDB store the same way.

use std::cell::RefCell;
use std::rc::Rc;

use super::download::{fetch_stored, stream_weights};
use super::js::now_ms;
use super::messages::ModelSource;
use crate::engine::pipeline::{AttentionModel, ClipClassifier};
use crate::engine::tokenize::TextTokenizer;

/// `(file, done, total)` while a file is read from the store or downloaded into it.
pub type Progress<'a> = &'a dyn Fn(&str, u64, Option<u64>);

#[derive(Default)]
struct Loaded {
    tokenizers: Vec<(ModelSource, Rc<TextTokenizer>)>,
    models: Vec<(ModelSource, Rc<AttentionModel>)>,
    clip_models: Vec<(ModelSource, Rc<ClipClassifier>)>,
}

thread_local! {
    static LOADED: RefCell<Loaded> = RefCell::new(Loaded::default());
}

/// The loaded `T` of `source` in the list `pick` chooses, with 0 ms; or `load()`'s value (and its milliseconds),
/// kept there for the next request. No borrow of the cache is held while `load` runs.
async fn find_or_load<T, F>(
    pick: fn(&mut Loaded) -> &mut Vec<(ModelSource, Rc<T>)>,
    source: &ModelSource,
    load: impl FnOnce() -> F,
) -> Result<(Rc<T>, f64), String>
where
    F: std::future::Future<Output = Result<(T, f64), String>>,
{
    let found = LOADED.with(|s| pick(&mut s.borrow_mut()).iter().find(|(k, _)| k == source).map(|(_, v)| v.clone()));
    if let Some(value) = found {
        return Ok((value, 0.0));
    }
    let (value, load_ms) = load().await?;
    let value = Rc::new(value);
    LOADED.with(|s| pick(&mut s.borrow_mut()).push((source.clone(), value.clone())));
    Ok((value, load_ms))
}

/// From the weights store (IndexedDB) when the file is complete there; otherwise downloaded into it first
/// (resumable, size- and sha256-checked), then read back.
async fn fetch_file(source: &ModelSource, file: &str, on_progress: Progress<'_>) -> Result<Vec<u8>, String> {
    fetch_stored(&source.hub, &source.repo, &source.revision, file, &|done, total| on_progress(file, done, total)).await
}

async fn fetch_text(source: &ModelSource, file: &str, on_progress: Progress<'_>) -> Result<String, String> {
    String::from_utf8(fetch_file(source, file, on_progress).await?).map_err(|_| format!("{file} is not UTF-8 text"))
}

/// `model.safetensors` as tensors, streamed from the weights store.
async fn weights(source: &ModelSource, on_progress: Progress<'_>) -> Result<candle_nn::VarBuilder<'static>, String> {
    stream_weights(&source.hub, &source.repo, &source.revision, &|done, total| {
        on_progress("model.safetensors", done, total)
    })
    .await
}

pub async fn tokenizer(source: &ModelSource, on_progress: Progress<'_>) -> Result<Rc<TextTokenizer>, String> {
    let (tokenizer, _) = find_or_load(|l| &mut l.tokenizers, source, || async {
        let bytes = fetch_file(source, "tokenizer.json", on_progress).await?;
        Ok((TextTokenizer::from_bytes(&bytes).map_err(|e| e.to_string())?, 0.0))
    })
    .await?;
    Ok(tokenizer)
}

/// A BERT-family model and the milliseconds spent reading and building it (0 when it was already loaded).
pub async fn attention_model(source: &ModelSource, on_progress: Progress<'_>) -> Result<(Rc<AttentionModel>, f64), String> {
    find_or_load(|l| &mut l.models, source, || async {
        let config = fetch_text(source, "config.json", on_progress).await?;
        let tokenizer = fetch_file(source, "tokenizer.json", on_progress).await?;
        let start = now_ms();
        let weights = weights(source, on_progress).await?;
        let model = AttentionModel::from_parts(&source.repo, &config, &tokenizer, weights).map_err(|e| e.to_string())?;
        Ok((model, now_ms() - start))
    })
    .await
}

/// A CLIP model and the milliseconds spent reading and building it (0 when it was already loaded).
pub async fn clip_model(source: &ModelSource, on_progress: Progress<'_>) -> Result<(Rc<ClipClassifier>, f64), String> {
    find_or_load(|l| &mut l.clip_models, source, || async {
        let config = fetch_text(source, "config.json", on_progress).await?;
        let preprocessor = fetch_text(source, "preprocessor_config.json", on_progress).await?;
        let tokenizer = fetch_file(source, "tokenizer.json", on_progress).await?;
        let start = now_ms();
        let weights = weights(source, on_progress).await?;
        let model = ClipClassifier::from_parts(&source.repo, &config, &tokenizer, &preprocessor, weights)
            .map_err(|e| e.to_string())?;
        Ok((model, now_ms() - start))
    })
    .await
}
