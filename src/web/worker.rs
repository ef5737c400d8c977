//! The inference worker's side: receive requests, fetch and load models, run them, answer.
//! Everything heavy happens here so that the page keeps drawing.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::download::import_local;
use super::messages::{decode, decode_id, encode, undecodable, Envelope, Request, Response, Step, BUILD_ID};
use super::js::{memory_bytes, now_ms};
use super::models;
use crate::engine::pipeline::{LabRequest, LabRun};

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn send(id: u32, body: Response) {
    match encode(&Envelope { id, body }) {
        Ok((buffer, transfer)) => {
            if let Err(e) = scope().post_message_with_transfer(&buffer, &transfer) {
                web_sys::console::error_1(&e);
            }
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}

/// How many guesses the lab shows for a masked token or the next one.
const PREDICTIONS: usize = 5;

/// Download and load progress, for the page's status line.
fn progress(id: u32) -> impl Fn(Step) {
    move |step| send(id, Response::Progress(step))
}

async fn handle(id: u32, request: Request) -> Response {
    let result: Result<Response, String> = async {
        match request {
            Request::Attention { source, text, text_b, queries_keys, heads_off, mask } => {
                let (model, trust, load) = models::attention_model(&source, &progress(id)).await?;
                let start = now_ms();
                let request =
                    LabRequest { text: &text, text_b: text_b.as_deref(), queries_keys, heads_off: &heads_off, mask, predictions: PREDICTIONS };
                let LabRun { data, masked, next } = model.run(&request).map_err(|e| e.to_string())?;
                let forward_ms = now_ms() - start;
                let masked_lm = model.has_masked_lm();
                Ok(Response::Attention { data, predictions: masked, masked_lm, next, forward_ms, load, memory_bytes: memory_bytes(), trust })
            }
            Request::Classify { source, image, captions } => {
                let (model, trust, load) = models::clip_model(&source, &progress(id)).await?;
                let start = now_ms();
                let result = Box::new(model.classify(&image, &captions).map_err(|e| e.to_string())?);
                let forward_ms = now_ms() - start;
                Ok(Response::Clip { result, forward_ms, load, memory_bytes: memory_bytes(), trust })
            }
            Request::ImportLocal { repo, revision, files, pack } => {
                if let Some(pack) = &pack {
                    crate::engine::catalogue::register_pack(pack);
                }
                let on_progress = |file: &str, t: super::download::Transfer<'_>| send(id, Response::Progress(models::file_step("", file, t)));
                import_local(&repo, &revision, &files, &on_progress).await.map(|()| Response::CacheDone)
            }
            request @ (Request::CacheList
            | Request::CacheDeleteModel { .. }
            | Request::CacheDeleteAll
            | Request::CacheVerify { .. }
            | Request::CacheEstimate
            | Request::CancelDownloads) => super::cache_requests::handle(request).await,
        }
    }
    .await;
    result.unwrap_or_else(Response::Error)
}

/// Install the message handler and tell the page we listen.
pub fn start() {
    console_error_panic_hook::set_once();
    #[cfg(feature = "threads")]
    {
        // The threaded build (web/worker-threads.js). The pool's own workers run this module too; only the
        // inference worker sets NLU_LAB_THREADS. It listens at once and starts the pool alongside (about 70 ms
        // on two cores): the first request's model load (IndexedDB, no threads) covers that; products run on
        // this thread until the pool is there, and on this thread only if it never starts.
        let threads = js_sys::Reflect::get(&js_sys::global(), &"NLU_LAB_THREADS".into()).ok().and_then(|v| v.as_f64());
        let Some(threads) = threads else { return };
        let threads = (threads as usize).clamp(1, 16);
        listen();
        wasm_bindgen_futures::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(wasm_bindgen_rayon::init_thread_pool(threads)).await {
                Ok(_) => crate::engine::kernels::set_pool_threads(threads),
                Err(e) => web_sys::console::warn_2(&"nlu-lab: the thread pool did not start; computing on one thread:".into(), &e),
            }
        });
    }
    #[cfg(not(feature = "threads"))]
    listen();
}

fn listen() {
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        // A JSON string is a benchmark request (scripts/bench.sh, a worker built with the `bench` feature); the
        // app's messages are ArrayBuffers.
        #[cfg(feature = "bench")]
        if let Some(text) = event.data().as_string() {
            return super::bench_requests::spawn(text);
        }
        match decode::<Envelope<Request>>(&event.data()) {
            Ok(Envelope { id, body }) => wasm_bindgen_futures::spawn_local(async move {
                let response = handle(id, body).await;
                send(id, response);
            }),
            Err(e) => match decode_id(&event.data()) {
                Some(id) => send(id, Response::Error(undecodable(&e))),
                None => web_sys::console::error_1(&format!("a message without an id: {e}").into()),
            },
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    super::store_events::listen();
    send(0, Response::Ready { build: BUILD_ID.to_string() });
}

/// The number of threads this worker's matmuls run on (1 in the single-threaded build).
pub fn threads() -> usize {
    #[cfg(feature = "threads")]
    {
        crate::engine::kernels::pool_threads().max(1)
    }
    #[cfg(not(feature = "threads"))]
    {
        1
    }
}
