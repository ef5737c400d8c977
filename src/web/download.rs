//! Download a model file from the hub into the [`Store`]: streamed chunk by chunk, checked (size, sha256, not an
//! HTML page), resumable (`Range: bytes=<stored>-`), with progress, cancellation, a stall timeout and retries.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::future::{select, Either};
use gloo::timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, ReadableStreamDefaultReader, RequestCache, RequestInit, Response};

use super::hub::file_url;
use super::js::{self, error_text};
use super::store::{hex, ByteSink, FileKey, Partial, Store, StoreError, StoredFile, WholeFile, CHUNK_SIZE};
use crate::engine::catalogue;

/// A handle to stop a download; clones share the same switch.
#[derive(Clone, Default)]
pub struct Cancel(Rc<CancelState>);

#[derive(Default)]
struct CancelState {
    cancelled: Cell<bool>,
    /// The controller of the request in flight, aborted on cancel.
    controller: RefCell<Option<AbortController>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.set(true);
        if let Some(c) = self.0.controller.borrow().as_ref() {
            c.abort();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.get()
    }

    fn attach(&self, controller: Option<AbortController>) {
        *self.0.controller.borrow_mut() = controller;
    }
}

pub struct DownloadOptions {
    /// Exact size, where known (the catalogue); else asked from the hub, else taken from the response headers.
    pub expected_size: Option<u64>,
    /// sha256 hex, where known (the catalogue); else asked from the hub (`lfs.oid`), else only the size is checked.
    pub expected_sha256: Option<String>,
    /// Ask the hub's `paths-info` API for what the catalogue does not know.
    pub ask_hub: bool,
    /// No byte for this long → abort the request (and retry, resuming).
    pub stall_timeout_ms: u32,
    /// Consecutive failed attempts without progress before giving up (an attempt that brought bytes resets it).
    pub max_retries: u32,
    /// First retry delay; doubles per consecutive failure, capped at 5 s.
    pub backoff_ms: u32,
    pub cancel: Cancel,
    /// Fetch from here instead of the hub (a `blob:` URL for a file the user chose on their computer).
    pub url: Option<String>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            expected_size: None,
            expected_sha256: None,
            ask_hub: true,
            stall_timeout_ms: 30_000,
            max_retries: 4,
            backoff_ms: 500,
            cancel: Cancel::new(),
            url: None,
        }
    }
}

impl DownloadOptions {
    /// Defaults, with the size and sha256 the catalogue knows for this file at this revision.
    pub fn from_catalogue(key: &FileKey) -> Self {
        let file = catalogue::find(&key.repo)
            .filter(|e| e.revision == key.revision)
            .and_then(|e| e.files.iter().find(|f| f.name == key.file));
        Self {
            expected_size: file.and_then(|f| f.size),
            expected_sha256: file.and_then(|f| f.sha256).map(str::to_string),
            ..Self::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DownloadError {
    #[error("download of {0} cancelled (what arrived is kept; it resumes next time)")]
    Cancelled(String),
    #[error(
        "download of {file} stalled: no data for {seconds} s ({attempts} attempts). What arrived is kept: try again \
         to resume"
    )]
    Stalled { file: String, seconds: f64, attempts: u32 },
    #[error("download of {file} kept breaking off ({attempts} attempts; last: {detail}). What arrived is kept: try again to resume")]
    Network { file: String, attempts: u32, detail: String },
    #[error("{url}: HTTP {status} {status_text}{}", http_hint(*.status))]
    Http { url: String, status: u16, status_text: String },
    #[error("{url} answered with a web page instead of {file} (an error page, or a login wall?)")]
    Html { url: String, file: String },
    #[error("{file} has the wrong size: {detail}; the download was discarded")]
    Size { file: String, detail: String },
    #[error("{file} is corrupt: its sha256 is {got}, expected {want}; the download was discarded")]
    Checksum { file: String, got: String, want: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (the repository may be gated or private: it needs a login this app does not do)",
        404 => " (no such file at this revision)",
        _ => "",
    }
}

/// How one attempt ended, short of success.
enum Failure {
    /// Worth another attempt, resuming from what is stored.
    Retry { stalled: bool, detail: String },
    /// Final.
    Fatal(DownloadError),
}

/// `Some(value)`, or `None` if `ms` passed first.
async fn within<F: std::future::Future + Unpin>(ms: u32, future: F) -> Option<F::Output> {
    match select(future, TimeoutFuture::new(ms)).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// `bytes <start>-<end>/<total>` → (start, total); total `*` → None.
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let head: Vec<u8> = bytes[start..].iter().take(9).map(u8::to_ascii_lowercase).collect();
    head.starts_with(b"<!doctype") || head.starts_with(b"<html")
}

/// What the hub's `paths-info` API says about a file: (size, sha256 of its LFS object).
/// `None` if the hub does not answer in time or does not list the file. Only `lfs.oid` is a sha256 (`oid` of a
/// small, non-LFS file is its git blob id).
pub async fn paths_info(hub: &str, key: &FileKey, timeout_ms: u32) -> Option<(Option<u64>, Option<String>)> {
    let revision = String::from(js_sys::encode_uri_component(&key.revision));
    let url = format!("{hub}/api/models/{}/paths-info/{revision}", key.repo);
    let body = serde_json::json!({ "paths": [key.file] }).to_string();
    let headers = Headers::new().ok()?;
    headers.set("Content-Type", "application/json").ok()?;
    let controller = AbortController::new().ok()?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&body.into());
    init.set_signal(Some(&controller.signal()));
    let request = web_sys::Request::new_with_str_and_init(&url, &init).ok()?;
    let answer = async {
        let response: Response = JsFuture::from(js::fetch(&request).ok()?).await.ok()?.dyn_into().ok()?;
        if !response.ok() {
            return None;
        }
        let text = JsFuture::from(response.text().ok()?).await.ok()?.as_string()?;
        let list: serde_json::Value = serde_json::from_str(&text).ok()?;
        let entry = list.as_array()?.iter().find(|e| e["path"].as_str() == Some(key.file.as_str()))?.clone();
        let sha = entry["lfs"]["oid"].as_str().map(str::to_ascii_lowercase);
        Some((entry["size"].as_u64(), sha))
    };
    let result = within(timeout_ms, Box::pin(answer)).await.flatten();
    controller.abort();
    result
}

/// The state of one file's download: what is stored, what is buffered, the running hash.
struct Job<'a> {
    store: &'a Store,
    key: &'a FileKey,
    url: String,
    /// Bytes safely stored (every chunk committed).
    stored: u64,
    /// Bytes received after `stored`, not yet written.
    pending: Vec<u8>,
    hasher: Sha256,
    /// Whether the bytes come from more than one response (a resume of an earlier download, or a retry): then a
    /// checksum mismatch may come from a stale first part, and one fresh download is worth it.
    spliced: bool,
    want_size: Option<u64>,
    size_source: &'static str,
    /// The total the server announced (Content-Range total, or Content-Length of a 200).
    announced: Option<u64>,
    /// Whether the announced total comes from a 200's Content-Length (which may be the compressed length).
    announced_by_200: bool,
    partial: Partial,
    last_progress: u64,
    on_progress: &'a dyn Fn(u64, Option<u64>),
}

impl Job<'_> {
    fn done(&self) -> u64 {
        self.stored + self.pending.len() as u64
    }

    fn total(&self) -> Option<u64> {
        self.want_size.or(self.announced)
    }

    fn progress(&mut self, force: bool) {
        let done = self.done();
        // Throttled: a message per 256 KiB is smooth enough and keeps the page's message queue short.
        if force || done < self.last_progress || done - self.last_progress >= 256 << 10 {
            self.last_progress = done;
            (self.on_progress)(done, self.total());
        }
    }

    /// Re-hash what an earlier download left, so that the checksum covers the whole file. A gap ends it: what
    /// follows a gap is deleted.
    async fn resume(&mut self) -> Result<(), StoreError> {
        let (hasher, len, gap) = self.store.hash_chunks(self.key).await?;
        if gap {
            self.store.truncate(self.key, len).await?;
        }
        self.stored = len;
        self.spliced = len > 0;
        self.hasher = hasher;
        Ok(())
    }

    /// Forget everything stored for this file and start from byte 0.
    async fn wipe(&mut self) -> Result<(), StoreError> {
        self.store.delete_file(self.key).await?;
        self.stored = 0;
        self.spliced = false;
        self.pending.clear();
        self.hasher = Sha256::new();
        self.announced = None;
        self.partial = Partial::default();
        Ok(())
    }

    /// Write what is buffered as a chunk (also a short one, when a transfer breaks off: nothing received is lost).
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.store.put_chunk(self.key, self.stored, &self.pending).await?;
        self.stored += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn size_error(&self, detail: String) -> Failure {
        Failure::Fatal(DownloadError::Size { file: self.key.file.clone(), detail })
    }

    /// One request: from `stored` to the end, or until something goes wrong.
    async fn attempt(&mut self, options: &DownloadOptions) -> Result<(), Failure> {
        let controller = AbortController::new().map_err(|e| Failure::Retry { stalled: false, detail: error_text(&e) })?;
        options.cancel.attach(Some(controller.clone()));
        let result = self.transfer(options, &controller).await;
        options.cancel.attach(None);
        // Whatever happened, stop the request (a stalled one would otherwise hold the connection).
        controller.abort();
        result
    }

    async fn transfer(&mut self, options: &DownloadOptions, controller: &AbortController) -> Result<(), Failure> {
        let file = self.key.file.clone();
        let timeout = options.stall_timeout_ms;
        let offset = self.stored;
        let retry = |detail: String| Failure::Retry { stalled: false, detail };
        let stalled = || Failure::Retry { stalled: true, detail: "stalled".into() };
        let cancelled = || Failure::Fatal(DownloadError::Cancelled(file.clone()));

        let init = RequestInit::new();
        // The store is the cache: a second copy in the HTTP cache would only take disk space.
        init.set_cache(RequestCache::NoStore);
        init.set_signal(Some(&controller.signal()));
        if offset > 0 {
            let headers = Headers::new().map_err(|e| retry(error_text(&e)))?;
            headers.set("Range", &format!("bytes={offset}-")).map_err(|e| retry(error_text(&e)))?;
            init.set_headers(&headers);
        }
        let request = web_sys::Request::new_with_str_and_init(&self.url, &init).map_err(|e| {
            Failure::Fatal(DownloadError::Network { file: file.clone(), attempts: 1, detail: error_text(&e) })
        })?;
        let promise = js::fetch(&request).map_err(retry)?;
        let response: Response = match within(timeout, JsFuture::from(promise)).await {
            None => return Err(stalled()),
            Some(Err(_)) if options.cancel.is_cancelled() => return Err(cancelled()),
            Some(Err(e)) => return Err(retry(format!("cannot reach the hub: {}", error_text(&e)))),
            Some(Ok(r)) => r.unchecked_into(),
        };
        let status = response.status();
        let length = header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        match status {
            206 => {
                let range = header(&response, "content-range").and_then(|v| content_range(&v));
                let (start, total) = match range {
                    Some((start, total)) => (start, total),
                    // Content-Range not exposed to us: a 206 to a single open range starts where we asked.
                    None => (offset, length.map(|l| offset + l)),
                };
                if start != offset {
                    self.wipe().await.map_err(|e| Failure::Fatal(e.into()))?;
                    return Err(retry(format!("the server sent bytes from {start}, not {offset}")));
                }
                self.announced = total;
                self.announced_by_200 = false;
                self.spliced |= offset > 0;
            }
            200 => {
                if offset > 0 {
                    // The server ignored the range: start over, with this very response.
                    self.wipe().await.map_err(|e| Failure::Fatal(e.into()))?;
                }
                self.announced = length;
                self.announced_by_200 = true;
            }
            416 if offset > 0 => {
                // We hold at least as many bytes as the server has: complete if the totals agree.
                let total = header(&response, "content-range")
                    .and_then(|v| v.rsplit_once('/').and_then(|(_, t)| t.trim().parse::<u64>().ok()));
                if total == Some(offset) || (total.is_none() && self.want_size == Some(offset)) {
                    self.announced = Some(offset);
                    return Ok(());
                }
                self.wipe().await.map_err(|e| Failure::Fatal(e.into()))?;
                return Err(retry("the stored part is longer than the file on the server".into()));
            }
            408 | 429 | 502 | 503 | 504 => return Err(retry(format!("HTTP {status} {}", response.status_text()))),
            _ => {
                return Err(Failure::Fatal(DownloadError::Http {
                    url: self.url.clone(),
                    status,
                    status_text: response.status_text(),
                }))
            }
        }
        let content_type = header(&response, "content-type").unwrap_or_default().to_ascii_lowercase();
        if content_type.contains("text/html") {
            return Err(Failure::Fatal(DownloadError::Html { url: self.url.clone(), file }));
        }
        if let (Some(want), Some(total)) = (self.want_size, self.announced) {
            // A 200's Content-Length may be the compressed length: that one is judged by the bytes received.
            if total != want && !self.announced_by_200 {
                return Err(
                    self.size_error(format!("the server announces {total} bytes, {} says {want}", self.size_source))
                );
            }
        }
        let etag = header(&response, "etag");
        if self.stored > 0 && self.partial.etag.is_some() && etag.is_some() && etag != self.partial.etag {
            // Not the file we have the first part of (a branch moved on): start again.
            self.wipe().await.map_err(|e| Failure::Fatal(e.into()))?;
            return Err(retry("the file changed on the server".into()));
        }
        if self.partial.etag.is_none() || self.partial.size.is_none() {
            self.partial = Partial { size: self.total(), etag };
            self.store.set_partial(self.key, &self.partial).await.map_err(|e| Failure::Fatal(e.into()))?;
        }

        let Some(body) = response.body() else {
            return self.finish_body();
        };
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        self.progress(true);
        loop {
            let chunk = match within(timeout, JsFuture::from(reader.read())).await {
                None => return Err(stalled()),
                Some(Err(_)) if options.cancel.is_cancelled() => return Err(cancelled()),
                Some(Err(e)) => return Err(retry(error_text(&e))),
                Some(Ok(chunk)) => chunk,
            };
            if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
                break;
            }
            let Some(value) = Reflect::get(&chunk, &"value".into()).ok().and_then(|v| v.dyn_into::<Uint8Array>().ok())
            else {
                return Err(retry("the body stream gave something other than bytes".into()));
            };
            let start = self.pending.len();
            self.pending.resize(start + value.length() as usize, 0);
            value.copy_to(&mut self.pending[start..]);
            if self.stored == 0 && start == 0 && looks_like_html(&self.pending) {
                return Err(Failure::Fatal(DownloadError::Html { url: self.url.clone(), file }));
            }
            if let Some(limit) = self.total().filter(|_| !(self.announced_by_200 && self.want_size.is_none())) {
                if self.done() > limit {
                    return Err(self.size_error(format!("the server sent more than {limit} bytes")));
                }
            }
            self.hasher.update(&self.pending[start..]);
            if self.pending.len() >= CHUNK_SIZE {
                self.flush().await.map_err(|e| Failure::Fatal(e.into()))?;
            }
            self.progress(false);
        }
        self.flush().await.map_err(|e| Failure::Fatal(e.into()))?;
        self.progress(true);
        self.finish_body()
    }

    /// The body ended cleanly: is it all there?
    fn finish_body(&self) -> Result<(), Failure> {
        let done = self.done();
        if let Some(want) = self.want_size {
            if done != want {
                return Err(self.size_error(format!("received {done} bytes, {} says {want}", self.size_source)));
            }
        } else if let Some(total) = self.announced.filter(|_| !self.announced_by_200) {
            if done != total {
                return Err(self.size_error(format!("received {done} of the {total} bytes the server announced")));
            }
        } else if let Some(total) = self.announced {
            if done < total {
                // A shorter body than a 200's Content-Length (compression only makes it longer).
                return Err(self.size_error(format!("received {done} of the {total} bytes the server announced")));
            }
        }
        Ok(())
    }
}

/// Download `key` from `hub` into `store`, resuming from what an earlier attempt stored, and record it as complete.
/// `on_progress(done, total)` is called as bytes arrive (`done` counts bytes stored earlier too).
pub async fn download(
    store: &Store,
    hub: &str,
    key: &FileKey,
    options: &DownloadOptions,
    on_progress: &dyn Fn(u64, Option<u64>),
) -> Result<StoredFile, DownloadError> {
    let mut want_size = options.expected_size;
    let mut size_source = "the catalogue";
    let mut want_sha = options.expected_sha256.as_deref().map(str::to_ascii_lowercase);
    if want_sha.is_none() && options.ask_hub {
        if let Some((size, sha)) = paths_info(hub, key, options.stall_timeout_ms.min(15_000)).await {
            want_sha = sha;
            match (want_size, size) {
                (None, Some(size)) => {
                    want_size = Some(size);
                    size_source = "the hub's file list";
                }
                (Some(want), Some(listed)) if want != listed => {
                    return Err(DownloadError::Size {
                        file: key.file.clone(),
                        detail: format!("the hub lists {listed} bytes, the catalogue says {want}"),
                    });
                }
                _ => {}
            }
        }
    }

    // Nothing half-written may ever look complete: the manifest goes first, and comes back only at the end.
    store.forget_manifest(key).await?;
    let mut job = Job {
        store,
        key,
        url: options.url.clone().unwrap_or_else(|| file_url(hub, &key.repo, &key.revision, &key.file)),
        stored: 0,
        pending: Vec::new(),
        hasher: Sha256::new(),
        spliced: false,
        want_size,
        size_source,
        announced: None,
        announced_by_200: false,
        partial: store.partial(key).await?.unwrap_or_default(),
        last_progress: 0,
        on_progress,
    };
    job.resume().await?;
    let stale = match (job.partial.size, want_size) {
        (Some(was), Some(now)) => was != now,
        _ => false,
    };
    if stale || want_size.is_some_and(|w| job.stored > w) {
        job.wipe().await?;
    }
    if let Some(want) = want_size {
        // Fail early, rather than after hundreds of megabytes, when the browser clearly has no room.
        if let Ok(estimate) = super::store::estimate().await {
            if estimate.quota > 0 && estimate.usage + (want - job.stored) > estimate.quota {
                let _ = store.delete_file(key).await;
                return Err(StoreError::Quota.into());
            }
        }
    }

    let mut restarted = false;
    loop {
        let result = transfer_with_retries(&mut job, options).await;
        if let Err(e) = result {
            match &e {
                // Good bytes, kept for a resume.
                DownloadError::Cancelled(_)
                | DownloadError::Stalled { .. }
                | DownloadError::Network { .. }
                | DownloadError::Http { .. }
                | DownloadError::Html { .. } => {}
                // Bad bytes, or no room: drop them.
                _ => {
                    let _ = store.delete_file(key).await;
                }
            }
            return Err(e);
        }
        let sha256 = hex(&job.hasher.clone().finalize());
        if let Some(want) = &want_sha {
            if &sha256 != want {
                store.delete_file(key).await?;
                if job.spliced && !restarted {
                    // One of the parts may be stale (an older version of the file) or damaged: one fresh try from 0.
                    restarted = true;
                    job.wipe().await?;
                    continue;
                }
                return Err(DownloadError::Checksum { file: key.file.clone(), got: sha256, want: want.clone() });
            }
        }
        let manifest = StoredFile {
            repo: key.repo.clone(),
            revision: key.revision.clone(),
            file: key.file.clone(),
            size: job.stored,
            sha256,
            sha256_checked: want_sha.is_some(),
            stored_at: js_sys::Date::now(),
        };
        if let Err(e) = store.commit_file(&manifest).await {
            if e == StoreError::Quota {
                let _ = store.delete_file(key).await;
            }
            return Err(e.into());
        }
        return Ok(manifest);
    }
}

async fn transfer_with_retries(job: &mut Job<'_>, options: &DownloadOptions) -> Result<(), DownloadError> {
    let file = job.key.file.clone();
    let mut failures = 0u32;
    let mut attempts = 0u32;
    loop {
        if options.cancel.is_cancelled() {
            return Err(DownloadError::Cancelled(file));
        }
        if job.want_size.is_some_and(|w| w == job.stored && w > 0) {
            // Everything was stored by an earlier attempt; only the checks and the manifest are missing.
            return Ok(());
        }
        attempts += 1;
        let before = job.stored;
        match job.attempt(options).await {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(DownloadError::Cancelled(file))) => {
                // Keep what arrived, for a resume.
                job.flush().await?;
                return Err(DownloadError::Cancelled(file));
            }
            Err(Failure::Fatal(e)) => {
                // Bytes that failed a check are not kept.
                job.pending.clear();
                return Err(e);
            }
            Err(Failure::Retry { stalled, detail }) => {
                job.flush().await?;
                failures = if job.stored > before { 1 } else { failures + 1 };
                if failures > options.max_retries || attempts >= 50 {
                    return Err(if stalled {
                        DownloadError::Stalled { file, seconds: options.stall_timeout_ms as f64 / 1000.0, attempts }
                    } else {
                        DownloadError::Network { file, attempts, detail }
                    });
                }
                let delay = options.backoff_ms.saturating_mul(1 << (failures - 1).min(4)).min(5_000);
                TimeoutFuture::new(delay).await;
            }
        }
    }
}

thread_local! {
    /// One download per file at a time in this thread: a second caller waits, then finds the file stored.
    static LOCKS: RefCell<HashMap<FileKey, Rc<futures::lock::Mutex<()>>>> = RefCell::new(HashMap::new());
    /// The downloads running now, for [`cancel_all`].
    static ACTIVE: RefCell<Vec<Cancel>> = const { RefCell::new(Vec::new()) };
}

/// Cancel every download running in this thread; returns how many there were.
pub fn cancel_all() -> usize {
    let active = ACTIVE.with(|a| std::mem::take(&mut *a.borrow_mut()));
    for c in &active {
        c.cancel();
    }
    active.len()
}

/// A model file from the weights store (IndexedDB) when it is complete there; otherwise downloaded into it first
/// (resumable, size- and sha256-checked), then read back.
pub async fn fetch_stored(
    hub: &str,
    repo: &str,
    revision: &str,
    file: &str,
    on_progress: &dyn Fn(u64, Option<u64>),
) -> Result<Vec<u8>, String> {
    let mut bytes = WholeFile::default();
    stream_stored(hub, repo, revision, file, on_progress, &mut bytes).await?;
    Ok(bytes.0)
}

/// Like [`fetch_stored`], but the bytes go to `sink` chunk by chunk instead of into one buffer, so a 600 MB
/// checkpoint is never held whole next to the model built from it.
pub async fn stream_stored(
    hub: &str,
    repo: &str,
    revision: &str,
    file: &str,
    on_progress: &dyn Fn(u64, Option<u64>),
    sink: &mut dyn ByteSink,
) -> Result<(), String> {
    let key = FileKey::new(repo, revision, file);
    let store = match Store::shared().await {
        Ok(store) => store,
        Err(e) => {
            web_sys::console::warn_1(&format!("{e}; downloading {key} without keeping it").into());
            let bytes = super::fetch::fetch_bytes(&file_url(hub, repo, revision, file), on_progress).await?;
            sink.reset(bytes.len() as u64);
            return sink.push(&bytes);
        }
    };
    let lock = LOCKS.with(|l| l.borrow_mut().entry(key.clone()).or_default().clone());
    let _guard = lock.lock().await;
    match store.read_into(&key, sink).await {
        Ok(true) => {
            let size = store.manifest(&key).await.ok().flatten().map(|m| m.size);
            if let Some(size) = size {
                on_progress(size, Some(size));
            }
            return Ok(());
        }
        Ok(false) => {}
        Err(Ok(message)) => return Err(message),
        Err(Err(e)) => {
            web_sys::console::warn_1(&format!("{e}; downloading it again").into());
            store.delete_file(&key).await.map_err(|e| e.to_string())?;
        }
    }
    let options = DownloadOptions::from_catalogue(&key);
    ACTIVE.with(|a| a.borrow_mut().push(options.cancel.clone()));
    let result = download(&store, hub, &key, &options, on_progress).await;
    ACTIVE.with(|a| a.borrow_mut().retain(|c| !Rc::ptr_eq(&c.0, &options.cancel.0)));
    result.map_err(|e| e.to_string())?;
    match store.read_into(&key, sink).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{key} vanished from the store")),
        Err(Ok(message)) => Err(message),
        Err(Err(e)) => Err(e.to_string()),
    }
}

/// Model files the user chose or dropped (as `blob:` URLs the page made for them) go into the weights store under
/// `repo` at `revision`, through the same size and sha256 checks as a download; from then on the model loads as if
/// it had been downloaded, offline too. For classrooms where the CDN is blocked and the files come on a USB stick.
pub async fn import_local(
    repo: &str,
    revision: &str,
    files: &[(String, String)],
    on_progress: &dyn Fn(&str, u64, Option<u64>),
) -> Result<(), String> {
    let store = Store::shared().await.map_err(|e| e.to_string())?;
    for (name, url) in files {
        let key = FileKey::new(repo, revision, name);
        let lock = LOCKS.with(|l| l.borrow_mut().entry(key.clone()).or_default().clone());
        let _guard = lock.lock().await;
        // A fresh copy: never spliced onto part of a download from the hub.
        store.delete_file(&key).await.map_err(|e| e.to_string())?;
        let options = DownloadOptions { ask_hub: false, url: Some(url.clone()), ..DownloadOptions::from_catalogue(&key) };
        download(&store, "", &key, &options, &|done, total| on_progress(name, done, total))
            .await
            .map_err(|e| format!("{name} from your files: {e}"))?;
    }
    Ok(())
}

/// The stored bytes of `model.safetensors` go straight into the tensors they belong to.
struct TensorSink(crate::engine::safetensors_stream::TensorStream);

impl ByteSink for TensorSink {
    fn reset(&mut self, size: u64) {
        self.0 = crate::engine::safetensors_stream::TensorStream::with_file_size(size);
    }
    fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0.push(bytes).map_err(|e| e.to_string())
    }
}

/// A checkpoint's `model.safetensors` as tensors, built while its chunks are read from the store (downloaded there
/// first if needed): the weights are never held whole as bytes next to the tensors built from them.
pub async fn stream_weights(
    hub: &str,
    repo: &str,
    revision: &str,
    on_progress: &dyn Fn(u64, Option<u64>),
) -> Result<candle_nn::VarBuilder<'static>, String> {
    let mut sink = TensorSink(Default::default());
    stream_stored(hub, repo, revision, "model.safetensors", on_progress, &mut sink).await?;
    sink.0.into_var_builder().map_err(|e| e.to_string())
}
