//! The typed messages between the UI thread and the inference worker.
//!
//! Both sides serialise with postcard into one `ArrayBuffer` that is *transferred*, not copied: an attention
//! result for 512 tokens is tens of megabytes, and structured-cloning nested JS arrays of that size would stall the
//! UI thread for longer than the model takes to run.

use js_sys::{Array, ArrayBuffer, Uint8Array};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::attention::AttentionData;
use crate::engine::heads_off::HeadsOff;
use crate::engine::pipeline::{ClipResult, Prediction, Predictions};
use crate::web::models::{LoadTime, ModelTrust};
use crate::web::store::{Estimate, StoredFile};

/// Which build this code is (scripts/build.sh sets `NLU_LAB_BUILD_ID` to the commit): the page and the worker
/// compare theirs before exchanging anything, because a tab left open across a deploy would otherwise talk to a
/// worker whose messages have another shape.
pub const BUILD_ID: &str = match option_env!("NLU_LAB_BUILD_ID") {
    Some(id) => id,
    None => concat!("dev-", env!("CARGO_PKG_VERSION")),
};

/// Where a model's files come from: `<hub>/<repo>/resolve/<revision>/<file>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    pub hub: String,
    pub repo: String,
    pub revision: String,
    /// A compact copy the site serves (then `hub` is the site's mirror and `revision` the pack's): its files' pins.
    pub pack: Option<crate::engine::catalogue::BundledPack>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Fetch (or reuse) a checkpoint of the attention lab (BERT family or GPT-2) and run it.
    /// `heads_off`: switched off as transformers' `head_mask` does (engine::heads_off); `mask`: the token to
    /// replace by the mask token, for the masked-word head's predictions.
    Attention {
        source: ModelSource,
        text: String,
        text_b: Option<String>,
        queries_keys: bool,
        heads_off: HeadsOff,
        mask: Option<usize>,
    },
    /// Fetch (or reuse) a CLIP checkpoint and score the captions against the image (its file bytes).
    Classify { source: ModelSource, image: Vec<u8>, captions: Vec<String> },
    /// Cache manager: every complete file in the weights store → `CacheFiles`.
    CacheList,
    /// Cache manager: delete a model's files (every revision, every hub), complete or partial, stopping its
    /// downloads in every tab first → `CacheDone`.
    CacheDeleteModel { repo: String },
    /// Cache manager: delete everything in the weights store → `CacheDone`.
    CacheDeleteAll,
    /// Cache manager: re-hash a stored file and compare with its manifest → `CacheVerified`.
    CacheVerify { file: StoredFile },
    /// Cache manager: storage used and allowed for this origin → `CacheEstimate`.
    CacheEstimate,
    /// Cancel every download in progress → `CacheDone`; the requests waiting for them answer with an error, and what
    /// arrived is kept for a resume.
    CancelDownloads,
    /// Store a model's files from the user's computer (`files`: name and a `blob:` URL the page made for it), checked
    /// like a download → `CacheDone`, with `Progress` on the way.
    /// `pack`: the files are a compact pack (`nlu-lab pack`'s folder), stored under its revision with its sizes.
    ImportLocal { repo: String, revision: String, files: Vec<(String, String)>, pack: Option<crate::engine::catalogue::BundledPack> },
}

/// One step of a request still running, for the page's status line: said as what really happens, so that reading a
/// stored model does not look like a download and a hub that cannot be reached is said at its first failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// `file` (`size` bytes) is being read back from this browser's storage; nothing is downloaded.
    Reading { file: String, size: u64 },
    /// `done` of `total` bytes of `file` are here from `from` (a host; bytes kept from an earlier visit count too).
    Downloading { file: String, from: String, done: u64, total: Option<u64> },
    /// An attempt at `file` failed with `detail` and another follows in the background; `unreachable`: no server
    /// answered at all (offline, a blocked host, a wrong mirror address).
    Retrying { file: String, from: String, detail: String, unreachable: bool },
    /// Every file is here; the model is being built from them.
    Loading,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// Sent once, when the worker's wasm has started and listens, with its [`BUILD_ID`].
    Ready { build: String },
    /// What a request still running is doing (reading, downloading, retrying, building the model).
    Progress(Step),
    /// `load`: reading (or downloading) and building the model, nothing when it was already loaded. `memory_bytes`: the
    /// worker's wasm memory afterwards — it never shrinks, so this is its peak so far.
    /// `trust`: whether the model's files were verified against the catalogue, and warnings to show if not.
    /// `masked_lm`: whether the model has a masked-word head; `predictions`: its guesses, when a token was masked;
    /// `next`: a decoder's most probable next tokens (empty for an encoder).
    Attention {
        data: AttentionData,
        predictions: Option<Predictions>,
        masked_lm: bool,
        next: Vec<Prediction>,
        forward_ms: f64,
        load: LoadTime,
        memory_bytes: u64,
        trust: ModelTrust,
    },
    Clip { result: Box<ClipResult>, forward_ms: f64, load: LoadTime, memory_bytes: u64, trust: ModelTrust },
    Error(String),
    /// The complete files in the weights store, sorted by repo, file, revision, origin.
    CacheFiles(Vec<StoredFile>),
    /// `None`: not stored; `Some(ok)`: whether the bytes still match the sha256 recorded when they were stored.
    CacheVerified(Option<bool>),
    CacheEstimate(Estimate),
    CacheDone,
}

/// A request or response with the id that pairs them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u32,
    pub body: T,
}

/// Serialise to a fresh `ArrayBuffer`, returned with the transfer list to pass to `postMessage`.
pub fn encode<T: Serialize>(message: &T) -> Result<(JsValue, Array), String> {
    let bytes = postcard::to_allocvec(message).map_err(|e| format!("cannot encode message: {e}"))?;
    let array = Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(&bytes);
    let buffer: ArrayBuffer = array.buffer();
    let transfer = Array::of1(&buffer);
    Ok((buffer.into(), transfer))
}

pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<T, String> {
    let bytes = Uint8Array::new(data).to_vec();
    postcard::from_bytes(&bytes).map_err(|e| format!("cannot decode message: {e}"))
}

/// The id of an [`Envelope`] whose body does not decode (postcard writes the id first), so that the other side
/// can still answer it: no request may hang because its message was unreadable.
pub fn decode_id(data: &JsValue) -> Option<u32> {
    if !data.is_instance_of::<ArrayBuffer>() {
        return None;
    }
    let bytes = Uint8Array::new(data).to_vec();
    postcard::take_from_bytes::<u32>(&bytes).ok().map(|(id, _)| id)
}

/// What either side says when the other's messages do not decode.
pub fn undecodable(e: &str) -> String {
    format!(
        "the page and the inference worker could not understand each other ({e}): they may be from different \
         versions of nlu-lab. Reload the page"
    )
}
