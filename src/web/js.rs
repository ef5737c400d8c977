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

/// `performance.mark("nlu-lab:<name>", {detail})` on this thread's timeline: where a page load's time goes, for
/// the browser's performance panel and scripts/bench.sh's warm-start timeline. Nothing happens where there is none.
pub fn mark(name: &str, detail: Option<&serde_json::Value>) {
    let Ok(performance) = js_sys::Reflect::get(&js_sys::global(), &"performance".into()) else { return };
    let Ok(mark) = js_sys::Reflect::get(&performance, &"mark".into()).and_then(|m| m.dyn_into::<js_sys::Function>()) else {
        return;
    };
    let options = js_sys::Object::new();
    if let Some(detail) = detail.and_then(|d| js_sys::JSON::parse(&d.to_string()).ok()) {
        let _ = js_sys::Reflect::set(&options, &"detail".into(), &detail);
    }
    let _ = mark.call2(&performance, &format!("nlu-lab:{name}").into(), &options);
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
