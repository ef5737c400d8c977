//! The UI thread's side of the inference worker: start it, send a request, await its answer. The UI calls the
//! typed functions at the end (`attention`, `classify`, the cache calls), each a `Result<_, WorkerError>`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

use super::messages::{decode, decode_id, encode, undecodable, Envelope, ModelSource, Request, Response, Step, BUILD_ID};
use super::store::{Estimate, StoredFile};
use crate::engine::attention::AttentionData;
use crate::engine::heads_off::HeadsOff;
use crate::engine::pipeline::{ClipResult, Prediction, Predictions};

/// The worker's loader script, relative to the page (works under any sub-path).
const WORKER_SCRIPT: &str = "worker.js";
/// The threaded worker (scripts/build_threads.sh), a module worker; `?threads=N` sets its pool size.
const THREADED_WORKER_SCRIPT: &str = "threads/worker.js";
/// The largest pool: beyond 4 threads the short products the app runs gain little.
const MAX_THREADS: usize = 4;

type ProgressFn = Box<dyn Fn(&Response)>;

struct Pending {
    on_progress: ProgressFn,
    done: oneshot::Sender<Response>,
}

struct Client {
    worker: Worker,
    /// The threaded worker's pool size, 1 for the single-threaded worker.
    threads: usize,
    ready: bool,
    /// Requests sent before the worker's wasm listens would be lost, so they wait here.
    queued: Vec<Envelope<Request>>,
    pending: HashMap<u32, Pending>,
    next_id: u32,
    /// The worker's build when it differs from the page's: nothing is exchanged with it then.
    foreign_build: Option<String>,
}

/// The message every request gets once the worker turned out to be from another build.
pub const RELOAD_NEEDED: &str =
    "nlu-lab was updated while this tab was open: the page and its worker are from different versions. Reload the \
     page to continue (nothing you stored is lost)";

thread_local! {
    static CLIENT: RefCell<Option<Rc<RefCell<Client>>>> = const { RefCell::new(None) };
    /// Set once the threaded worker failed to start: this page then stays on the single-threaded one.
    static THREADS_FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Told when the worker is from another build (the UI offers a reload).
    static ON_FOREIGN_BUILD: RefCell<Option<Box<dyn Fn(String)>>> = const { RefCell::new(None) };
}

/// `callback(worker_build)` runs when the worker answers Ready with a build other than the page's.
pub fn on_foreign_build(callback: impl Fn(String) + 'static) {
    ON_FOREIGN_BUILD.with(|c| *c.borrow_mut() = Some(Box::new(callback)));
}

/// The pool size for the threaded worker, or `None` for the single-threaded one: threads need a cross-origin
/// isolated page (SharedArrayBuffer; web/sw.js adds COOP/COEP to a top-level page) and more than one core.
fn wanted_threads() -> Option<usize> {
    if THREADS_FAILED.with(|f| f.get()) {
        return None;
    }
    let global = js_sys::global();
    let isolated = js_sys::Reflect::get(&global, &"crossOriginIsolated".into()).ok()?.as_bool() == Some(true);
    let shared_memory = js_sys::Reflect::has(&global, &"SharedArrayBuffer".into()).unwrap_or(false);
    if !isolated || !shared_memory {
        return None;
    }
    let cores = web_sys::window()?.navigator().hardware_concurrency() as usize;
    let threads = cores.min(MAX_THREADS);
    (threads > 1).then_some(threads)
}

/// How many threads the running worker computes on (0 before it is ready); also on `<html data-threads>`.
pub fn threads() -> usize {
    CLIENT.with(|slot| slot.borrow().as_ref().map_or(0, |c| if c.borrow().ready { c.borrow().threads } else { 0 }))
}

fn post(worker: &Worker, envelope: &Envelope<Request>) -> Result<(), String> {
    let (buffer, transfer) = encode(envelope)?;
    worker.post_message_with_transfer(&buffer, &transfer).map_err(|e| format!("postMessage failed: {e:?}"))
}

fn fail_all(client: &Rc<RefCell<Client>>, message: &str) {
    let pending: Vec<Pending> = client.borrow_mut().pending.drain().map(|(_, p)| p).collect();
    for p in pending {
        let _ = p.done.send(Response::Error(message.to_string()));
    }
}

/// The worker's wasm cannot be trusted after it trapped (its memory may be half-updated): fail what waits on it
/// and start a fresh worker on the next request.
fn restart(client: &Rc<RefCell<Client>>, reason: &str) {
    if client.borrow().threads > 1 && !client.borrow().ready {
        return fall_back(client, reason);
    }
    web_sys::console::warn_1(&format!("the inference worker stopped ({reason}); a new one starts on the next request").into());
    client.borrow().worker.terminate();
    CLIENT.with(|slot| {
        if slot.borrow().as_ref().is_some_and(|c| Rc::ptr_eq(c, client)) {
            *slot.borrow_mut() = None;
        }
    });
    let message = if reason.contains("memory") || reason.contains("Memory") {
        format!("The model ran out of memory in this browser tab ({reason}). Close other tabs or pick a smaller model, then try again.")
    } else {
        format!("The inference worker failed ({reason}). Please try again; if it happens again, reload the page.")
    };
    fail_all(client, &message);
}

/// The threaded worker died before it was ready (no threads/ in this build, or its module failed to load or
/// run): use the single-threaded worker from now on, with what waited for the threaded one.
fn fall_back(client: &Rc<RefCell<Client>>, reason: &str) {
    web_sys::console::warn_1(&format!("the threaded inference worker did not start ({reason}); using one thread").into());
    THREADS_FAILED.with(|f| f.set(true));
    client.borrow().worker.terminate();
    let fresh = match start() {
        Ok(c) => c,
        Err(e) => return fail_all(client, &e),
    };
    {
        let mut old = client.borrow_mut();
        let mut new = fresh.borrow_mut();
        new.queued = std::mem::take(&mut old.queued);
        new.pending = std::mem::take(&mut old.pending);
        new.next_id = old.next_id;
    }
    CLIENT.with(|slot| {
        if slot.borrow().as_ref().is_some_and(|c| Rc::ptr_eq(c, client)) {
            *slot.borrow_mut() = Some(fresh);
        }
    });
}

/// The worker index.html started before this wasm loaded (`window.nluLabWorker`: `{worker, threads, events}`,
/// the events it sent meanwhile), taken once.
fn take_early_worker() -> Option<(Worker, usize, js_sys::Array)> {
    let window = web_sys::window()?;
    let early = js_sys::Reflect::get(&window, &"nluLabWorker".into()).ok().filter(|v| v.is_object())?;
    let _ = js_sys::Reflect::delete_property(&window, &"nluLabWorker".into());
    let worker = js_sys::Reflect::get(&early, &"worker".into()).ok()?.dyn_into::<Worker>().ok()?;
    let threads = js_sys::Reflect::get(&early, &"threads".into()).ok()?.as_f64().unwrap_or(1.0) as usize;
    let events = js_sys::Reflect::get(&early, &"events".into()).ok()?.dyn_into::<js_sys::Array>().ok()?;
    Some((worker, threads.max(1), events))
}

fn start() -> Result<Rc<RefCell<Client>>, String> {
    // index.html starts the worker as the page opens, about 100 ms before this wasm could (a warm start waits
    // on the worker's wasm and the model load, not on the page); later starts (a restart, the fallback) are ours.
    let (worker, threads, early_events) = match take_early_worker() {
        Some((worker, threads, events)) => (worker, threads, Some(events)),
        None => {
            let threads = wanted_threads();
            let worker = match threads {
                Some(n) => {
                    let options = web_sys::WorkerOptions::new();
                    options.set_type(web_sys::WorkerType::Module);
                    Worker::new_with_options(&format!("{THREADED_WORKER_SCRIPT}?threads={n}"), &options)
                }
                None => Worker::new(WORKER_SCRIPT),
            }
            .map_err(|e| format!("cannot start the inference worker: {e:?}"))?;
            (worker, threads.unwrap_or(1), None)
        }
    };
    let client = Rc::new(RefCell::new(Client {
        worker: worker.clone(),
        threads,
        ready: false,
        queued: vec![],
        pending: HashMap::new(),
        next_id: 1,
        foreign_build: None,
    }));

    let weak = Rc::downgrade(&client);
    let handle_message = Rc::new(move |event: MessageEvent| {
        let Some(client) = weak.upgrade() else { return };
        // worker.js posts a plain string when the worker's wasm died (a trap or an unhandled rejection).
        if let Some(reason) = event.data().as_string() {
            return restart(&client, &reason);
        }
        let envelope: Envelope<Response> = match decode(&event.data()) {
            Ok(e) => e,
            Err(e) => {
                // Answer the one request it was for; with no readable id, everything waiting.
                let pending = decode_id(&event.data()).and_then(|id| client.borrow_mut().pending.remove(&id));
                return match pending {
                    Some(p) => drop(p.done.send(Response::Error(undecodable(&e)))),
                    None => fail_all(&client, &undecodable(&e)),
                };
            }
        };
        match envelope.body {
            Response::Ready { build } if build != BUILD_ID => {
                web_sys::console::warn_1(&format!("worker build {build}, page build {BUILD_ID}").into());
                let queued = {
                    let mut c = client.borrow_mut();
                    c.foreign_build = Some(build.clone());
                    std::mem::take(&mut c.queued)
                };
                for envelope in queued {
                    if let Some(p) = client.borrow_mut().pending.remove(&envelope.id) {
                        let _ = p.done.send(Response::Error(RELOAD_NEEDED.into()));
                    }
                }
                fail_all(&client, RELOAD_NEEDED);
                ON_FOREIGN_BUILD.with(|c| {
                    if let Some(callback) = c.borrow().as_ref() {
                        callback(build);
                    }
                });
            }
            Response::Ready { .. } => {
                super::js::mark("worker-ready", None);
                let queued = {
                    let mut c = client.borrow_mut();
                    c.ready = true;
                    std::mem::take(&mut c.queued)
                };
                let threads = client.borrow().threads;
                if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
                    let _ = root.set_attribute("data-threads", &threads.to_string());
                }
                let worker = client.borrow().worker.clone();
                for envelope in queued {
                    if let Err(e) = post(&worker, &envelope) {
                        if let Some(p) = client.borrow_mut().pending.remove(&envelope.id) {
                            let _ = p.done.send(Response::Error(e));
                        }
                    }
                }
            }
            Response::Progress(_) => {
                if let Some(p) = client.borrow().pending.get(&envelope.id) {
                    (p.on_progress)(&envelope.body);
                }
            }
            body => {
                if let Some(p) = client.borrow_mut().pending.remove(&envelope.id) {
                    let _ = p.done.send(body);
                }
            }
        }
    });
    let on_message = Closure::<dyn Fn(MessageEvent)>::new({
        let handle = handle_message.clone();
        move |event: MessageEvent| handle(event)
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let weak = Rc::downgrade(&client);
    // An ErrorEvent for an error in the worker; a plain Event when its script did not load (e.g. a 404 of the
    // threaded worker's module), which has no message.
    let handle_error = Rc::new(move |event: web_sys::Event| {
        if let Some(client) = weak.upgrade() {
            let message = js_sys::Reflect::get(&event, &"message".into()).ok().and_then(|m| m.as_string());
            restart(&client, message.as_deref().unwrap_or("its script did not load"));
        }
    });
    let on_error = Closure::<dyn Fn(web_sys::Event)>::new({
        let handle = handle_error.clone();
        move |event: web_sys::Event| handle(event)
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();

    // What the early worker said before these handlers were set, in order. In a microtask: by then `client()`
    // has stored this client, which a restart or the fallback replaces; new events are tasks, so they come after.
    if let Some(events) = early_events {
        wasm_bindgen_futures::spawn_local(async move {
            for event in events.iter() {
                match event.dyn_into::<MessageEvent>() {
                    Ok(message) => handle_message(message),
                    Err(other) => handle_error(other.unchecked_into()),
                }
            }
        });
    }
    Ok(client)
}

fn client() -> Result<Rc<RefCell<Client>>, String> {
    CLIENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = start()?;
        *slot = Some(c.clone());
        Ok(c)
    })
}

/// Start the worker now (it takes a moment to compile its wasm), without sending anything.
pub fn warm_up() {
    let _ = client();
}

/// Send a request and wait for its final response; `on_progress` sees each progress message on the way.
async fn request(body: Request, on_progress: impl Fn(&Response) + 'static) -> Response {
    let client = match client() {
        Ok(c) => c,
        Err(e) => return Response::Error(e),
    };
    if client.borrow().foreign_build.is_some() {
        return Response::Error(RELOAD_NEEDED.into());
    }
    let (done, answer) = oneshot::channel();
    let (envelope, ready, worker) = {
        let mut c = client.borrow_mut();
        let id = c.next_id;
        c.next_id += 1;
        c.pending.insert(id, Pending { on_progress: Box::new(on_progress), done });
        (Envelope { id, body }, c.ready, c.worker.clone())
    };
    if ready {
        if let Err(e) = post(&worker, &envelope) {
            client.borrow_mut().pending.remove(&envelope.id);
            return Response::Error(e);
        }
    } else {
        client.borrow_mut().queued.push(envelope);
    }
    answer.await.unwrap_or_else(|_| Response::Error("the inference worker stopped".into()))
}

/// Why a call to the worker failed.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerError {
    /// The worker (or starting or reaching it) failed with this message, written for the student.
    Failed(String),
    /// The worker answered with something other than what the request asks for (a bug): that answer.
    Unexpected(String),
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Failed(message) => f.write_str(message),
            WorkerError::Unexpected(answer) => write!(f, "unexpected answer from the worker: {answer}"),
        }
    }
}

impl std::error::Error for WorkerError {}

/// The failure in an answer that is not the one expected.
fn failure(answer: Response) -> WorkerError {
    match answer {
        Response::Error(message) => WorkerError::Failed(message),
        other => WorkerError::Unexpected(format!("{other:?}")),
    }
}

/// A step of a request still running (reading, downloading, retrying, building the model).
pub type Progress<'a> = &'a Step;

/// Pass only the progress messages on, typed.
fn progress_only(on_progress: impl Fn(Progress<'_>) + 'static) -> impl Fn(&Response) + 'static {
    move |answer: &Response| {
        if let Response::Progress(step) = answer {
            on_progress(step);
        }
    }
}

/// What a model run cost.
#[derive(Clone, Debug, PartialEq)]
pub struct RunStats {
    pub forward_ms: f64,
    /// Reading (or downloading) and building the model; nothing when it was already loaded.
    pub load: crate::web::models::LoadTime,
    /// The worker's wasm memory afterwards: it never shrinks, so this is its peak so far.
    pub memory_bytes: u64,
    /// The threads the worker computed on.
    pub threads: usize,
    /// Whether the model's files matched the catalogue's pins, and what to tell the student if not.
    pub trust: crate::web::models::ModelTrust,
}

/// A model's output with what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed<T> {
    pub output: T,
    pub stats: RunStats,
}

/// Run a BERT-family model on `text` (and `text_b`), with its queries and keys (for the neuron view).
pub async fn attention(
    source: ModelSource,
    text: String,
    text_b: Option<String>,
    heads_off: HeadsOff,
    mask: Option<usize>,
    on_progress: impl Fn(Progress<'_>) + 'static,
) -> Result<Computed<AttentionRun>, WorkerError> {
    let body = Request::Attention { source, text, text_b, queries_keys: true, heads_off, mask };
    match request(body, progress_only(on_progress)).await {
        Response::Attention { data, predictions, masked_lm, next, forward_ms, load, memory_bytes, trust } => {
            let stats = RunStats { forward_ms, load, memory_bytes, threads: threads(), trust };
            Ok(Computed { output: AttentionRun { data, predictions, masked_lm, next }, stats })
        }
        other => Err(failure(other)),
    }
}

/// An attention run's result: the attention, for a masked token the head's guesses, for a decoder the next token's.
pub struct AttentionRun {
    pub data: AttentionData,
    pub predictions: Option<Predictions>,
    /// Whether the model has a masked-word head at all.
    pub masked_lm: bool,
    /// A decoder's most probable next tokens (empty for an encoder).
    pub next: Vec<Prediction>,
}

/// Score `captions` against an image (its file bytes) with a CLIP model.
pub async fn classify(
    source: ModelSource,
    image: Vec<u8>,
    captions: Vec<String>,
    on_progress: impl Fn(Progress<'_>) + 'static,
) -> Result<Computed<Box<ClipResult>>, WorkerError> {
    match request(Request::Classify { source, image, captions }, progress_only(on_progress)).await {
        Response::Clip { result, forward_ms, load, memory_bytes, trust } => {
            let stats = RunStats { forward_ms, load, memory_bytes, threads: threads(), trust };
            Ok(Computed { output: result, stats })
        }
        other => Err(failure(other)),
    }
}

/// Every complete file in the weights store, sorted by repo, file, revision, origin.
pub async fn cache_list() -> Result<Vec<StoredFile>, WorkerError> {
    match request(Request::CacheList, |_| {}).await {
        Response::CacheFiles(files) => Ok(files),
        other => Err(failure(other)),
    }
}

/// Storage used and allowed for this origin.
pub async fn cache_estimate() -> Result<Estimate, WorkerError> {
    match request(Request::CacheEstimate, |_| {}).await {
        Response::CacheEstimate(estimate) => Ok(estimate),
        other => Err(failure(other)),
    }
}

/// Re-hash a stored file: `None` when it is not stored, else whether it still matches its recorded sha256.
pub async fn cache_verify(file: StoredFile) -> Result<Option<bool>, WorkerError> {
    match request(Request::CacheVerify { file }, |_| {}).await {
        Response::CacheVerified(outcome) => Ok(outcome),
        other => Err(failure(other)),
    }
}

async fn done(body: Request, on_progress: impl Fn(Progress<'_>) + 'static) -> Result<(), WorkerError> {
    match request(body, progress_only(on_progress)).await {
        Response::CacheDone => Ok(()),
        other => Err(failure(other)),
    }
}

/// Delete a model's files (every revision, every hub), complete or partial; its downloads stop, in every tab.
pub async fn cache_delete_model(repo: String) -> Result<(), WorkerError> {
    done(Request::CacheDeleteModel { repo }, |_| {}).await
}

/// Delete everything in the weights store.
pub async fn cache_delete_all() -> Result<(), WorkerError> {
    done(Request::CacheDeleteAll, |_| {}).await
}

/// Cancel every download in progress (what arrived is kept for a resume).
pub async fn cancel_downloads() -> Result<(), WorkerError> {
    done(Request::CancelDownloads, |_| {}).await
}

/// Store a model's files from the user's computer (`files`: name and a `blob:` URL for it), checked like a download
/// (a `pack`'s against its sizes).
pub async fn import_local(
    repo: String,
    revision: String,
    files: Vec<(String, String)>,
    pack: Option<crate::engine::catalogue::BundledPack>,
    on_progress: impl Fn(Progress<'_>) + 'static,
) -> Result<(), WorkerError> {
    done(Request::ImportLocal { repo, revision, files, pack }, on_progress).await
}
