//! The weights store: model files kept in IndexedDB, in chunks, so that a model is downloaded once per browser.
//!
//! Layout (database `nlu-lab-weights`, version 2, three object stores, all with out-of-line array keys). Every key
//! starts `[repo, revision, file, …]`, so one model's records sit together and delete as one range.
//! - `chunks`: `[repo, revision, file, origin, offset]` → `Uint8Array` of at most [`CHUNK_SIZE`] bytes, where
//!   `origin` is the hub origin the bytes came from (or [`LOCAL`] for files from the user's computer). Chunks of one
//!   copy sort by offset, cover it without gaps, and are each written in their own transaction: a 600 MB file never
//!   needs a 600 MB JS allocation.
//! - `partials`: `[repo, revision, file, origin]` → JSON [`Partial`]: what a download in progress expects (size and
//!   the validators a resume sends as `If-Range`).
//! - `files`: `[repo, revision, file, scope]` → JSON [`StoredFile`], the manifest. `scope` is [`PINNED`] for bytes
//!   whose sha256 matched the catalogue's pin — those serve every hub's request, whoever served them — and the hub
//!   origin otherwise: unpinned bytes only ever serve requests to the hub they came from, so a `?hub=` link cannot
//!   leave bytes that a later page (the real hub) would use. Written only after every chunk is in and the checksum
//!   has been compared, in the same transaction that removes the partial record: a file without a manifest is never
//!   taken for complete, whatever happened to the download.
//!
//! Version 1 keyed everything by `[repo, revision, file]` without the hub, so its records cannot be told apart by
//! origin: the upgrade drops them (one fresh download).
//!
//! Works on the page and in the worker: `indexedDB` and `navigator.storage` are taken from the global object.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::oneshot;
use gloo::events::EventListener;
use idb::{Factory, KeyRange, ObjectStoreParams, Query, TransactionMode};
use js_sys::{Array, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DomException, IdbTransaction};

const DB_NAME: &str = "nlu-lab-weights";
const DB_VERSION: u32 = 2;
const CHUNKS: &str = "chunks";
const FILES: &str = "files";
const PARTIALS: &str = "partials";

/// 8 MiB: big enough that a 600 MB model is ~75 records (one transaction each), small enough that the JS copy
/// made for each write, and the bytes lost when a tab closes mid-chunk, stay small.
pub const CHUNK_SIZE: usize = 8 << 20;

/// The manifest scope of files whose bytes matched the catalogue's pin (not a URL origin, so it cannot collide).
pub const PINNED: &str = "#pinned";
/// The origin of files the user chose on their own computer.
pub const LOCAL: &str = "local";

/// One copy of a model file: where its chunks (and partial record) live, by the origin that served it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    pub repo: String,
    pub revision: String,
    pub file: String,
    pub origin: String,
}

impl FileKey {
    pub fn new(repo: &str, revision: &str, file: &str, origin: &str) -> Self {
        Self { repo: repo.into(), revision: revision.into(), file: file.into(), origin: origin.into() }
    }

    /// The Web Lock that serialises every download and deletion of this file, across tabs.
    pub fn lock_name(&self) -> String {
        format!("nlu-lab:{}@{}/{}", self.repo, self.revision, self.file)
    }
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}/{} from {}", self.repo, self.revision, self.file, self.origin)
    }
}

/// The manifest of a complete file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredFile {
    pub repo: String,
    pub revision: String,
    pub file: String,
    /// Where the bytes came from (the hub origin, or [`LOCAL`]); the chunks are kept under it.
    pub origin: String,
    pub size: u64,
    /// sha256 (hex) of the stored bytes, computed while they were stored.
    pub sha256: String,
    /// Whether that sha256 equals the catalogue's pin. Only then does the app say "verified"; a hub's own claim
    /// (its `lfs.oid`) is checked too, but only guards the transfer.
    pub verified: bool,
    /// When it was completed, in milliseconds since the Unix epoch.
    pub stored_at: f64,
}

impl StoredFile {
    /// Where its chunks are.
    pub fn key(&self) -> FileKey {
        FileKey::new(&self.repo, &self.revision, &self.file, &self.origin)
    }

    /// The scope its manifest is kept under.
    pub fn scope(&self) -> &str {
        if self.verified {
            PINNED
        } else {
            &self.origin
        }
    }
}

/// What an interrupted download expected, kept next to its chunks so that a resume can tell whether the server
/// still has the same file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub size: Option<u64>,
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
}

impl Partial {
    /// What a resume sends as `If-Range`: a strong ETag, else Last-Modified (a weak ETag may not be used there).
    pub fn validator(&self) -> Option<&str> {
        match self.etag.as_deref() {
            Some(etag) if !etag.starts_with("W/") => Some(etag),
            _ => self.last_modified.as_deref(),
        }
    }
}

/// `navigator.storage.estimate()` for this origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub usage: u64,
    pub quota: u64,
    /// `navigator.storage.persisted()`, where the browser answers.
    pub persisted: Option<bool>,
}

/// Where a stored file's bytes go as they are read back: a whole-file buffer, or straight into model tensors.
pub trait ByteSink {
    /// Start (again) from the first byte of a file of `size` bytes.
    fn reset(&mut self, size: u64);
    fn push(&mut self, bytes: &[u8]) -> Result<(), String>;
}

/// The file in one buffer (small files: config, tokenizer).
#[derive(Default)]
pub struct WholeFile(pub Vec<u8>);

impl ByteSink for WholeFile {
    fn reset(&mut self, size: u64) {
        self.0.clear();
        // A wrong size only costs a re-allocation, so a failed reservation is not an error here.
        let _ = self.0.try_reserve_exact(size as usize);
    }
    fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0.try_reserve(bytes.len()).map_err(|_| "not enough memory to read the file".to_string())?;
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// A sink's own message (`Ok`), or the store's error (`Err`).
pub type SinkOrStoreError = Result<String, StoreError>;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the browser has no room left to keep the model files (storage quota exceeded). Delete models you no longer \
         need in the cache manager, or free some disk space, then try again"
    )]
    Quota,
    #[error("the browser's model storage (IndexedDB) is not available: {0}")]
    Unavailable(String),
    #[error("the browser's model storage (IndexedDB) failed: {0}")]
    Failed(String),
    #[error("the stored copy of {0} is damaged: {1}")]
    Damaged(String, String),
}

/// A DOM error name from whatever idb or web-sys handed back.
fn dom_name(value: &JsValue) -> Option<String> {
    value
        .dyn_ref::<DomException>()
        .map(|e| e.name())
        .or_else(|| Reflect::get(value, &"name".into()).ok().and_then(|n| n.as_string()))
}

/// A store error's text: a `DOMException` with its name (`QuotaExceededError: …`), else [`super::js::error_text`].
fn js_text(value: &JsValue) -> String {
    match value.dyn_ref::<DomException>() {
        Some(e) => format!("{}: {}", e.name(), e.message()),
        None => super::js::error_text(value),
    }
}

/// Map a JS error (usually a `DOMException`) to a [`StoreError`]; `QuotaExceededError` becomes [`StoreError::Quota`].
pub fn map_js_error(value: &JsValue) -> StoreError {
    match dom_name(value).as_deref() {
        Some("QuotaExceededError") => StoreError::Quota,
        _ => StoreError::Failed(js_text(value)),
    }
}

fn map_idb(e: idb::Error) -> StoreError {
    use idb::Error as E;
    let value: Option<JsValue> = match &e {
        E::DomException(d) => Some(d.clone().into()),
        E::AddFailed(v)
        | E::UpdateFailed(v)
        | E::DeleteFailed(v)
        | E::ClearFailed(v)
        | E::GetFailed(v)
        | E::GetAllKeysFailed(v)
        | E::GetAllFailed(v)
        | E::TransactionOpenFailed(v)
        | E::IndexedDbOpenFailed(v) => Some(v.clone()),
        _ => None,
    };
    match value {
        Some(v) if dom_name(&v).as_deref() == Some("QuotaExceededError") => StoreError::Quota,
        _ => StoreError::Failed(e.to_string()),
    }
}

fn key_of(parts: &[&str]) -> Array {
    parts.iter().map(|s| JsValue::from(*s)).collect()
}

/// `[repo, revision, file, origin]`: a copy's partial record, and its manifest when unverified.
fn file_key(key: &FileKey) -> JsValue {
    key_of(&[&key.repo, &key.revision, &key.file, &key.origin]).into()
}

fn manifest_key(repo: &str, revision: &str, file: &str, scope: &str) -> JsValue {
    key_of(&[repo, revision, file, scope]).into()
}

fn chunk_key(key: &FileKey, offset: u64) -> JsValue {
    let k = key_of(&[&key.repo, &key.revision, &key.file, &key.origin]);
    k.push(&JsValue::from_f64(offset as f64));
    k.into()
}

/// All keys that start with `prefix` (array keys): `[..prefix]` up to `[..prefix, []]`, since an array sorts
/// after every number and string in the next position.
fn prefix_range(prefix: &[&str]) -> Result<Query, StoreError> {
    let lower = key_of(prefix);
    let upper = lower.slice(0, lower.length());
    upper.push(&Array::new());
    KeyRange::bound(&lower.into(), &upper.into(), Some(false), Some(false)).map(Query::from).map_err(map_idb)
}

fn chunks_of(key: &FileKey) -> Result<Query, StoreError> {
    prefix_range(&[&key.repo, &key.revision, &key.file, &key.origin])
}

/// Wait for a transaction to commit. Listens with gloo's `EventListener` (removed on drop) rather than idb's
/// `TransactionFuture`: that one resolves on the first `error` event and drops its `Closure::once` handlers, so the
/// `abort` event that follows would call a dropped closure and throw in the worker.
async fn committed(tx: &IdbTransaction) -> Result<(), StoreError> {
    let (sender, receiver) = oneshot::channel::<bool>();
    let sender = Rc::new(RefCell::new(Some(sender)));
    let on = |name: &'static str, ok: bool| {
        let sender = sender.clone();
        EventListener::once(tx, name, move |_| {
            if let Some(s) = sender.borrow_mut().take() {
                let _ = s.send(ok);
            }
        })
    };
    let _complete = on("complete", true);
    let _abort = on("abort", false);
    if receiver.await.unwrap_or(false) {
        return Ok(());
    }
    Err(match tx.error() {
        Some(e) => map_js_error(&e.into()),
        None => StoreError::Failed("the transaction was aborted".into()),
    })
}

/// An open connection to the weights database.
pub struct Store {
    db: idb::Database,
    /// Test hook: pretend the quota is exhausted once this many chunk bytes have been written by this handle.
    write_limit: Cell<Option<u64>>,
    written: Cell<u64>,
}

thread_local! {
    static SHARED: RefCell<Option<Rc<Store>>> = const { RefCell::new(None) };
}

impl Store {
    pub async fn open() -> Result<Store, StoreError> {
        let factory = Factory::new().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut request =
            factory.open(DB_NAME, Some(DB_VERSION)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        request.on_upgrade_needed(|event| {
            // No panics here: a failure leaves the stores missing, and the first transaction reports it.
            use idb::DatabaseEvent;
            let result = event.database().and_then(|db| {
                let names = db.store_names();
                // Version 1's keys carry no origin: its records cannot be kept apart by hub, so they go.
                let old = event.old_version().unwrap_or(0);
                for name in [CHUNKS, FILES, PARTIALS] {
                    let exists = names.iter().any(|n| n == name);
                    if exists && old < 2 {
                        db.delete_object_store(name)?;
                    }
                    if !exists || old < 2 {
                        db.create_object_store(name, ObjectStoreParams::new())?;
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                web_sys::console::error_1(&format!("cannot create the weights store: {e}").into());
            }
        });
        let db = request.await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Store { db, write_limit: Cell::new(None), written: Cell::new(0) })
    }

    /// One connection per thread (page or worker), opened on first use.
    pub async fn shared() -> Result<Rc<Store>, StoreError> {
        if let Some(store) = SHARED.with(|s| s.borrow().clone()) {
            return Ok(store);
        }
        let store = Rc::new(Store::open().await?);
        // Two callers may race to open: keep the first connection (the other closes when dropped).
        Ok(SHARED.with(|s| s.borrow_mut().get_or_insert(store).clone()))
    }

    fn transaction(
        &self,
        stores: &[&str],
        mode: TransactionMode,
    ) -> Result<(idb::Transaction, IdbTransaction), StoreError> {
        let tx = self.db.transaction(stores, mode).map_err(map_idb)?;
        let raw: IdbTransaction = tx.into();
        Ok((idb::Transaction::from(raw.clone()), raw))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        store: &str,
        key: JsValue,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let (tx, _raw) = self.transaction(&[store], TransactionMode::ReadOnly)?;
        let value = tx.object_store(store).map_err(map_idb)?.get(key).map_err(map_idb)?.await.map_err(map_idb)?;
        match value.and_then(|v| v.as_string()) {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Damaged(what.to_string(), format!("unreadable record: {e}"))),
        }
    }

    /// The manifest kept under `scope` ([`PINNED`], or an origin) for a file, if there is one.
    pub async fn manifest_in(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        scope: &str,
    ) -> Result<Option<StoredFile>, StoreError> {
        let what = format!("{repo}@{revision}/{file}");
        self.get_json(FILES, manifest_key(repo, revision, file, scope), &what).await
    }

    /// The complete copy that may answer a request for `key` (a file at a revision, asked of the hub `key.origin`):
    /// for a pinned file a verified copy, whichever hub served it; else one from the user's own files, else one from
    /// that same hub — never another hub's unverified bytes.
    pub async fn lookup(&self, key: &FileKey, pinned: bool) -> Result<Option<StoredFile>, StoreError> {
        let (repo, revision, file) = (&key.repo, &key.revision, &key.file);
        if pinned {
            if let Some(verified) = self.manifest_in(repo, revision, file, PINNED).await? {
                return Ok(Some(verified));
            }
        }
        // Then the user's own copy, then this hub's own (unpinned, or quarantined: a pinned file that did not match).
        if let Some(local) = self.manifest_in(repo, revision, file, LOCAL).await? {
            return Ok(Some(local));
        }
        self.manifest_in(repo, revision, file, &key.origin).await
    }

    /// What an unfinished download of this copy expected, if one was started.
    pub async fn partial(&self, key: &FileKey) -> Result<Option<Partial>, StoreError> {
        self.get_json(PARTIALS, file_key(key), &key.to_string()).await
    }

    pub async fn set_partial(&self, key: &FileKey, partial: &Partial) -> Result<(), StoreError> {
        let text = serde_json::to_string(partial).map_err(|e| StoreError::Failed(e.to_string()))?;
        let (tx, raw) = self.transaction(&[PARTIALS], TransactionMode::ReadWrite)?;
        tx.object_store(PARTIALS).map_err(map_idb)?.put(&text.into(), Some(&file_key(key))).map_err(map_idb)?;
        committed(&raw).await
    }

    /// Offsets of the chunks stored for a file (complete or not), in order.
    pub async fn chunk_offsets(&self, key: &FileKey) -> Result<Vec<u64>, StoreError> {
        let (tx, _raw) = self.transaction(&[CHUNKS], TransactionMode::ReadOnly)?;
        let keys =
            tx.object_store(CHUNKS).map_err(map_idb)?.get_all_keys(Some(chunks_of(key)?), None).map_err(map_idb)?;
        let keys = keys.await.map_err(map_idb)?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let offset = Reflect::get_u32(&k, 4).ok().and_then(|o| o.as_f64()).unwrap_or(-1.0);
            if offset < 0.0 {
                return Err(StoreError::Damaged(key.to_string(), "a chunk key has no offset".into()));
            }
            out.push(offset as u64);
        }
        Ok(out)
    }

    /// One chunk's bytes, as the JS array IndexedDB handed back.
    pub async fn chunk(&self, key: &FileKey, offset: u64) -> Result<Option<Uint8Array>, StoreError> {
        let (tx, _raw) = self.transaction(&[CHUNKS], TransactionMode::ReadOnly)?;
        let value = tx
            .object_store(CHUNKS)
            .map_err(map_idb)?
            .get(chunk_key(key, offset))
            .map_err(map_idb)?
            .await
            .map_err(map_idb)?;
        match value {
            None => Ok(None),
            Some(v) => v
                .dyn_into::<Uint8Array>()
                .map(Some)
                .map_err(|_| StoreError::Damaged(key.to_string(), format!("the chunk at {offset} is not bytes"))),
        }
    }

    /// Store one chunk, durably (the transaction has committed when this returns).
    pub async fn put_chunk(&self, key: &FileKey, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(limit) = self.write_limit.get() {
            if self.written.get() + bytes.len() as u64 > limit {
                let e = DomException::new_with_message_and_name("simulated quota", "QuotaExceededError")
                    .map_err(|e| map_js_error(&e))?;
                return Err(map_js_error(&e.into()));
            }
        }
        // A fresh array of exactly this length: structured clone stores a view's *whole* buffer, which for a view
        // into wasm memory would be all of it.
        let value = Uint8Array::new_with_length(bytes.len() as u32);
        value.copy_from(bytes);
        let (tx, raw) = self.transaction(&[CHUNKS], TransactionMode::ReadWrite)?;
        tx.object_store(CHUNKS).map_err(map_idb)?.put(&value.into(), Some(&chunk_key(key, offset))).map_err(map_idb)?;
        committed(&raw).await?;
        self.written.set(self.written.get() + bytes.len() as u64);
        Ok(())
    }

    /// Delete the chunks that start at or after `from` (a resume found a gap, an overlap or too many bytes).
    pub async fn truncate(&self, key: &FileKey, from: u64) -> Result<(), StoreError> {
        let lower = chunk_key(key, from);
        let upper = key_of(&[&key.repo, &key.revision, &key.file, &key.origin]);
        upper.push(&Array::new());
        let range = KeyRange::bound(&lower, &upper.into(), Some(false), Some(false)).map_err(map_idb)?;
        let (tx, raw) = self.transaction(&[CHUNKS], TransactionMode::ReadWrite)?;
        tx.object_store(CHUNKS).map_err(map_idb)?.delete(range).map_err(map_idb)?;
        committed(&raw).await
    }

    /// Record a file as complete: manifest in (under [`StoredFile::scope`]), partial record out, in one transaction.
    pub async fn commit_file(&self, file: &StoredFile) -> Result<(), StoreError> {
        let text = serde_json::to_string(file).map_err(|e| StoreError::Failed(e.to_string()))?;
        let record = manifest_key(&file.repo, &file.revision, &file.file, file.scope());
        let (tx, raw) = self.transaction(&[FILES, PARTIALS], TransactionMode::ReadWrite)?;
        tx.object_store(FILES).map_err(map_idb)?.put(&text.into(), Some(&record)).map_err(map_idb)?;
        tx.object_store(PARTIALS).map_err(map_idb)?.delete(file_key(&file.key())).map_err(map_idb)?;
        committed(&raw).await
    }

    /// The manifests that point at this copy's chunks: its own (unverified) one, and the verified one if it lives here.
    async fn manifests_of(&self, key: &FileKey) -> Result<Vec<JsValue>, StoreError> {
        let mut records = vec![file_key(key)];
        if let Ok(Some(pinned)) = self.manifest_in(&key.repo, &key.revision, &key.file, PINNED).await {
            if pinned.origin == key.origin {
                records.push(manifest_key(&key.repo, &key.revision, &key.file, PINNED));
            }
        }
        Ok(records)
    }

    /// Take away every manifest of this copy (before it is downloaded again), keeping its chunks.
    pub async fn forget_manifest(&self, key: &FileKey) -> Result<(), StoreError> {
        let records = self.manifests_of(key).await?;
        let (tx, raw) = self.transaction(&[FILES], TransactionMode::ReadWrite)?;
        let files = tx.object_store(FILES).map_err(map_idb)?;
        for record in records {
            files.delete(record).map_err(map_idb)?;
        }
        committed(&raw).await
    }

    async fn delete_range(&self, chunks: Query, records: Query) -> Result<(), StoreError> {
        let (tx, raw) = self.transaction(&[CHUNKS, FILES, PARTIALS], TransactionMode::ReadWrite)?;
        tx.object_store(CHUNKS).map_err(map_idb)?.delete(chunks).map_err(map_idb)?;
        tx.object_store(FILES).map_err(map_idb)?.delete(records.clone()).map_err(map_idb)?;
        tx.object_store(PARTIALS).map_err(map_idb)?.delete(records).map_err(map_idb)?;
        committed(&raw).await
    }

    /// Delete one copy of a file: its manifests, partial record and chunks, in one transaction.
    pub async fn delete_file(&self, key: &FileKey) -> Result<(), StoreError> {
        let records = self.manifests_of(key).await?;
        let (tx, raw) = self.transaction(&[CHUNKS, FILES, PARTIALS], TransactionMode::ReadWrite)?;
        tx.object_store(CHUNKS).map_err(map_idb)?.delete(chunks_of(key)?).map_err(map_idb)?;
        let files = tx.object_store(FILES).map_err(map_idb)?;
        for record in records {
            files.delete(record).map_err(map_idb)?;
        }
        tx.object_store(PARTIALS).map_err(map_idb)?.delete(file_key(key)).map_err(map_idb)?;
        committed(&raw).await
    }

    /// Delete every file of a model, at every revision and from every hub, complete or partial.
    pub async fn delete_model(&self, repo: &str) -> Result<(), StoreError> {
        self.delete_range(prefix_range(&[repo])?, prefix_range(&[repo])?).await
    }

    /// Every file name stored for a model in any state (manifests and partial records), with its revision.
    pub async fn files_of_model(&self, repo: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for store in [FILES, PARTIALS] {
            let (tx, _raw) = self.transaction(&[store], TransactionMode::ReadOnly)?;
            let keys = tx
                .object_store(store)
                .map_err(map_idb)?
                .get_all_keys(Some(prefix_range(&[repo])?), None)
                .map_err(map_idb)?
                .await
                .map_err(map_idb)?;
            for k in keys {
                let part = |i| Reflect::get_u32(&k, i).ok().and_then(|v| v.as_string()).unwrap_or_default();
                out.push((part(1), part(2)));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Delete everything this app stored.
    pub async fn delete_all(&self) -> Result<(), StoreError> {
        let (tx, raw) = self.transaction(&[CHUNKS, FILES, PARTIALS], TransactionMode::ReadWrite)?;
        for name in [CHUNKS, FILES, PARTIALS] {
            tx.object_store(name).map_err(map_idb)?.clear().map_err(map_idb)?;
        }
        committed(&raw).await
    }

    /// Every complete file.
    pub async fn list(&self) -> Result<Vec<StoredFile>, StoreError> {
        let (tx, _raw) = self.transaction(&[FILES], TransactionMode::ReadOnly)?;
        let values =
            tx.object_store(FILES).map_err(map_idb)?.get_all(None, None).map_err(map_idb)?.await.map_err(map_idb)?;
        let mut files: Vec<StoredFile> =
            values.iter().filter_map(|v| v.as_string()).filter_map(|t| serde_json::from_str(&t).ok()).collect();
        files.sort_by(|a, b| (&a.repo, &a.file, &a.revision, &a.origin).cmp(&(&b.repo, &b.file, &b.revision, &b.origin)));
        Ok(files)
    }

    /// Bytes stored for a file so far (complete or not): the chunks' total length (reads them all).
    pub async fn stored_bytes(&self, key: &FileKey) -> Result<u64, StoreError> {
        let mut total = 0;
        for offset in self.chunk_offsets(key).await? {
            if let Some(bytes) = self.chunk(key, offset).await? {
                total += bytes.length() as u64;
            }
        }
        Ok(total)
    }

    /// Walk a file's chunks in order, handing each to `visit(offset, bytes)`, as long as each starts where the one
    /// before it ended. Returns the contiguous length, and the offset of the first chunk that does not fit (a gap
    /// before it, an overlap with the one before — two writers — or a record without bytes): every chunk from there
    /// on is suspect, and a repair truncates from that offset, not from the length.
    pub async fn walk_chunks(
        &self,
        key: &FileKey,
        visit: &mut dyn FnMut(u64, &Uint8Array),
    ) -> Result<(u64, Option<u64>), StoreError> {
        use futures::FutureExt;
        let offsets = self.chunk_offsets(key).await?;
        let mut next = 0u64;
        // The next chunk is asked for before this one is visited: IndexedDB reads it on its own thread while
        // `visit` runs here (a 91 MB model is 12 chunks, each read, handed over, then decoded).
        let mut ahead = offsets.first().map(|&o| self.chunk(key, o).boxed_local());
        for (i, &offset) in offsets.iter().enumerate() {
            let Some(current) = ahead.take() else { break };
            let current = current.await?;
            if offset != next {
                return Ok((next, Some(offset)));
            }
            let Some(bytes) = current else { return Ok((next, Some(offset))) };
            if let Some(&o) = offsets.get(i + 1) {
                let mut request = self.chunk(key, o).boxed_local();
                // One poll issues the read (an async fn does nothing until polled); the result waits in it.
                ahead = Some(match futures::poll!(&mut request) {
                    std::task::Poll::Ready(result) => futures::future::ready(result).boxed_local(),
                    std::task::Poll::Pending => request,
                });
            }
            visit(offset, &bytes);
            next += bytes.length() as u64;
        }
        Ok((next, None))
    }

    /// Hand a complete stored file to `sink`, in order, so only one MiB of it is ever in wasm memory besides what
    /// the sink keeps. A sink error stops the walk and comes back as `Err(Ok(message))`; a store error as
    /// `Err(Err(..))`.
    pub async fn read_into(&self, manifest: &StoredFile, sink: &mut dyn ByteSink) -> Result<(), SinkOrStoreError> {
        let key = &manifest.key();
        sink.reset(manifest.size);
        // A chunk crosses into wasm a slice at a time: a whole 8 MiB chunk would raise the worker's peak memory
        // (wasm memory never shrinks) by 8 MiB for bytes the sink copies anyway.
        const SLICE: u32 = 1 << 20;
        let mut buffer = Vec::new();
        let mut failure = None;
        let (len, bad) = self
            .walk_chunks(key, &mut |_, chunk| {
                let mut start = 0;
                while start < chunk.length() && failure.is_none() {
                    let end = (start + SLICE).min(chunk.length());
                    buffer.resize((end - start) as usize, 0);
                    chunk.subarray(start, end).copy_to(&mut buffer);
                    if let Err(e) = sink.push(&buffer) {
                        failure = Some(e);
                    }
                    start = end;
                }
            })
            .await
            .map_err(Err)?;
        if let Some(e) = failure {
            return Err(Ok(e));
        }
        if bad.is_some() || len != manifest.size {
            return Err(Err(StoreError::Damaged(key.to_string(), format!("{len} of {} bytes are there", manifest.size))));
        }
        Ok(())
    }

    /// The whole file, assembled from its chunks.
    pub async fn get_file(&self, manifest: &StoredFile) -> Result<Vec<u8>, StoreError> {
        let mut bytes = WholeFile::default();
        match self.read_into(manifest, &mut bytes).await {
            Ok(()) => Ok(bytes.0),
            Err(Ok(message)) => Err(StoreError::Failed(message)),
            Err(Err(e)) => Err(e),
        }
    }

    /// Re-hash a stored file and compare with its manifest: `Ok(None)` if that manifest is not stored (any more),
    /// else whether the bytes still match.
    pub async fn verify(&self, file: &StoredFile) -> Result<Option<bool>, StoreError> {
        let Some(manifest) = self.manifest_in(&file.repo, &file.revision, &file.file, file.scope()).await? else {
            return Ok(None);
        };
        let (hasher, len, bad) = self.hash_chunks(&manifest.key()).await?;
        Ok(Some(bad.is_none() && len == manifest.size && hex(&hasher.finalize()) == manifest.sha256))
    }

    /// SHA-256 over a file's stored chunks as far as they follow each other ([`Store::walk_chunks`]): the hasher
    /// (to finish, or to go on with), the length hashed, and the offset of the first chunk that did not fit.
    pub async fn hash_chunks(&self, key: &FileKey) -> Result<(Sha256, u64, Option<u64>), StoreError> {
        let mut hasher = Sha256::new();
        let mut buffer = Vec::new();
        let (len, bad) = self
            .walk_chunks(key, &mut |_, chunk| {
                buffer.resize(chunk.length() as usize, 0);
                chunk.copy_to(&mut buffer);
                hasher.update(&buffer);
            })
            .await?;
        Ok((hasher, len, bad))
    }

    /// Test hook: make chunk writes fail with `QuotaExceededError` once `limit` bytes were written through this handle.
    #[doc(hidden)]
    pub fn simulate_quota_for_tests(&self, limit: Option<u64>) {
        self.written.set(0);
        self.write_limit.set(limit);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closes once its transactions are done; without this the connection stays open until garbage collection.
        self.db.close();
    }
}

pub use crate::engine::catalogue::hex;

fn storage_manager() -> Result<web_sys::StorageManager, String> {
    let global = js_sys::global();
    let navigator: JsValue = if let Some(scope) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        scope.navigator().into()
    } else if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        window.navigator().into()
    } else {
        return Err("no navigator here".into());
    };
    // `navigator.storage` exists only in secure contexts (https, or http on localhost).
    let storage = Reflect::get(&navigator, &"storage".into()).unwrap_or(JsValue::UNDEFINED);
    storage
        .dyn_into::<web_sys::StorageManager>()
        .map_err(|_| "the browser offers no storage manager here (not a secure context?)".to_string())
}

fn number(value: &JsValue, field: &str) -> u64 {
    Reflect::get(value, &field.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u64
}

/// How much this origin stores and may store (`navigator.storage.estimate()`), on the page or in the worker.
pub async fn estimate() -> Result<Estimate, String> {
    let storage = storage_manager()?;
    let promise = storage.estimate().map_err(|e| js_text(&e))?;
    let value = JsFuture::from(promise).await.map_err(|e| js_text(&e))?;
    let persisted = match storage.persisted() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_bool()),
        Err(_) => None,
    };
    Ok(Estimate { usage: number(&value, "usage"), quota: number(&value, "quota"), persisted })
}

/// The reason [`persist`] gives in a worker.
pub const PERSIST_PAGE_ONLY: &str =
    "persistent storage can only be requested from the page: the Storage Standard exposes navigator.storage.persist() \
     to windows, not workers";

/// Ask the browser to keep this origin's storage under pressure (`navigator.storage.persist()`); `Ok(granted)`.
/// The standard exposes `persist()` on windows only: in a worker this returns `Err(PERSIST_PAGE_ONLY)` unless the
/// browser offers it there too — the page should call it (e.g. when the user asks to keep models).
pub async fn persist() -> Result<bool, String> {
    let storage = storage_manager()?;
    let has_persist = Reflect::get(&storage, &"persist".into()).map(|f| f.is_function()).unwrap_or(false);
    if !has_persist {
        return Err(PERSIST_PAGE_ONLY.to_string());
    }
    let promise = storage.persist().map_err(|e| js_text(&e))?;
    let value = JsFuture::from(promise).await.map_err(|e| js_text(&e))?;
    Ok(value.as_bool().unwrap_or(false))
}
