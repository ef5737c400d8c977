//! The weights store and the downloader, in headless Chromium, *inside a dedicated worker* (where the app runs them),
//! against the loopback hub (started by scripts/test.sh; its URL baked in at compile time) and its fault injection.
//! Each test uses its own revision (the hub ignores it, the store keys on it), so tests do not see each other's files;
//! those that delete a whole model use a copy of MiniLM under another name (COPY), served by the same hub.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use nlu_lab::web::cache_requests;
use nlu_lab::engine::catalogue;
use nlu_lab::web::download::{download, fetch_stored, Cancel, DownloadError, DownloadOptions, Transfer, MAX_FILE_BYTES, MAX_JSON_BYTES};
use nlu_lab::web::messages::{ModelSource, Request, Response};
use nlu_lab::web::store::{
    estimate, map_js_error, persist, FileKey, Partial, Store, StoreError, StoredFile, PERSIST_PAGE_ONLY, PINNED,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const WEIGHTS: &str = "model.safetensors";
const WEIGHTS_SIZE: u64 = 90_868_376;
const WEIGHTS_SHA: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
const TOKENIZER_SIZE: u64 = 466_247;
const CONFIG_SIZE: u64 = 612;
const TOKENIZER_SHA: &str = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037";
/// The same files under a name the catalogue does not know (scripts/test.sh links it into the hub's root).
const COPY: &str = "nlu-lab-test/minilm-copy";

/// The catalogue's (pinned) revision of MiniLM.
fn pinned_revision() -> &'static str {
    catalogue::find(REPO).unwrap().revision
}

fn hub() -> &'static str {
    let Some(hub) = option_env!("NLU_LAB_TEST_HUB") else {
        panic!("NLU_LAB_TEST_HUB is not set: run the browser tests through scripts/test.sh");
    };
    hub
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn log(text: &str) {
    web_sys::console::log_1(&text.into());
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A request to the hub's control endpoints.
async fn control(method: &str, path: &str, body: Option<Value>) -> Value {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&body.to_string().into());
    }
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let promise = scope.fetch_with_str_and_init(&format!("{}{path}", hub()), &init);
    let response: web_sys::Response = JsFuture::from(promise).await.unwrap().unchecked_into();
    assert!(response.ok(), "{method} {path}: HTTP {}", response.status());
    let text = JsFuture::from(response.text().unwrap()).await.unwrap().as_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn set_faults(faults: Value) {
    control("POST", "/__faults", Some(faults)).await;
}

/// Clear faults and stats: every test starts from a well-behaved hub.
async fn fresh_hub() {
    control("DELETE", "/__faults", None).await;
    control("DELETE", "/__stats", None).await;
}

async fn stats() -> Value {
    control("GET", "/__stats", None).await
}

fn requests_for(stats: &Value, revision: &str, file: &str) -> u64 {
    let path = format!("/{REPO}/resolve/{revision}/{file}");
    stats["requests"][path].as_u64().unwrap_or(0)
}

/// The origin the loopback hub's bytes are kept under.
fn origin() -> &'static str {
    hub().trim_end_matches('/')
}

fn key(revision: &str, file: &str) -> FileKey {
    FileKey::new(REPO, revision, file, origin())
}

/// The complete copy a request to the loopback hub would get (unpinned lookup), if any.
async fn stored(store: &Store, key: &FileKey) -> Option<StoredFile> {
    store.lookup(key, false).await.unwrap()
}

async fn stored_bytes_of(store: &Store, key: &FileKey) -> Vec<u8> {
    let manifest = stored(store, key).await.unwrap_or_else(|| panic!("{key} is not stored"));
    store.get_file(&manifest).await.unwrap()
}

fn fast_options() -> DownloadOptions {
    DownloadOptions { stall_timeout_ms: 5_000, backoff_ms: 50, ..DownloadOptions::default() }
}

fn weights_options() -> DownloadOptions {
    DownloadOptions { expected_size: Some(WEIGHTS_SIZE), expected_sha256: Some(WEIGHTS_SHA.into()), ..fast_options() }
}

/// What a download reported, owned: bytes `(done, total)`, reads from the store, retries `(detail, unreachable)`.
#[derive(Debug, Default)]
struct Heard {
    bytes: Vec<(u64, Option<u64>)>,
    reads: Vec<u64>,
    retries: Vec<(String, bool)>,
}

type Progress = Rc<RefCell<Heard>>;

fn recorder() -> (Progress, impl Fn(Transfer<'_>)) {
    let seen: Progress = Rc::default();
    let s = seen.clone();
    (seen, move |t| {
        let mut heard = s.borrow_mut();
        match t {
            Transfer::Bytes { done, total } => heard.bytes.push((done, total)),
            Transfer::Reading(size) => heard.reads.push(size),
            Transfer::Retrying { detail, unreachable } => heard.retries.push((detail.to_string(), unreachable)),
        }
    })
}

fn assert_rises_to(seen: &Progress, size: u64) {
    let seen = &seen.borrow().bytes;
    assert!(seen.len() >= 2, "too few progress events: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress went backwards");
    assert_eq!(*seen.last().unwrap(), (size, Some(size)), "progress ends at 100 %");
}

/// Nothing marked complete, and the store agrees.
async fn assert_not_stored(store: &Store, key: &FileKey) {
    assert_eq!(store.lookup(key, true).await.unwrap(), None, "{key} must have no manifest");
    assert!(!store.list().await.unwrap().iter().any(|f| f.key() == *key));
}

/// Chunks that tile the file: each starts where the one before ended, and they add up to `size`.
async fn assert_chunks_tile(store: &Store, key: &FileKey, size: u64) {
    let mut next = 0;
    for offset in store.chunk_offsets(key).await.unwrap() {
        assert_eq!(offset, next, "{key}: a chunk at {offset} overlaps or leaves a gap (expected {next})");
        next += store.chunk(key, offset).await.unwrap().unwrap().length() as u64;
    }
    assert_eq!(next, size, "{key}: the chunks hold {next} bytes");
}

fn wasm_memory_mb() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as f64 / 1048576.0
}

/// The real MiniLM through the worker's entry point: progress to 100 %, the right bytes, then served from IndexedDB
/// without a request. Prints the timings (run with --nocapture to see them).
#[wasm_bindgen_test]
async fn minilm_is_downloaded_once_then_served_from_indexeddb() {
    fresh_hub().await;
    let memory_before = wasm_memory_mb();
    let (seen, on_progress) = recorder();
    let start = now();
    let (bytes, provenance) = fetch_stored(hub(), REPO, pinned_revision(), WEIGHTS, &on_progress).await.unwrap();
    let download_ms = now() - start;
    assert!(provenance.verified && provenance.warning.is_none(), "{provenance:?}");
    assert_eq!(bytes.len() as u64, WEIGHTS_SIZE);
    assert_eq!(sha256(&bytes), WEIGHTS_SHA);
    assert_rises_to(&seen, WEIGHTS_SIZE);
    assert_eq!(seen.borrow().reads, [WEIGHTS_SIZE], "downloaded into the store, then read back from it once");
    drop(bytes);

    let store = Store::shared().await.unwrap();
    let manifest = store.manifest_in(REPO, pinned_revision(), WEIGHTS, PINNED).await.unwrap().expect("a manifest");
    assert_eq!((manifest.size, manifest.sha256.as_str(), manifest.verified), (WEIGHTS_SIZE, WEIGHTS_SHA, true));
    assert_eq!(manifest.origin, origin(), "the chunks stay under the hub that served them");

    // The small files: pinned too.
    for (file, size) in [("config.json", CONFIG_SIZE), ("tokenizer.json", TOKENIZER_SIZE)] {
        let (bytes, provenance) = fetch_stored(hub(), REPO, pinned_revision(), file, &|_| {}).await.unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert!(provenance.verified, "{file}");
    }

    control("DELETE", "/__stats", None).await;
    let start = now();
    let (seen, on_progress) = recorder();
    let (again, _) = fetch_stored(hub(), REPO, pinned_revision(), WEIGHTS, &on_progress).await.unwrap();
    // Said as a read, not as a download at 100 %: nothing comes over the network.
    let heard = seen.borrow();
    assert!(heard.bytes.is_empty() && heard.retries.is_empty(), "{heard:?}");
    assert_eq!(heard.reads, [WEIGHTS_SIZE]);
    let read_ms = now() - start;
    assert_eq!(sha256(&again), WEIGHTS_SHA);
    for file in ["config.json", "tokenizer.json"] {
        fetch_stored(hub(), REPO, pinned_revision(), file, &|_| {}).await.unwrap();
    }
    assert_eq!(stats().await["totalRequests"], 0, "the second time, nothing is asked of the hub");
    log(&format!(
        "MiniLM weights through fetch_stored: first call (download, store, read back) {download_ms:.0} ms, second call (read back from IndexedDB) {read_ms:.0} ms; wasm memory {memory_before:.0} → {:.0} MB",
        wasm_memory_mb()
    ));
}

/// The connection is cut three times; every retry resumes with a Range request; the result is byte-identical.
#[wasm_bindgen_test]
async fn cut_downloads_resume_with_range_requests_to_identical_bytes() {
    fresh_hub().await;
    set_faults(json!({ "match": WEIGHTS, "cut": { "offsets": [3_000_000, 20_000_000, 50_000_000] } })).await;
    let store = Store::shared().await.unwrap();
    let key = key("t-cut", WEIGHTS);
    let (seen, on_progress) = recorder();
    let start = now();
    let manifest = download(&store, hub(), &key, &weights_options(), &on_progress).await.unwrap();
    log(&format!("cut three times, resumed: {:.0} ms", now() - start));
    assert_eq!(manifest.sha256, WEIGHTS_SHA);
    let stats = stats().await;
    assert_eq!(stats["faultsApplied"], 3);
    assert!(stats["rangeRequests"].as_u64().unwrap() >= 3, "resumed with Range: {stats}");
    // Resumed, not restarted: little more than the file went over the wire.
    assert!(stats["bytesSent"].as_u64().unwrap() < WEIGHTS_SIZE * 11 / 10, "{stats}");
    assert_rises_to(&seen, WEIGHTS_SIZE);
    // Each break was said while it was retried; a server answered each time.
    let retries = &seen.borrow().retries;
    assert_eq!(retries.len(), 3, "{retries:?}");
    assert!(retries.iter().all(|(_, unreachable)| !unreachable), "{retries:?}");
    let bytes = stored_bytes_of(&store, &key).await;
    assert_eq!((bytes.len() as u64, sha256(&bytes).as_str()), (WEIGHTS_SIZE, WEIGHTS_SHA));
    assert_chunks_tile(&store, &key, WEIGHTS_SIZE).await;
    store.delete_file(&key).await.unwrap();
}

#[wasm_bindgen_test]
async fn truncated_body_is_rejected() {
    fresh_hub().await;
    set_faults(json!({ "match": WEIGHTS, "truncate": { "bytes": 100_000 } })).await;
    let store = Store::shared().await.unwrap();
    // Size known from the catalogue.
    let k = key("t-truncate", WEIGHTS);
    let err = download(&store, hub(), &k, &weights_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Size { .. }), "{err}");
    assert!(err.to_string().contains("wrong size"), "{err}");
    assert_not_stored(&store, &k).await;
    assert!(store.chunk_offsets(&k).await.unwrap().is_empty(), "bad bytes are dropped");
    // Size unknown to the caller: the hub's paths-info knows it.
    let k = key("t-truncate-hub", WEIGHTS);
    let err = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Size { .. }), "{err}");
    assert_not_stored(&store, &k).await;
}

#[wasm_bindgen_test]
async fn corrupt_byte_is_caught_by_the_checksum() {
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "corrupt": { "offset": 12_345 } })).await;
    let store = Store::shared().await.unwrap();
    let k = key("t-corrupt", "tokenizer.json");
    let err = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_not_stored(&store, &k).await;
    assert!(store.chunk_offsets(&k).await.unwrap().is_empty(), "bad bytes are dropped");
}

/// The first response is corrupt and stalls; the resumed rest is fine, so the spliced file fails its checksum: one
/// fresh download from byte 0 follows, and succeeds.
#[wasm_bindgen_test]
async fn a_spliced_file_failing_its_checksum_is_downloaded_once_more() {
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "times": 1, "corrupt": { "offset": 100 }, "stall": { "afterBytes": 200_000 } }))
        .await;
    let store = Store::shared().await.unwrap();
    let k = key("t-splice", "tokenizer.json");
    let options = DownloadOptions { stall_timeout_ms: 300, ..fast_options() };
    let manifest = download(&store, hub(), &k, &options, &|_| {}).await.unwrap();
    assert_eq!(manifest.sha256, TOKENIZER_SHA, "the hub's own sha256 (paths-info) caught the splice");
    assert!(!manifest.verified, "a hub vouching for its own bytes does not make them verified");
    let stats = stats().await;
    assert_eq!(requests_for(&stats, "t-splice", "tokenizer.json"), 3, "stalled, resumed, then from scratch: {stats}");
    assert_eq!(stats["rangeRequests"], 1);
    assert_eq!(store.verify(&manifest).await.unwrap(), Some(true));
}

#[wasm_bindgen_test]
async fn http_errors_and_html_pages_are_rejected() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    set_faults(json!({ "match": "config.json", "status": 500 })).await;
    let k = key("t-500", "config.json");
    let err = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Http { status: 500, .. }), "{err}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_not_stored(&store, &k).await;

    set_faults(json!({ "match": "config.json", "html200": true })).await;
    let k = key("t-html", "config.json");
    let err = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Html { .. }), "{err}");
    assert!(err.to_string().contains("web page"), "{err}");
    assert_not_stored(&store, &k).await;

    fresh_hub().await;
    let k = key("t-404", "nope.bin");
    let err = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_not_stored(&store, &k).await;
}

/// No server at the address (a wrong mirror, no network): said at the first failed attempt, as "unreachable", while
/// the retries go on; the final error is one sentence that says what to do.
#[wasm_bindgen_test]
async fn an_unreachable_hub_is_said_at_the_first_failure_and_then_what_to_do() {
    let store = Store::shared().await.unwrap();
    // Port 9 (discard) on the loopback: nothing listens there, and Chromium refuses the port before connecting;
    // either way the fetch rejects with no response, as it does offline.
    let closed = "http://127.0.0.1:9";
    let k = FileKey::new(REPO, "t-unreachable", "config.json", closed);
    let options = DownloadOptions { max_retries: 2, ask_hub: false, ..fast_options() };
    let (seen, on_progress) = recorder();
    let retries_at_first_failure = Rc::new(RefCell::new(None));
    let (s, first) = (seen.clone(), retries_at_first_failure.clone());
    let on_progress = move |t: Transfer<'_>| {
        on_progress(t);
        if first.borrow().is_none() && !s.borrow().retries.is_empty() {
            *first.borrow_mut() = Some(now());
        }
    };
    let start = now();
    let err = download(&store, closed, &k, &options, &on_progress).await.unwrap_err();
    let (ended, first) = (now(), retries_at_first_failure.borrow().expect("a retry was reported"));
    let retries = &seen.borrow().retries;
    assert_eq!(retries.len(), 2, "one report per retry (3 attempts): {retries:?}");
    assert!(retries.iter().all(|(_, unreachable)| *unreachable), "{retries:?}");
    // Reported at the first failure: the two back-offs that follow it (50 + 100 ms) come after the report.
    assert!(ended - first >= 140.0, "the first report {:.0} ms before giving up, not at the first failure", ended - first);
    assert!(first >= start);
    assert!(matches!(err, DownloadError::Unreachable { attempts: 3, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("Cannot reach 127.0.0.1:9 to download config.json (3 attempts;"), "{text}");
    for hint in ["Check your connection", "mirror link", "from this computer"] {
        assert!(text.contains(hint), "{text}");
    }
    assert_not_stored(&store, &k).await;
}

#[wasm_bindgen_test]
async fn a_stalled_server_is_given_up_with_a_clear_message() {
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "stall": { "afterBytes": 0 } })).await;
    let store = Store::shared().await.unwrap();
    let k = key("t-stall", "tokenizer.json");
    let options = DownloadOptions { stall_timeout_ms: 400, max_retries: 1, ..fast_options() };
    let start = now();
    let err = download(&store, hub(), &k, &options, &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Stalled { attempts: 2, .. }), "{err}");
    assert!(err.to_string().contains("stalled"), "{err}");
    assert!(now() - start < 5_000.0);
    assert_not_stored(&store, &k).await;
}

/// Every byte stored but no manifest (the tab closed between the last chunk and the manifest): with no size known,
/// the resume's `Range: bytes=612-` gets 416 from the hub, which completes the file without a body.
#[wasm_bindgen_test]
async fn all_bytes_stored_but_no_manifest_completes_through_416() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    let k = key("t-416", "config.json");
    let options = || DownloadOptions { ask_hub: false, ..fast_options() };
    download(&store, hub(), &k, &options(), &|_| {}).await.unwrap();
    store.forget_manifest(&k).await.unwrap();
    // What the interrupted download would have left next to its chunks: the validator its resume sends as If-Range
    // (the loopback hub's ETag is the file's sha256); without one, an unpinned file starts over.
    let etag = "\"953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41\"".to_string();
    store.set_partial(&k, &Partial { size: None, etag: Some(etag), last_modified: None }).await.unwrap();
    assert_not_stored(&store, &k).await;
    control("DELETE", "/__stats", None).await;
    let manifest = download(&store, hub(), &k, &options(), &|_| {}).await.unwrap();
    assert_eq!(manifest.size, CONFIG_SIZE);
    assert!(!manifest.verified, "no sha256 was known: only the size was checked");
    let stats = stats().await;
    assert_eq!((stats["rangeRequests"].as_u64(), stats["bytesSent"].as_u64()), (Some(1), Some(0)), "{stats}");
    assert_eq!(stats["ifRangeRequests"], 1, "the resume carried If-Range: {stats}");
    let bytes = store.get_file(&manifest).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["hidden_size"], 384);
}

#[wasm_bindgen_test]
async fn a_cancelled_download_keeps_its_part_and_resumes() {
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "slow": { "bytesPerSecond": 400_000 } })).await;
    let store = Store::shared().await.unwrap();
    let k = key("t-cancel", "tokenizer.json");
    let cancel = Cancel::new();
    let options = DownloadOptions { cancel: cancel.clone(), ..fast_options() };
    let c = cancel.clone();
    let err = download(&store, hub(), &k, &options, &move |t| {
        if matches!(t, Transfer::Bytes { done, .. } if done >= 100_000) {
            c.cancel();
        }
    })
    .await
    .unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled(_)), "{err}");
    assert_not_stored(&store, &k).await;
    let kept = store.stored_bytes(&k).await.unwrap();
    assert!((100_000..TOKENIZER_SIZE).contains(&kept), "kept {kept} bytes");

    fresh_hub().await;
    let manifest = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap();
    assert_eq!(manifest.sha256, TOKENIZER_SHA);
    let stats = stats().await;
    assert_eq!(stats["rangeRequests"], 1, "resumed from byte {kept}");
    assert_eq!((stats["ifRangeRequests"].as_u64(), stats["ifRangeMismatches"].as_u64()), (Some(1), Some(0)), "{stats}");
    assert_eq!(store.get_file(&manifest).await.unwrap().len() as u64, TOKENIZER_SIZE);
    assert_chunks_tile(&store, &k, TOKENIZER_SIZE).await;
}

#[wasm_bindgen_test]
async fn two_requests_for_one_file_download_it_once() {
    fresh_hub().await;
    let (a, b) = futures::join!(
        fetch_stored(hub(), REPO, "t-twice", "tokenizer.json", &|_| {}),
        fetch_stored(hub(), REPO, "t-twice", "tokenizer.json", &|_| {}),
    );
    assert_eq!(a.unwrap().0, b.unwrap().0);
    assert_eq!(requests_for(&stats().await, "t-twice", "tokenizer.json"), 1);
}

#[wasm_bindgen_test]
async fn verify_and_damage_are_detected() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    let k = key("t-verify", "config.json");
    let manifest = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap();
    assert_eq!(store.verify(&manifest).await.unwrap(), Some(true));
    let absent = StoredFile { file: "absent.json".into(), ..manifest.clone() };
    assert_eq!(store.verify(&absent).await.unwrap(), None);
    store.put_chunk(&k, 0, &[b'x'; CONFIG_SIZE as usize]).await.unwrap();
    assert_eq!(store.verify(&manifest).await.unwrap(), Some(false), "a changed byte is found");
    store.truncate(&k, 0).await.unwrap();
    let err = store.get_file(&manifest).await.unwrap_err();
    assert!(matches!(err, StoreError::Damaged(..)), "{err}");
    // The worker's path repairs it: a damaged copy is downloaded again.
    let (bytes, _) = fetch_stored(hub(), REPO, "t-verify", "config.json", &|_| {}).await.unwrap();
    assert_eq!(bytes.len() as u64, CONFIG_SIZE);
}

#[wasm_bindgen_test]
async fn delete_frees_the_entries() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    let copy = |revision: &str, file: &str| FileKey::new(COPY, revision, file, origin());
    for revision in ["t-delete", "t-delete-2"] {
        for file in ["config.json", "tokenizer.json"] {
            download(&store, hub(), &copy(revision, file), &fast_options(), &|_| {}).await.unwrap();
        }
    }
    download(&store, hub(), &key("t-keep", "config.json"), &fast_options(), &|_| {}).await.unwrap();
    // And a partial download, which must go too.
    // (A stall rather than a cut: after a reset the browser may drop bytes it had not handed over yet.)
    set_faults(json!({ "match": "tokenizer.json", "stall": { "afterBytes": 100_000 } })).await;
    let partial = copy("t-delete", "tokenizer.json");
    store.delete_file(&partial).await.unwrap();
    let options = DownloadOptions { max_retries: 0, stall_timeout_ms: 300, ..fast_options() };
    assert!(download(&store, hub(), &partial, &options, &|_| {}).await.is_err());
    assert_eq!(store.stored_bytes(&partial).await.unwrap(), 100_000);

    let count = |repo: &'static str| {
        let store = store.clone();
        async move { store.list().await.unwrap().iter().filter(|f| f.repo == repo).count() }
    };
    assert_eq!(count(COPY).await, 3);
    let Ok(Response::CacheDone) = cache_requests::handle(Request::CacheDeleteModel { repo: COPY.into() }).await else {
        panic!("delete failed")
    };
    assert_eq!(count(COPY).await, 0);
    for revision in ["t-delete", "t-delete-2"] {
        for file in ["config.json", "tokenizer.json"] {
            assert!(store.chunk_offsets(&copy(revision, file)).await.unwrap().is_empty(), "{file}: chunks deleted");
            assert_eq!(store.partial(&copy(revision, file)).await.unwrap(), None);
        }
    }
    assert!(store.files_of_model(COPY).await.unwrap().is_empty());
    assert!(stored(&store, &key("t-keep", "config.json")).await.is_some(), "another model stays");
}

/// A model deleted while one of its files downloads: the download stops, nothing of it stays (no manifest, no
/// chunk, no partial record), and the request says why.
#[wasm_bindgen_test]
async fn deleting_a_model_while_it_downloads_cancels_and_leaves_nothing() {
    fresh_hub().await;
    set_faults(json!({ "match": "minilm-copy/model.safetensors", "slow": { "bytesPerSecond": 4_000_000 } })).await;
    let store = Store::shared().await.unwrap();
    let weights = FileKey::new(COPY, "t-del-dl", WEIGHTS, origin());
    let (fetched, deleted) = futures::join!(fetch_stored(hub(), COPY, "t-del-dl", WEIGHTS, &|_| {}), async {
        // Past the first 8 MiB chunk, so that chunks were committed before the deletion.
        gloo::timers::future::TimeoutFuture::new(3_000).await;
        let before = store.chunk_offsets(&weights).await.unwrap().len();
        (before, cache_requests::handle(Request::CacheDeleteModel { repo: COPY.into() }).await)
    });
    let (chunks_before, deleted) = deleted;
    assert!(chunks_before >= 1, "the download had stored {chunks_before} chunks when the deletion came");
    assert!(matches!(deleted, Ok(Response::CacheDone)), "{deleted:?}");
    let err = fetched.unwrap_err();
    assert!(err.contains("deleted"), "{err}");
    assert_not_stored(&store, &weights).await;
    assert!(store.chunk_offsets(&weights).await.unwrap().is_empty(), "no chunk survives the deletion");
    assert_eq!(store.partial(&weights).await.unwrap(), None);
    assert!(store.files_of_model(COPY).await.unwrap().is_empty());
    let sent = stats().await["bytesSent"].as_u64().unwrap();
    log(&format!("deleted while downloading: {chunks_before} chunks stored before, {sent} bytes sent, nothing kept"));
}

/// Two writers left an overlapping chunk (one at 0 of 300 000 bytes, one at 100 000): the resume keeps the first,
/// truncates from the overlapping one's offset (not from the contiguous length, which would keep it), and completes
/// the file from 300 000 on.
#[wasm_bindgen_test]
async fn an_overlapping_chunk_is_truncated_from_its_own_offset() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    let k = key("t-overlap", "tokenizer.json");
    store.delete_file(&k).await.unwrap();
    let (whole, _) = fetch_stored(hub(), REPO, "t-overlap-source", "tokenizer.json", &|_| {}).await.unwrap();
    store.put_chunk(&k, 0, &whole[..300_000]).await.unwrap();
    store.put_chunk(&k, 100_000, &whole[100_000..400_000]).await.unwrap();
    let etag = format!("\"{TOKENIZER_SHA}\"");
    store.set_partial(&k, &Partial { size: Some(TOKENIZER_SIZE), etag: Some(etag), last_modified: None }).await.unwrap();
    control("DELETE", "/__stats", None).await;
    let manifest = download(&store, hub(), &k, &fast_options(), &|_| {}).await.unwrap();
    assert_eq!(manifest.sha256, TOKENIZER_SHA);
    assert_chunks_tile(&store, &k, TOKENIZER_SIZE).await;
    let stats = stats().await;
    assert_eq!(stats["bytesSent"].as_u64(), Some(TOKENIZER_SIZE - 300_000), "resumed at 300 000: {stats}");
}

/// The first response stalls, and its ETag is not the file's any more when the download resumes (the file changed
/// on the server): If-Range gets the whole file (200), which replaces the part instead of being spliced onto it.
/// The first part is also corrupt, so a splice would show in the sha256; no sha256 is known to the download.
/// (A stall, not a cut: after a reset the browser may drop bytes it had not handed over yet.)
#[wasm_bindgen_test]
async fn a_file_that_changed_on_the_server_restarts_instead_of_splicing() {
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "times": 1, "etag": "\"an-older-version\"",
        "corrupt": { "offset": 1000 }, "stall": { "afterBytes": 150_000 } }))
    .await;
    let store = Store::shared().await.unwrap();
    let k = key("t-if-range", "tokenizer.json");
    let options = DownloadOptions { ask_hub: false, stall_timeout_ms: 500, ..fast_options() };
    let manifest = download(&store, hub(), &k, &options, &|_| {}).await.unwrap();
    assert_eq!(manifest.sha256, TOKENIZER_SHA, "not spliced onto the older version's first part");
    let st = stats().await;
    assert_eq!((st["ifRangeRequests"].as_u64(), st["ifRangeMismatches"].as_u64()), (Some(1), Some(1)), "{st}");
    assert_chunks_tile(&store, &k, TOKENIZER_SIZE).await;

    // With no ETag at all, Last-Modified is the validator, and an unchanged file resumes (206).
    fresh_hub().await;
    set_faults(json!({ "match": "tokenizer.json", "times": 1, "noEtag": true, "stall": { "afterBytes": 150_000 } })).await;
    let k = key("t-if-range-date", "tokenizer.json");
    let manifest = download(&store, hub(), &k, &options, &|_| {}).await.unwrap();
    assert_eq!(manifest.sha256, TOKENIZER_SHA);
    let st = stats().await;
    assert_eq!((st["ifRangeRequests"].as_u64(), st["ifRangeMismatches"].as_u64()), (Some(1), Some(0)), "{st}");
    assert!(st["bytesSent"].as_u64().unwrap() < TOKENIZER_SIZE + 10_000, "resumed, not restarted: {st}");
}

/// A verified copy whose sha256 is not the catalogue's pin any more is downloaded again; a stored tokenizer that
/// does not parse is dropped and fetched again.
#[wasm_bindgen_test]
async fn a_stale_manifest_and_an_unparsable_file_are_fetched_again() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    let rev = pinned_revision();
    let k = key(rev, "config.json");
    // A verified-looking record of other bytes (as an older catalogue would have left).
    store.put_chunk(&k, 0, br#"{"not": "the pinned config"}"#).await.unwrap();
    let stale = StoredFile {
        repo: REPO.into(),
        revision: rev.into(),
        file: "config.json".into(),
        origin: origin().into(),
        size: 28,
        sha256: "0".repeat(64),
        verified: true,
        stored_at: 0.0,
    };
    store.commit_file(&stale).await.unwrap();
    let (bytes, provenance) = fetch_stored(hub(), REPO, rev, "config.json", &|_| {}).await.unwrap();
    assert_eq!(bytes.len() as u64, CONFIG_SIZE);
    assert!(provenance.verified);

    // Garbage where a tokenizer should be, stored as an unpinned copy: the worker's loader drops and refetches it.
    let k = key("t-garbage", "tokenizer.json");
    store.delete_file(&k).await.unwrap();
    store.put_chunk(&k, 0, b"{ this is not json").await.unwrap();
    let garbage = StoredFile {
        revision: "t-garbage".into(),
        file: "tokenizer.json".into(),
        size: 18,
        sha256: sha256(b"{ this is not json"),
        verified: false,
        ..stale
    };
    store.commit_file(&garbage).await.unwrap();
    control("DELETE", "/__stats", None).await;
    let source = ModelSource { hub: hub().into(), repo: REPO.into(), revision: "t-garbage".into(), pack: None };
    let tokenizer = nlu_lab::web::models::tokenizer(&source, &|_| {}).await.unwrap();
    assert_eq!(tokenizer.encode("hello world", None, 512).unwrap().tokens, ["[CLS]", "hello", "world", "[SEP]"]);
    assert_eq!(requests_for(&stats().await, "t-garbage", "tokenizer.json"), 1, "fetched once more");
}

/// A hub that sends more than the file, announces 2^64 − 1 bytes, or a JSON file of over 32 MB: each refused with a
/// clear message, nothing stored.
#[wasm_bindgen_test]
async fn oversized_bodies_and_absurd_sizes_are_refused() {
    fresh_hub().await;
    let store = Store::shared().await.unwrap();
    set_faults(json!({ "match": WEIGHTS, "extra": { "bytes": 100_000 } })).await;
    let k = key("t-extra", WEIGHTS);
    let err = download(&store, hub(), &k, &weights_options(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, DownloadError::Size { .. }), "{err}");
    assert_not_stored(&store, &k).await;
    assert!(store.chunk_offsets(&k).await.unwrap().is_empty());

    for (file, cap) in [(WEIGHTS, MAX_FILE_BYTES), ("tokenizer.json", MAX_JSON_BYTES)] {
        let huge = if file == WEIGHTS { u64::MAX.to_string() } else { (MAX_JSON_BYTES + 1).to_string() };
        set_faults(json!({ "match": file, "announce": { "contentLength": huge } })).await;
        let k = key("t-huge", file);
        let start = now();
        let err = download(&store, hub(), &k, &DownloadOptions { ask_hub: false, ..fast_options() }, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, DownloadError::TooLarge { cap: c, .. } if c == cap), "{err}");
        let message = err.to_string();
        assert!(message.contains(file) && message.contains("more than any model file"), "{message}");
        assert_not_stored(&store, &k).await;
        assert!(store.chunk_offsets(&k).await.unwrap().is_empty());
        log(&format!("{file} announced as {huge} bytes: refused in {:.0} ms: {message}", now() - start));
    }
}

#[wasm_bindgen_test]
async fn delete_all_empties_the_store() {
    // A separate database handle: what one connection deletes, another no longer sees.
    let store = Store::open().await.unwrap();
    download(&store, hub(), &key("t-all", "config.json"), &fast_options(), &|_| {}).await.unwrap();
    store.delete_all().await.unwrap();
    let shared = Store::shared().await.unwrap();
    assert!(shared.list().await.unwrap().is_empty());
    assert!(shared.chunk_offsets(&key("t-all", "config.json")).await.unwrap().is_empty());
}

/// Chromium's real quota cannot be reached cheaply here, so the store's test hook makes a chunk write fail with a
/// `QuotaExceededError` DOMException half-way; the mapping of the real exception is checked on its own.
#[wasm_bindgen_test]
async fn quota_exceeded_is_a_clear_error_and_leaves_nothing() {
    fresh_hub().await;
    let quota = web_sys::DomException::new_with_message_and_name("full", "QuotaExceededError").unwrap();
    assert_eq!(map_js_error(&quota.into()), StoreError::Quota);
    let other = web_sys::DomException::new_with_message_and_name("disk on fire", "UnknownError").unwrap();
    assert!(matches!(map_js_error(&other.into()), StoreError::Failed(m) if m.contains("disk on fire")));

    let store = Store::open().await.unwrap();
    store.simulate_quota_for_tests(Some(20 << 20));
    let k = key("t-quota", WEIGHTS);
    let err = download(&store, hub(), &k, &weights_options(), &|_| {}).await.unwrap_err();
    store.simulate_quota_for_tests(None);
    assert_eq!(err, DownloadError::Store(StoreError::Quota), "{err}");
    let message = err.to_string();
    assert!(message.contains("no room left") && message.contains("quota exceeded"), "{message}");
    assert_not_stored(&store, &k).await;
    assert!(store.chunk_offsets(&k).await.unwrap().is_empty(), "the partial chunks are freed");
    assert_eq!(store.partial(&k).await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn estimate_and_persist_answer_in_the_worker() {
    assert!(js_sys::global().is_instance_of::<web_sys::DedicatedWorkerGlobalScope>(), "these tests run in a worker");
    let estimate = estimate().await.unwrap();
    assert!(estimate.quota > 0, "{estimate:?}");
    let persisted = persist().await;
    log(&format!("in the worker: {estimate:?}; persist() → {persisted:?}"));
    match persisted {
        Ok(_) => {}
        Err(e) => assert_eq!(e, PERSIST_PAGE_ONLY),
    }
}

/// The worker's cache-manager requests, called as the worker's `handle` calls them.
#[wasm_bindgen_test]
async fn cache_requests_list_verify_delete_and_cancel() {
    fresh_hub().await;
    fetch_stored(hub(), COPY, "t-cache", "config.json", &|_| {}).await.unwrap();
    let Ok(Response::CacheFiles(files)) = cache_requests::handle(Request::CacheList).await else { panic!("no list") };
    let file = files.iter().find(|f| f.revision == "t-cache" && f.file == "config.json").expect("listed").clone();
    assert_eq!((file.size, file.verified, file.origin.as_str()), (CONFIG_SIZE, false, origin()));
    let verify = Request::CacheVerify { file };
    assert!(matches!(cache_requests::handle(verify).await, Ok(Response::CacheVerified(Some(true)))));
    let estimate = cache_requests::handle(Request::CacheEstimate).await;
    assert!(matches!(estimate, Ok(Response::CacheEstimate(e)) if e.usage > 0 && e.quota > 0));
    let delete = Request::CacheDeleteModel { repo: COPY.into() };
    assert!(matches!(cache_requests::handle(delete).await, Ok(Response::CacheDone)));
    let Ok(Response::CacheFiles(files)) = cache_requests::handle(Request::CacheList).await else { panic!("no list") };
    assert!(!files.iter().any(|f| f.revision == "t-cache"));

    // CancelDownloads stops a download the worker's fetch path started.
    set_faults(json!({ "match": "tokenizer.json", "slow": { "bytesPerSecond": 200_000 } })).await;
    let (fetched, cancelled) =
        futures::join!(fetch_stored(hub(), REPO, "t-cache", "tokenizer.json", &|_| {}), async {
            gloo::timers::future::TimeoutFuture::new(400).await;
            cache_requests::handle(Request::CancelDownloads).await
        });
    assert!(matches!(cancelled, Ok(Response::CacheDone)));
    let err = fetched.unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    let store = Store::shared().await.unwrap();
    assert_not_stored(&store, &key("t-cache", "tokenizer.json")).await;
}

/// The worker keeps at most two models: a third drops the least recently used one, and using a model again makes
/// it the most recent. (Three copies of MiniLM under different revisions: each is a model of its own.)
#[wasm_bindgen_test]
async fn at_most_two_models_stay_loaded() {
    use nlu_lab::web::models::{attention_model, loaded_models, MAX_LOADED_MODELS};
    fresh_hub().await;
    let source = |revision: &str| ModelSource { hub: hub().into(), repo: COPY.into(), revision: revision.into(), pack: None };
    let mut memory = vec![];
    for revision in ["t-lru-a", "t-lru-b", "t-lru-a", "t-lru-c"] {
        let (_, trust, _) = attention_model(&source(revision), &|_| {}).await.unwrap();
        assert!(!trust.verified, "a model outside the catalogue is not verified");
        memory.push(format!("{revision}: {:.0} MB", wasm_memory_mb()));
    }
    let loaded = loaded_models();
    assert_eq!(MAX_LOADED_MODELS, 2);
    assert_eq!(loaded.len(), 2, "{loaded:?}");
    // Sources are told apart by revision too; `loaded_models` lists repos, so check through a reload's load time.
    let (_, _, load) = attention_model(&source("t-lru-a"), &|_| {}).await.unwrap();
    assert_eq!(load.ms, 0.0, "t-lru-a was used after t-lru-b, so it stayed");
    let (_, _, load) = attention_model(&source("t-lru-b"), &|_| {}).await.unwrap();
    assert!(load.ms > 0.0 && load.build_ms > 0.0 && load.build_ms <= load.ms, "t-lru-b was the least recently used, so it was dropped: {load:?}");
    log(&format!("worker wasm memory after each load: {}", memory.join(", ")));
    let Ok(Response::CacheDone) = cache_requests::handle(Request::CacheDeleteModel { repo: COPY.into() }).await else {
        panic!("delete failed")
    };
}
