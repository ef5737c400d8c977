//! The engine as a JavaScript package (`pkg/`, built by `scripts/build_pkg.sh` with `wasm-bindgen --target web`):
//! `attention()` and `clip()` for a course page, without the app's UI. Models come from the same weights store
//! (IndexedDB) and through the same downloader as in the app, and stay loaded between calls.
//!
//! The exports live in this bin's own source: `#[wasm_bindgen]` exports of a dependency (the lib) are not kept
//! when a wasm32 executable is linked.

#[cfg(target_arch = "wasm32")]
mod api {
    use js_sys::{Array, Float32Array, Function, Object, Reflect, Uint8Array};
    use serde::{Deserialize, Serialize};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    use nlu_lab::engine::catalogue::{self, Lab};
    use nlu_lab::engine::pipeline::{LabRequest, LabRun};
    use nlu_lab::web::hub::{validate_hub, DEFAULT_HUB};
    use nlu_lab::web::js::now_ms;
    use nlu_lab::web::messages::{ModelSource, Step};
    use nlu_lab::web::models;

    #[wasm_bindgen(typescript_custom_section)]
    const TYPES: &str = r#"
/** What loading the model is doing. `step`: "reading" a file back from this browser's storage, "downloading" it,
 *  "retrying" after a failed attempt (`detail` says why; `unreachable`: no server answered), or "loading" the model
 *  from its files (`file` is then ""). Bytes of `file`; `total` is null when the server does not say. */
export interface Progress {
  step: "reading" | "downloading" | "retrying" | "loading";
  file: string; done: number; total: number | null;
  detail?: string; unreachable?: boolean;
}

export interface ModelOptions {
  /** A model of nlu-lab's catalogue (Hugging Face repo id). */
  model?: string;
  /** Where the files come from: `<hub>/<repo>/resolve/<revision>/<file>`. https, http on localhost, or a path on
   *  this site. Default https://huggingface.co. */
  hub?: string;
  /** Default: the catalogue's revision for the model. */
  revision?: string;
  onProgress?: (progress: Progress) => void;
}

export interface AttentionOptions extends ModelOptions {
  /** Also return the per-head queries and keys (for a neuron view). Default false. */
  queriesKeys?: boolean;
  /** Also return the attention rollout through every layer (Abnar & Zuidema 2020). Default false. */
  rollout?: boolean;
  /** Heads switched off, "layer:head,…" (e.g. "0:3,2:11"), as transformers' head_mask does. Default none. */
  headsOff?: string;
  /** Replace this token (an index into `tokens`, not a special token) by the mask token and return the
   *  masked-word head's guesses (checkpoints that ship the head: BERT, DistilBERT, RoBERTa; not MiniLM). */
  maskToken?: number;
  /** How many guesses with `maskToken`, or of a GPT-2 model's next token. Default 5. */
  predictions?: number;
}

export interface Prediction {
  id: number;
  token: string;
  prob: number;
}

export interface AttentionResult {
  model: string;
  revision: string;
  /** Every file matched the catalogue's pinned sha256. */
  verified: boolean;
  /** Files that did not match their pin (kept apart for the hub that served them), said for a reader. */
  warnings: string[];
  text: string;
  textB: string | null;
  /** The model's tokens, special tokens included (n of them). */
  tokens: string[];
  /** 0 = sentence A, 1 = sentence B, per token. */
  segments: number[];
  special: boolean[];
  /** [start, end) character offsets of each token in its own sentence ([0, 0] for special tokens). */
  offsets: [number, number][];
  /** Word index of each token in its sentence, null for special tokens. */
  words: (number | null)[];
  /** Tokens cut because the input was longer than the model allows. */
  droppedTokens: number;
  layers: number;
  heads: number;
  headDim: number;
  /** attention[layer][head][from * n + to]: attention probabilities, each row sums to 1. */
  attention: Float32Array[][];
  /** With `queriesKeys`: queries[layer][head][token * headDim + i], after projection, before 1/√headDim. */
  queries?: Float32Array[][];
  keys?: Float32Array[][];
  /** With `rollout`: rollout[from * n + to], per layer the heads' mean A, the residual as 0.5·A + 0.5·I, multiplied
   *  from the first layer up; each row sums to 1. */
  rollout?: Float32Array;
  /** With `maskToken`: the position masked, the original token with its probability now, the best guesses. */
  predictions?: { position: number; original: Prediction; top: Prediction[] };
  /** A decoder (GPT-2): true; its attention is causal (each token sees only itself and the tokens before it). */
  causal?: boolean;
  /** A decoder's most probable next tokens after the text (`predictions` of them). */
  next?: Prediction[];
  /** Milliseconds reading and building the model (0 when it was already loaded), and running it. */
  loadMs: number;
  forwardMs: number;
}

export interface ClipResult {
  model: string;
  revision: string;
  /** Every file matched the catalogue's pinned sha256. */
  verified: boolean;
  /** Files that did not match their pin (kept apart for the hub that served them), said for a reader. */
  warnings: string[];
  captions: string[];
  /** Per caption: <|startoftext|> … <|endoftext|>, at most 77. */
  inputIds: number[][];
  tokens: string[][];
  truncated: boolean[];
  /** exp of the checkpoint's logit scale (≈ 100 for the trained model). */
  logitScaleExp: number;
  cosines: number[];
  /** logitScaleExp × cosine, per caption. */
  logits: number[];
  /** softmax of the logits over the captions. */
  probs: number[];
  loadMs: number;
  forwardMs: number;
}
"#;

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Options {
        model: Option<String>,
        hub: Option<String>,
        revision: Option<String>,
        queries_keys: bool,
        rollout: bool,
        heads_off: Option<String>,
        mask_token: Option<usize>,
        predictions: Option<usize>,
    }

    /// The options object; a key not in `known` is an error (a typo would otherwise be ignored silently).
    fn read_options(value: &JsValue, known: &[&str]) -> Result<Options, String> {
        if value.is_undefined() || value.is_null() {
            return Ok(Options::default());
        }
        let object = value.dyn_ref::<Object>().filter(|_| value.is_object()).ok_or("options must be an object")?;
        for key in Object::keys(object).iter().filter_map(|k| k.as_string()) {
            if !known.contains(&key.as_str()) {
                return Err(format!("unknown option \"{key}\" (known: {})", known.join(", ")));
            }
        }
        // onProgress is read separately (a function is not data).
        serde_wasm_bindgen::from_value(value.clone()).map_err(|e| format!("options: {e}"))
    }

    /// `onProgress` from the options, called with `{step, file, done, total}` (and `detail`, `unreachable` for a
    /// retry).
    fn progress_callback(options: &JsValue) -> impl Fn(Step) {
        let callback = (options.is_object())
            .then(|| Reflect::get(options, &"onProgress".into()).ok())
            .flatten()
            .and_then(|f| f.dyn_into::<Function>().ok());
        move |step| {
            if let Some(f) = &callback {
                let (name, file, done, total) = match &step {
                    Step::Reading { file, size } => ("reading", file.as_str(), *size, Some(*size)),
                    Step::Downloading { file, done, total, .. } => ("downloading", file.as_str(), *done, *total),
                    Step::Retrying { file, .. } => ("retrying", file.as_str(), 0, None),
                    Step::Loading => ("loading", "", 0, None),
                };
                let event = Object::new();
                let _ = Reflect::set(&event, &"step".into(), &name.into());
                let _ = Reflect::set(&event, &"file".into(), &file.into());
                let _ = Reflect::set(&event, &"done".into(), &(done as f64).into());
                let _ = Reflect::set(&event, &"total".into(), &total.map_or(JsValue::NULL, |t| (t as f64).into()));
                if let Step::Retrying { detail, unreachable, .. } = &step {
                    let _ = Reflect::set(&event, &"detail".into(), &detail.into());
                    let _ = Reflect::set(&event, &"unreachable".into(), &(*unreachable).into());
                }
                let _ = f.call1(&JsValue::UNDEFINED, &event);
            }
        }
    }

    /// The model's files, through the same hub validation as the app's `?hub=`.
    fn source(options: &Options, lab: Lab) -> Result<ModelSource, String> {
        let default = catalogue::models_of(lab).next().expect("a default model");
        let repo = options.model.clone().unwrap_or_else(|| default.repo.to_string());
        let entry = catalogue::find(&repo).ok_or_else(|| {
            let known: Vec<&str> = catalogue::models_of(lab).map(|e| e.repo).collect();
            format!("model \"{repo}\" is not in nlu-lab's catalogue; choose one of: {}", known.join(", "))
        })?;
        if entry.family.lab() != lab {
            let other = if lab == Lab::Clip { "attention()" } else { "clip()" };
            return Err(format!("model \"{repo}\" is not a {} model: use {other}", if lab == Lab::Clip { "CLIP" } else { "BERT-family or GPT-2" }));
        }
        let hub = validate_hub(options.hub.as_deref().unwrap_or(DEFAULT_HUB))?;
        let revision = options.revision.clone().unwrap_or_else(|| entry.revision.to_string());
        Ok(ModelSource { hub, repo, revision, pack: None })
    }

    fn to_js<T: Serialize>(value: &T) -> Result<JsValue, String> {
        // JSON-compatible: `None` is null and maps are plain objects, as in the CLI's JSON.
        value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| e.to_string())
    }

    /// `[layer][head]` views into one Float32Array holding `[layers][heads][size]` (one copy out of wasm memory).
    fn per_head(values: &[f32], layers: usize, heads: usize) -> Array {
        let all = Float32Array::from(values);
        let size = (values.len() / (layers * heads).max(1)) as u32;
        (0..layers)
            .map(|l| (0..heads).map(|h| all.subarray(((l * heads + h) as u32) * size, ((l * heads + h) as u32 + 1) * size)).collect::<Array>())
            .collect()
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AttentionMeta<'a> {
        model: &'a str,
        revision: &'a str,
        verified: bool,
        warnings: &'a [String],
        text: &'a str,
        text_b: Option<&'a str>,
        tokens: &'a [String],
        segments: &'a [u8],
        special: &'a [bool],
        offsets: &'a [[u32; 2]],
        words: &'a [Option<u32>],
        dropped_tokens: usize,
        layers: usize,
        heads: usize,
        head_dim: usize,
        load_ms: f64,
        forward_ms: f64,
    }

    /// Self-attention of a BERT-family model for `text` (and `textB`, a sentence pair). Rejects with an Error
    /// whose message says what went wrong (bad option, unreachable hub, corrupt file, …).
    #[wasm_bindgen(unchecked_return_type = "AttentionResult")]
    pub async fn attention(
        text: String,
        #[wasm_bindgen(js_name = textB, unchecked_optional_param_type = "string | null")] text_b: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AttentionOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        run_attention(text, text_b, options).await.map_err(|e| JsError::new(&e))
    }

    async fn run_attention(text: String, text_b: JsValue, options_js: JsValue) -> Result<JsValue, String> {
        let text_b = if text_b.is_undefined() || text_b.is_null() {
            None
        } else {
            Some(text_b.as_string().ok_or("textB must be a string, null or undefined (options are the third argument)")?)
        };
        let options = read_options(&options_js, &["model", "hub", "revision", "queriesKeys", "rollout", "headsOff", "maskToken", "predictions", "onProgress"])?;
        let source = source(&options, Lab::Attention)?;
        let on_progress = progress_callback(&options_js);
        let (model, trust, load) = models::attention_model(&source, &on_progress).await?;
        let start = now_ms();
        let heads_off = nlu_lab::engine::heads_off::HeadsOff::parse(options.heads_off.as_deref().unwrap_or(""))
            .map_err(|e| format!("headsOff: {e}"))?;
        let request = LabRequest {
            text: &text,
            text_b: text_b.as_deref(),
            queries_keys: options.queries_keys,
            heads_off: &heads_off,
            mask: options.mask_token,
            predictions: options.predictions.unwrap_or(5).max(1),
        };
        let LabRun { data, masked: predictions, next } = model.run(&request).map_err(|e| e.to_string())?;
        let forward_ms = now_ms() - start;
        let result = to_js(&AttentionMeta {
            model: &data.model,
            revision: &source.revision,
            verified: trust.verified,
            warnings: &trust.warnings,
            text: &data.text,
            text_b: data.text_b.as_deref(),
            tokens: &data.tokens,
            segments: &data.segments,
            special: &data.special,
            offsets: &data.offsets,
            words: &data.words,
            dropped_tokens: data.dropped_tokens,
            layers: data.num_layers,
            heads: data.num_heads,
            head_dim: data.head_dim,
            load_ms: load.ms,
            forward_ms,
        })?;
        let (layers, heads) = (data.num_layers, data.num_heads);
        let set = |key: &str, value: &JsValue| Reflect::set(&result, &key.into(), value).map(|_| ()).map_err(|_| format!("cannot set {key}"));
        set("attention", &per_head(&data.weights, layers, heads))?;
        if let (Some(q), Some(k)) = (&data.queries, &data.keys) {
            set("queries", &per_head(q, layers, heads))?;
            set("keys", &per_head(k, layers, heads))?;
        }
        if let Some(p) = &predictions {
            set("predictions", &to_js(p)?)?;
        }
        if data.causal {
            set("causal", &JsValue::TRUE)?;
            set("next", &to_js(&next)?)?;
        }
        if options.rollout {
            let rollout = data.pick(nlu_lab::engine::attention::Pick::Rollout, nlu_lab::engine::attention::Pick::Mean);
            set("rollout", &js_sys::Float32Array::from(rollout.as_slice()))?;
        }
        Ok(result)
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ClipOut<'a> {
        model: &'a str,
        revision: &'a str,
        verified: bool,
        warnings: &'a [String],
        captions: &'a [String],
        input_ids: &'a [Vec<u32>],
        tokens: &'a [Vec<String>],
        truncated: &'a [bool],
        logit_scale_exp: f32,
        cosines: &'a [f32],
        logits: &'a [f32],
        probs: &'a [f32],
        load_ms: f64,
        forward_ms: f64,
    }

    /// CLIP's probability for each caption of an image (the file's bytes: PNG, JPEG or GIF).
    #[wasm_bindgen(unchecked_return_type = "ClipResult")]
    pub async fn clip(
        #[wasm_bindgen(js_name = imageBytes, unchecked_param_type = "Uint8Array | ArrayBuffer | Blob")] image_bytes: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string[]")] captions: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ModelOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        run_clip(image_bytes, captions, options).await.map_err(|e| JsError::new(&e))
    }

    async fn image_bytes(value: &JsValue) -> Result<Vec<u8>, String> {
        if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
            Ok(bytes.to_vec())
        } else if value.is_instance_of::<js_sys::ArrayBuffer>() {
            Ok(Uint8Array::new(value).to_vec())
        } else if let Some(blob) = value.dyn_ref::<web_sys::Blob>() {
            let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer()).await.map_err(|_| "cannot read the image Blob")?;
            Ok(Uint8Array::new(&buffer).to_vec())
        } else {
            Err("imageBytes must be a Uint8Array, an ArrayBuffer or a Blob holding a PNG, JPEG or GIF file".into())
        }
    }

    async fn run_clip(image: JsValue, captions: JsValue, options_js: JsValue) -> Result<JsValue, String> {
        let captions: Vec<String> =
            serde_wasm_bindgen::from_value(captions).map_err(|_| "captions must be an array of strings")?;
        if captions.is_empty() {
            return Err("captions is empty: give at least one".into());
        }
        let options = read_options(&options_js, &["model", "hub", "revision", "onProgress"])?;
        let image = image_bytes(&image).await?;
        let source = source(&options, Lab::Clip)?;
        let on_progress = progress_callback(&options_js);
        let (model, trust, load) = models::clip_model(&source, &on_progress).await?;
        let start = now_ms();
        let r = model.classify(&image, &captions).map_err(|e| e.to_string())?;
        let forward_ms = now_ms() - start;
        to_js(&ClipOut {
            model: &r.model,
            revision: &source.revision,
            verified: trust.verified,
            warnings: &trust.warnings,
            captions: &r.captions,
            input_ids: &r.input_ids,
            tokens: &r.tokens,
            truncated: &r.truncated,
            logit_scale_exp: r.temperature,
            cosines: &r.cosines,
            logits: &r.logits,
            probs: &r.probs,
            load_ms: load.ms,
            forward_ms,
        })
    }
}

/// Runs once when the module is initialised (`await init()`): Rust panics then reach the console with a message.
#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("nlu-lab-pkg is the JavaScript package's wasm; build it with scripts/build_pkg.sh");
}
