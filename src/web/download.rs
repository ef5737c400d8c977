//! Download a model file from the hub into the [`Store`]: streamed chunk by chunk, checked (size, sha256, not an
//! HTML page), resumable (`Range: bytes=<stored>-` with `If-Range`, so a file that changed on the server restarts
//! instead of being spliced), with progress, cancellation, a stall timeout and retries. One download per file at a
//! time across tabs (Web Locks, [`super::locks`]).
//!
//! What a hostile or broken hub can do: waste bandwidth and time (every wait is bounded), fail a download with a
//! message, and serve its own pages different bytes — flagged: a pinned file whose bytes do not match the catalogue's
//! sha256 is quarantined under that hub's origin and every result computed from it carries a note naming the file
//! and the hub. What it cannot do: have its bytes used for any other hub's request (a `?hub=` link leaves nothing that
//! the real hub's pages would read), make the store hold more than the pinned or announced size (or
//! [`MAX_FILE_BYTES`]), or leave a half-written file that looks complete (the manifest comes last).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::{select, Either};
use gloo::timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, ReadableStreamDefaultReader, RequestCache, RequestInit, Response};

use super::hub::{file_url, hub_origin};
use super::js::{self, error_text};
use super::store::{hex, ByteSink, FileKey, Partial, Store, StoreError, StoredFile, WholeFile, CHUNK_SIZE, LOCAL};
use crate::engine::catalogue::{self, ModelFile};

/// No model file is larger (CLIP ViT-L/14's weights are 1.71 GB): a hub announcing more is refused before a byte is
/// stored, and a body running past it is cut off.
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// Configs and tokenizers: the largest real one (CLIP's tokenizer.json) is 2.2 MB.
pub const MAX_JSON_BYTES: u64 = 32 << 20;

fn size_cap(file: &str) -> u64 {
    if file.ends_with(".json") {
        MAX_JSON_BYTES
    } else {
        MAX_FILE_BYTES
    }
}

/// A handle to stop a download; clones share the same switch.
#[derive(Clone, Default)]
pub struct Cancel(Rc<CancelState>);

#[derive(Default)]
struct CancelState {
    cancelled: Cell<bool>,
    /// Cancelled because the model is being deleted: keep nothing of what arrived.
    discard: Cell<bool>,
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

    /// Cancel, and keep none of the bytes (the model is being deleted).
    pub fn cancel_discarding(&self) {
        self.0.discard.set(true);
        self.cancel();
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
    /// Whether `expected_sha256` is the catalogue's pin (then a match makes the file verified, shared by every hub,
    /// and a mismatch means the hub serves a different file than the course relies on).
    pub pinned: bool,
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
            pinned: false,
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
    /// Defaults, with the size and sha256 the catalogue pins for this file (if it does).
    pub fn from_pin(pin: Option<&ModelFile>) -> Self {
        Self {
            expected_size: pin.and_then(|f| f.size),
            expected_sha256: pin.and_then(|f| f.sha256).map(str::to_string),
            pinned: pin.is_some_and(ModelFile::is_pinned),
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
    #[error("{}", unreachable_text(origin, file, *attempts, detail))]
    Unreachable { file: String, origin: String, attempts: u32, detail: String },
    #[error("{url}: HTTP {status} {status_text}{}", http_hint(*.status))]
    Http { url: String, status: u16, status_text: String },
    #[error("{url} answered with a web page instead of {file} (an error page, or a login wall?)")]
    Html { url: String, file: String },
    #[error("{file}{} has the wrong size: {detail}; the download was discarded", from_hub(.hub))]
    Size { file: String, hub: String, detail: String },
    #[error("{file} is corrupt: its sha256 is {got}, expected {want}; the download was discarded")]
    Checksum { file: String, got: String, want: String },
    #[error("{file}: {hub} announces {size} bytes, more than any model file (at most {cap}); nothing was downloaded")]
    TooLarge { file: String, hub: String, size: u64, cap: u64 },
    #[error("download of {0} stopped: the model was deleted")]
    Deleted(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// " from <hub>", or nothing for the user's own files (their message already says so).
fn from_hub(hub: &str) -> String {
    if hub == LOCAL {
        String::new()
    } else {
        format!(" from {hub}")
    }
}

/// One sentence a student can act on: what failed, then what to do.
fn unreachable_text(origin: &str, file: &str, attempts: u32, detail: &str) -> String {
    format!(
        "Cannot reach {} to download {file} ({attempts} attempts; the browser says: {detail}). Check your \
         connection and run again, open your course's mirror link, or load the model's files from this computer \
         (Stored models → A model from files on this computer).",
        host_of(origin)
    )
}

/// `https://huggingface.co` → `huggingface.co`: what a student recognises.
pub fn host_of(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (the repository may be gated or private: it needs a login this app does not do)",
        404 => " (no such file at this revision)",
        _ => "",
    }
}

/// What happens to one file, as [`download`] and the readers report it (the worker turns it into a
/// [`super::messages::Step`] for the status line).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transfer<'a> {
    /// The file, `size` bytes, is being read back from the store: nothing is downloaded.
    Reading(u64),
    /// `done` of `total` bytes arrived (bytes stored by an earlier attempt count too).
    Bytes { done: u64, total: Option<u64> },
    /// An attempt failed with `detail` and another follows; `unreachable`: no server answered at all.
    Retrying { detail: &'a str, unreachable: bool },
}

/// How one attempt ended, short of success.
enum Failure {
    /// Worth another attempt, resuming from what is stored. `unreachable`: the request got no answer at all.
    Retry { stalled: bool, unreachable: bool, detail: String },
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
    /// `want_size` is a pin: a server announcing less serves another version (the sha256 then decides:
    /// quarantine), one announcing or sending more is refused.
    size_is_pin: bool,
    /// The total the server announced (Content-Range total, or Content-Length of a 200).
    announced: Option<u64>,
    /// Whether the announced total comes from a 200's Content-Length (which may be the compressed length).
    announced_by_200: bool,
    partial: Partial,
    last_progress: u64,
    on_progress: &'a dyn Fn(Transfer<'_>),
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
            (self.on_progress)(Transfer::Bytes { done, total: self.total() });
        }
    }

    /// Re-hash what an earlier download left, so that the checksum covers the whole file. A gap ends it: what
    /// follows a gap is deleted.
    async fn resume(&mut self) -> Result<(), StoreError> {
        let (hasher, len, bad) = self.store.hash_chunks(self.key).await?;
        if let Some(from) = bad {
            // From the first chunk that does not fit, not from `len`: an overlapping chunk starts before `len`.
            self.store.truncate(self.key, from).await?;
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
        Failure::Fatal(DownloadError::Size { file: self.key.file.clone(), hub: self.key.origin.clone(), detail })
    }

    fn too_large(&self, size: u64, cap: u64) -> DownloadError {
        DownloadError::TooLarge { file: self.key.file.clone(), hub: self.key.origin.clone(), size, cap }
    }

    /// One request: from `stored` to the end, or until something goes wrong.
    async fn attempt(&mut self, options: &DownloadOptions) -> Result<(), Failure> {
        let controller = AbortController::new().map_err(|e| Failure::Retry { stalled: false, unreachable: false, detail: error_text(&e) })?;
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
        let retry = |detail: String| Failure::Retry { stalled: false, unreachable: false, detail };
        let stalled = || Failure::Retry { stalled: true, unreachable: false, detail: "stalled".into() };
        let cancelled = || Failure::Fatal(DownloadError::Cancelled(file.clone()));

        let init = RequestInit::new();
        // The store is the cache: a second copy in the HTTP cache would only take disk space.
        init.set_cache(RequestCache::NoStore);
        init.set_signal(Some(&controller.signal()));
        if offset > 0 {
            let headers = Headers::new().map_err(|e| retry(error_text(&e)))?;
            headers.set("Range", &format!("bytes={offset}-")).map_err(|e| retry(error_text(&e)))?;
            // The range only if the file is still the one we hold the start of; otherwise the whole file (200).
            if let Some(validator) = self.partial.validator() {
                headers.set("If-Range", validator).map_err(|e| retry(error_text(&e)))?;
            }
            init.set_headers(&headers);
        }
        let request = web_sys::Request::new_with_str_and_init(&self.url, &init).map_err(|e| {
            Failure::Fatal(DownloadError::Network { file: file.clone(), attempts: 1, detail: error_text(&e) })
        })?;
        let promise = js::fetch(&request).map_err(retry)?;
        // No answer at all, or a refused connection: the hub cannot be reached (said as such, with what to do). Not
        // for the student's own files (a blob: URL), which fail for other reasons.
        let unreachable = options.url.is_none();
        let response: Response = match within(timeout, JsFuture::from(promise)).await {
            None => {
                let detail = format!("no answer within {:.0} s", timeout as f64 / 1000.0);
                return Err(Failure::Retry { stalled: false, unreachable, detail });
            }
            Some(Err(_)) if options.cancel.is_cancelled() => return Err(cancelled()),
            Some(Err(e)) => return Err(Failure::Retry { stalled: false, unreachable, detail: error_text(&e) }),
            Some(Ok(r)) => r.unchecked_into(),
        };
        let status = response.status();
        let length = header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let cap = size_cap(&file);
        if let Some(size) = length.map(|l| l.saturating_add(offset)).filter(|&s| s > cap) {
            return Err(Failure::Fatal(self.too_large(size, cap)));
        }
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
        if let Some(total) = self.announced.filter(|&t| t > cap) {
            return Err(Failure::Fatal(self.too_large(total, cap)));
        }
        if let (true, Some(want), Some(total)) = (self.size_is_pin, self.want_size, self.announced) {
            if total < want && offset == 0 {
                // Not the pinned file, but perhaps a mirror of another version: downloaded to its announced size,
                // then its sha256 decides (quarantined and flagged). More than the pin is never accepted.
                self.want_size = Some(total);
                self.size_source = "the server's announcement";
            }
        }
        let etag = header(&response, "etag");
        let last_modified = header(&response, "last-modified");
        if self.stored > 0 && self.partial.etag.is_some() && etag.is_some() && etag != self.partial.etag {
            // Not the file we have the first part of (a branch moved on) and the server ignored If-Range: start again.
            self.wipe().await.map_err(|e| Failure::Fatal(e.into()))?;
            return Err(retry("the file changed on the server".into()));
        }
        if self.stored == 0 || self.partial.size.is_none() {
            self.partial = Partial { size: self.total(), etag, last_modified };
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
            if self.done() > cap {
                return Err(self.size_error(format!("the server sent more than {cap} bytes, more than any model file")));
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
/// `on_progress` hears of the bytes as they arrive and of each failed attempt that is retried.
pub async fn download(
    store: &Store,
    hub: &str,
    key: &FileKey,
    options: &DownloadOptions,
    on_progress: &dyn Fn(Transfer<'_>),
) -> Result<StoredFile, DownloadError> {
    let mut want_size = options.expected_size;
    let mut size_source = "the catalogue";
    let mut want_sha = options.expected_sha256.as_deref().map(str::to_ascii_lowercase);
    let cap = size_cap(&key.file);
    if want_sha.is_none() && options.ask_hub {
        if let Some((size, sha)) = paths_info(hub, key, options.stall_timeout_ms.min(15_000)).await {
            if let Some(size) = size.filter(|&s| s > cap) {
                return Err(DownloadError::TooLarge { file: key.file.clone(), hub: key.origin.clone(), size, cap });
            }
            // Only a transfer check: the hub vouching for its own bytes does not make them verified.
            want_sha = sha;
            match (want_size, size) {
                (None, Some(size)) => {
                    want_size = Some(size);
                    size_source = "the hub's file list";
                }
                (Some(want), Some(listed)) if want != listed => {
                    return Err(DownloadError::Size {
                        file: key.file.clone(),
                        hub: key.origin.clone(),
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
        // Only from a hub (a mirror of another version); the user's own files must be the pinned ones.
        size_is_pin: options.pinned && options.expected_size.is_some() && options.url.is_none(),
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
    // Without a validator for If-Range a resume could splice two versions of the file; only a pinned sha256 would
    // catch that, so an unpinned file with no validator starts over.
    let unsafe_resume = job.stored > 0 && job.partial.validator().is_none() && !options.pinned;
    if stale || unsafe_resume || want_size.is_some_and(|w| job.stored > w) {
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
    let mut quarantined = false;
    loop {
        let result = transfer_with_retries(&mut job, options).await;
        if let Err(e) = result {
            match &e {
                // Good bytes, kept for a resume.
                DownloadError::Cancelled(_) if !options.cancel.0.discard.get() => {}
                DownloadError::Cancelled(_)
                | DownloadError::Stalled { .. }
                | DownloadError::Network { .. }
                | DownloadError::Http { .. }
                | DownloadError::Html { .. }
                    if options.cancel.0.discard.get() =>
                {
                    let _ = store.delete_file(key).await;
                    return Err(DownloadError::Deleted(key.file.clone()));
                }
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
                if job.spliced && !restarted {
                    store.delete_file(key).await?;
                    // One of the parts may be stale (an older version of the file) or damaged: one fresh try from 0.
                    restarted = true;
                    job.wipe().await?;
                    continue;
                }
                if !options.pinned {
                    store.delete_file(key).await?;
                    return Err(DownloadError::Checksum { file: key.file.clone(), got: sha256, want: want.clone() });
                }
                // Not the pinned file, but whole and as the hub serves it (a mirror of another version, or a hostile
                // one): quarantined under that hub's origin, never shared, and flagged wherever it is used.
                quarantined = true;
            }
        }
        if options.cancel.0.discard.get() {
            store.delete_file(key).await?;
            return Err(DownloadError::Deleted(key.file.clone()));
        }
        let manifest = StoredFile {
            repo: key.repo.clone(),
            revision: key.revision.clone(),
            file: key.file.clone(),
            origin: key.origin.clone(),
            size: job.stored,
            sha256,
            verified: options.pinned && !quarantined,
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
                // Keep what arrived, for a resume — unless the model is being deleted.
                if options.cancel.0.discard.get() {
                    job.pending.clear();
                } else {
                    job.flush().await?;
                }
                return Err(DownloadError::Cancelled(file));
            }
            Err(Failure::Fatal(e)) => {
                // Bytes that failed a check are not kept.
                job.pending.clear();
                return Err(e);
            }
            Err(Failure::Retry { stalled, unreachable, detail }) => {
                job.flush().await?;
                failures = if job.stored > before { 1 } else { failures + 1 };
                if failures > options.max_retries || attempts >= 50 {
                    return Err(if stalled {
                        DownloadError::Stalled { file, seconds: options.stall_timeout_ms as f64 / 1000.0, attempts }
                    } else if unreachable {
                        DownloadError::Unreachable { file, origin: job.key.origin.clone(), attempts, detail }
                    } else {
                        DownloadError::Network { file, attempts, detail }
                    });
                }
                // Said at the first failure, not after the last: the page tells the student what is going on
                // while the retries run.
                (job.on_progress)(Transfer::Retrying { detail: &detail, unreachable });
                let delay = options.backoff_ms.saturating_mul(1 << (failures - 1).min(4)).min(5_000);
                TimeoutFuture::new(delay).await;
            }
        }
    }
}

thread_local! {
    /// The downloads running now in this thread, for [`cancel_all`] and [`cancel_model`].
    static ACTIVE: RefCell<Vec<(FileKey, Cancel)>> = const { RefCell::new(Vec::new()) };
}

/// Cancel every download running in this thread; returns how many there were.
pub fn cancel_all() -> usize {
    let active = ACTIVE.with(|a| std::mem::take(&mut *a.borrow_mut()));
    for (_, c) in &active {
        c.cancel();
    }
    active.len()
}

/// Stop this thread's downloads of `repo`, keeping none of their bytes (the model is being deleted).
pub fn cancel_model(repo: &str) -> usize {
    let active: Vec<Cancel> =
        ACTIVE.with(|a| a.borrow().iter().filter(|(k, _)| k.repo == repo).map(|(_, c)| c.clone()).collect());
    for c in &active {
        c.cancel_discarding();
    }
    active.len()
}

/// Run `download` with its cancel switch registered in [`ACTIVE`].
async fn tracked_download(
    store: &Store,
    hub: &str,
    key: &FileKey,
    options: &DownloadOptions,
    on_progress: &dyn Fn(Transfer<'_>),
) -> Result<StoredFile, DownloadError> {
    ACTIVE.with(|a| a.borrow_mut().push((key.clone(), options.cancel.clone())));
    let result = download(store, hub, key, options, on_progress).await;
    ACTIVE.with(|a| a.borrow_mut().retain(|(_, c)| !Rc::ptr_eq(&c.0, &options.cancel.0)));
    result
}

/// How far the bytes a request got can be trusted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    /// They match the catalogue's pin.
    pub verified: bool,
    /// For the student, when a pinned file's bytes did not match its pin: which file, which hub.
    pub warning: Option<String>,
    /// The file and the sha256 of the bytes it got (a hand-in names the weights that computed it).
    pub file: String,
    pub sha256: String,
}

impl Provenance {
    fn of(found: &StoredFile, pin: Option<&ModelFile>) -> Self {
        let warning = pin.and_then(|p| p.sha256).filter(|_| !found.verified).map(|want| {
            let (got, want) = (&found.sha256[..12.min(found.sha256.len())], &want[..12]);
            let from = if found.origin == LOCAL { "your own files".to_string() } else { found.origin.clone() };
            format!(
                "{} from {from} is not the file the catalogue pins (sha256 {got}…, pinned {want}…): it is kept apart \
                 for that source only, and these results are not verified",
                found.file
            )
        });
        Self { verified: found.verified, warning, file: found.file.clone(), sha256: found.sha256.clone() }
    }
}

/// A model file from the weights store (IndexedDB) when it is complete there; otherwise downloaded into it first
/// (resumable, size- and sha256-checked), then read back.
pub async fn fetch_stored(
    hub: &str,
    repo: &str,
    revision: &str,
    file: &str,
    on_progress: &dyn Fn(Transfer<'_>),
) -> Result<(Vec<u8>, Provenance), String> {
    let mut bytes = WholeFile::default();
    let provenance = stream_stored(hub, repo, revision, file, on_progress, &mut bytes).await?;
    Ok((bytes.0, provenance))
}

/// The stored copy that may answer this request, if a sound one is there: a pinned file's manifest must still carry
/// the pin (the catalogue may have moved on); a damaged record is dropped.
async fn usable_copy(store: &Store, key: &FileKey, pin: Option<&ModelFile>) -> Option<StoredFile> {
    let pinned = pin.is_some_and(ModelFile::is_pinned);
    match store.lookup(key, pinned).await {
        Ok(Some(found)) => {
            let want = pin.and_then(|p| p.sha256);
            // A verified copy whose sha256 is not the pin any more: the catalogue moved on.
            if found.verified && want.is_some_and(|w| w != found.sha256) {
                web_sys::console::warn_1(&format!("{key}: the stored copy is not the pinned file; downloading it again").into());
                let _ = store.delete_file(&found.key()).await;
                return None;
            }
            Some(found)
        }
        Ok(None) => None,
        Err(e) => {
            web_sys::console::warn_1(&format!("{e}; downloading it again").into());
            let _ = store.delete_file(key).await;
            None
        }
    }
}

/// Like [`fetch_stored`], but the bytes go to `sink` chunk by chunk instead of into one buffer, so a 600 MB
/// checkpoint is never held whole next to the model built from it. `revision` is the model's (as the page names
/// it); a catalogue model's file is fetched at the file's own pinned revision.
pub async fn stream_stored(
    hub: &str,
    repo: &str,
    revision: &str,
    file: &str,
    on_progress: &dyn Fn(Transfer<'_>),
    sink: &mut dyn ByteSink,
) -> Result<Provenance, String> {
    let (revision, pin) = catalogue::locate(repo, revision, file);
    let key = FileKey::new(repo, &revision, file, &hub_origin(hub));
    let store = match Store::shared().await {
        Ok(store) => store,
        Err(e) => {
            web_sys::console::warn_1(&format!("{e}; downloading {key} without keeping it").into());
            let bytes = super::fetch::fetch_bytes(&file_url(hub, repo, &revision, file), &|done, total| {
                on_progress(Transfer::Bytes { done, total })
            })
            .await?;
            let found = StoredFile {
                repo: repo.into(),
                revision: revision.clone(),
                file: file.into(),
                origin: key.origin.clone(),
                size: bytes.len() as u64,
                sha256: catalogue::sha256_hex(&bytes),
                verified: false,
                stored_at: 0.0,
            };
            let verified = pin.and_then(|p| p.sha256).is_some_and(|want| want == found.sha256);
            sink.reset(bytes.len() as u64);
            sink.push(&bytes)?;
            return Ok(Provenance::of(&StoredFile { verified, ..found }, pin));
        }
    };
    // Across tabs: a second page asking for this file waits here, then finds it stored.
    let _lock = super::locks::acquire(&key.lock_name()).await;
    for _ in 0..2 {
        if let Some(found) = usable_copy(&store, &key, pin).await {
            on_progress(Transfer::Reading(found.size));
            match store.read_into(&found, sink).await {
                Ok(()) => {
                    return Ok(Provenance::of(&found, pin));
                }
                Err(Ok(message)) => return Err(message),
                Err(Err(e)) => {
                    web_sys::console::warn_1(&format!("{e}; downloading it again").into());
                    store.delete_file(&found.key()).await.map_err(|e| e.to_string())?;
                }
            }
        }
        let options = DownloadOptions::from_pin(pin);
        tracked_download(&store, hub, &key, &options, on_progress).await.map_err(|e| e.to_string())?;
    }
    Err(format!("{key} could not be read back from the browser's storage after downloading it"))
}

/// Drop the stored copy that answered a request for this file (it did not parse: fetch it again).
pub async fn drop_stored(hub: &str, repo: &str, revision: &str, file: &str) -> Result<(), String> {
    let (revision, pin) = catalogue::locate(repo, revision, file);
    let key = FileKey::new(repo, &revision, file, &hub_origin(hub));
    let store = Store::shared().await.map_err(|e| e.to_string())?;
    let _lock = super::locks::acquire(&key.lock_name()).await;
    let pinned = pin.is_some_and(ModelFile::is_pinned);
    if let Some(found) = store.lookup(&key, pinned).await.map_err(|e| e.to_string())? {
        store.delete_file(&found.key()).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Delete every stored file of `repo`: downloads of it in this thread stop at once, those in other tabs when the
/// broadcast reaches them; each file is deleted under its lock, so after a download that was writing it ends: no
/// chunk is written after the deletion, and no manifest survives it.
pub async fn delete_model(repo: &str) -> Result<(), String> {
    cancel_model(repo);
    super::store_events::announce_deletion(repo);
    let store = Store::shared().await.map_err(|e| e.to_string())?;
    let mut files: Vec<(String, String)> = store.files_of_model(repo).await.map_err(|e| e.to_string())?;
    if let Some(entry) = catalogue::find(repo) {
        files.extend(entry.files.iter().map(|f| (f.revision.to_string(), f.name.to_string())));
    }
    files.sort();
    files.dedup();
    // Once every lock is held, every download that held one has ended; new ones wait until the deletion is done.
    // Always taken in sorted order, one at a time by downloads: no deadlock.
    let mut guards = Vec::new();
    for (revision, file) in &files {
        guards.push(super::locks::acquire(&FileKey::new(repo, revision, file, "").lock_name()).await);
    }
    store.delete_model(repo).await.map_err(|e| e.to_string())
}

/// Model files the user chose or dropped (as `blob:` URLs the page made for them) go into the weights store under
/// `repo` at `revision`, through the same size and sha256 checks as a download; from then on the model loads as if
/// it had been downloaded, offline too. For classrooms where the CDN is blocked and the files come on a USB stick.
pub async fn import_local(
    repo: &str,
    revision: &str,
    files: &[(String, String)],
    on_progress: &dyn Fn(&str, Transfer<'_>),
) -> Result<(), String> {
    let store = Store::shared().await.map_err(|e| e.to_string())?;
    for (name, url) in files {
        let (revision, pin) = catalogue::locate(repo, revision, name);
        let key = FileKey::new(repo, &revision, name, LOCAL);
        let _lock = super::locks::acquire(&key.lock_name()).await;
        // A fresh copy: never spliced onto part of a download from the hub.
        store.delete_file(&key).await.map_err(|e| e.to_string())?;
        let options = DownloadOptions { ask_hub: false, url: Some(url.clone()), ..DownloadOptions::from_pin(pin) };
        tracked_download(&store, "", &key, &options, &|t| on_progress(name, t))
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
    on_progress: &dyn Fn(Transfer<'_>),
) -> Result<(candle_nn::VarBuilder<'static>, Provenance), String> {
    let mut sink = TensorSink(Default::default());
    let provenance = stream_stored(hub, repo, revision, "model.safetensors", on_progress, &mut sink).await?;
    Ok((sink.0.into_var_builder().map_err(|e| e.to_string())?, provenance))
}

/// Weights stored in pieces (`model-00001-of-0000n.safetensors`, …: a bundled pack on a static host), each piece
/// its own file in the store (downloaded, resumed and checked on its own), built into one set of tensors.
pub async fn stream_weight_pieces(
    hub: &str,
    repo: &str,
    revision: &str,
    pieces: &[&str],
    on_progress: &dyn Fn(&str, Transfer<'_>),
) -> Result<(candle_nn::VarBuilder<'static>, Vec<Provenance>), String> {
    let (mut streams, mut provenances) = (Vec::new(), Vec::new());
    for piece in pieces {
        let mut sink = TensorSink(Default::default());
        let provenance = stream_stored(hub, repo, revision, piece, &|t| on_progress(piece, t), &mut sink).await?;
        streams.push(sink.0);
        provenances.push(provenance);
    }
    let vb = crate::engine::safetensors_stream::var_builder_from_pieces(streams).map_err(|e| e.to_string())?;
    Ok((vb, provenances))
}
