//! Small JavaScript helpers, one copy each, for the worker, the page and the JavaScript package alike: a clock,
//! the wasm memory size, the text of a JS error, and the global `fetch`.

use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};

/// Milliseconds on `performance.now()` (sub-millisecond, monotonic), or `Date.now()` where there is none: for
/// durations.
pub fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// The size of this thread's wasm linear memory; it never shrinks, so this is also the peak so far.
pub fn memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

/// What a JS error value says: an `Error`'s message (a `DOMException` is one too), a thrown string as it is,
/// anything else in its debug form.
pub fn error_text(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// The global `fetch`, from the worker or the page.
pub fn fetch(request: &web_sys::Request) -> Result<Promise, String> {
    let global = js_sys::global();
    if let Some(scope) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        Ok(scope.fetch_with_request(request))
    } else if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        Ok(window.fetch_with_request(request))
    } else {
        Err("fetch is not available here".into())
    }
}
