//! Fetch a file as bytes with progress, from the page or from the worker (both have `fetch`).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use super::js::error_text;

async fn fetch_response(url: &str) -> Result<Response, String> {
    let cannot_reach = |e: JsValue| format!("cannot reach {url} (offline, blocked, or the server forbids it): {}", error_text(&e));
    let request = web_sys::Request::new_with_str(url).map_err(cannot_reach)?;
    let response: Response = JsFuture::from(super::js::fetch(&request)?).await.map_err(cannot_reach)?.unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
    }
    Ok(response)
}

/// The whole body, calling `on_progress(done, total)` as chunks arrive.
pub async fn fetch_bytes(url: &str, on_progress: &dyn Fn(u64, Option<u64>)) -> Result<Vec<u8>, String> {
    let response = fetch_response(url).await?;
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("download of {url} broke off: {}", error_text(&e)))?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(|e| format!("bad chunk: {}", error_text(&e)))?.unchecked_into();
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        on_progress(bytes.len() as u64, total);
    }
    if let Some(total) = total {
        if bytes.len() as u64 != total {
            return Err(format!("{url}: received {} of {total} bytes", bytes.len()));
        }
    }
    Ok(bytes)
}
