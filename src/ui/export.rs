//! Downloads: the attention data (JSON), the drawn view (SVG, PNG) and a standalone HTML page.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Offer `bytes` as a file download.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    download_parts(name, mime, &js_sys::Array::of1(&js_sys::Uint8Array::from(bytes)))
}

/// A file written piece by piece into JavaScript: every `PART_BYTES` the bytes written so far are copied out of wasm
/// memory as one `Uint8Array`, a part of the file's `Blob`. A 500 MB export (512 tokens, bert-base) then costs the
/// wasm heap one part, not the file plus its growth copies.
pub struct BlobParts {
    parts: js_sys::Array,
    pending: Vec<u8>,
}

const PART_BYTES: usize = 4 << 20;

impl BlobParts {
    fn new() -> Self {
        Self { parts: js_sys::Array::new(), pending: Vec::with_capacity(PART_BYTES) }
    }

    fn hand_over(&mut self) {
        if !self.pending.is_empty() {
            self.parts.push(&js_sys::Uint8Array::from(self.pending.as_slice()));
            self.pending.clear();
        }
    }
}

impl std::io::Write for BlobParts {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= PART_BYTES {
            self.hand_over();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over();
        Ok(())
    }
}

/// Offer the bytes `write` produces as a file download, streamed into JavaScript as it writes (see [`BlobParts`]).
pub fn download_written(name: &str, mime: &str, write: impl FnOnce(&mut BlobParts) -> std::io::Result<()>) -> Result<(), String> {
    let mut file = BlobParts::new();
    write(&mut file).map_err(|e| format!("cannot write the file: {e}"))?;
    file.hand_over();
    download_parts(name, mime, &file.parts)
}

fn download_parts(name: &str, mime: &str, parts: &js_sys::Array) -> Result<(), String> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(parts, &options)
        .map_err(|_| "cannot create the file".to_string())?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "cannot create the file".to_string())?;
    let doc = document().ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = doc.create_element("a").map_err(|_| "no anchor")?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // Revoke later: the download has to start reading the blob first.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
    Ok(())
}

/// The SVG element matching `selector` as a standalone SVG document, with the theme's text colour written in
/// (CSS variables do not travel with an exported file).
pub fn svg_markup(selector: &str) -> Result<(String, f64, f64), String> {
    let doc = document().ok_or("no document")?;
    let svg = doc.query_selector(selector).ok().flatten().ok_or("nothing to export yet: run a sentence first")?;
    let clone: web_sys::Element = svg.clone_node_with_deep(true).map_err(|_| "cannot copy the view")?.unchecked_into();
    let window = web_sys::window().ok_or("no window")?;
    let body: web_sys::Element = doc.body().ok_or("no body")?.into();
    let fg = window
        .get_computed_style(&body)
        .ok()
        .flatten()
        .and_then(|s| s.get_property_value("color").ok())
        .unwrap_or_else(|| "#1d1f23".into());
    clone.set_attribute("xmlns", "http://www.w3.org/2000/svg").ok();
    // A long input's lines are on a canvas under the SVG (see head_view.rs): they go into the file as an image.
    if svg.get_attribute("data-render").as_deref() == Some("canvas") {
        if let Some(canvas) = svg.previous_element_sibling().and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok()) {
            let png = canvas.to_data_url().map_err(|_| "cannot read the drawn lines")?;
            let image = doc.create_element_ns(Some("http://www.w3.org/2000/svg"), "image").map_err(|_| "bad view")?;
            for (name, value) in [("href", png.as_str()), ("x", "0"), ("y", "0")] {
                let _ = image.set_attribute(name, value);
            }
            for name in ["width", "height"] {
                let _ = image.set_attribute(name, &svg.get_attribute(name).unwrap_or_default());
            }
            let _ = clone.insert_before(&image, clone.first_child().as_ref());
        }
    }
    let texts = clone.query_selector_all("text").map_err(|_| "bad view")?;
    for i in 0..texts.length() {
        if let Some(t) = texts.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) {
            let _ = t.set_attribute("fill", &fg);
            let _ = t.set_attribute("font-family", "system-ui, sans-serif");
            let _ = t.set_attribute("font-size", "13");
        }
    }
    let width = clone.get_attribute("width").and_then(|w| w.parse().ok()).unwrap_or(420.0);
    let height = clone.get_attribute("height").and_then(|h| h.parse().ok()).unwrap_or(300.0);
    let markup = web_sys::XmlSerializer::new().and_then(|s| s.serialize_to_string(&clone)).map_err(|_| "cannot serialise the view")?;
    Ok((markup, width, height))
}

/// Render SVG markup to PNG bytes (2× for sharp slides) on `background`.
pub async fn svg_to_png(markup: &str, width: f64, height: f64, background: &str) -> Result<Vec<u8>, String> {
    let doc = document().ok_or("no document")?;
    let img: web_sys::HtmlImageElement = doc.create_element("img").map_err(|_| "no img")?.unchecked_into();
    let loaded = js_sys::Promise::new(&mut |resolve, reject| {
        img.set_onload(Some(&resolve));
        img.set_onerror(Some(&reject));
    });
    let encoded = String::from(js_sys::encode_uri_component(markup));
    img.set_src(&format!("data:image/svg+xml;charset=utf-8,{encoded}"));
    JsFuture::from(loaded).await.map_err(|_| "the browser could not draw the SVG".to_string())?;
    let canvas: web_sys::HtmlCanvasElement = doc.create_element("canvas").map_err(|_| "no canvas")?.unchecked_into();
    let scale = 2.0;
    canvas.set_width((width * scale) as u32);
    canvas.set_height((height * scale) as u32);
    let ctx: web_sys::CanvasRenderingContext2d =
        canvas.get_context("2d").ok().flatten().ok_or("no 2d context")?.unchecked_into();
    ctx.set_fill_style_str(background);
    ctx.fill_rect(0.0, 0.0, width * scale, height * scale);
    ctx.scale(scale, scale).ok();
    ctx.draw_image_with_html_image_element(&img, 0.0, 0.0).map_err(|_| "cannot draw the image")?;
    canvas_png(&canvas)
}

/// A canvas's pixels as PNG file bytes (via its data URL: `toBlob` would need a callback for the same result).
pub fn canvas_png(canvas: &web_sys::HtmlCanvasElement) -> Result<Vec<u8>, String> {
    let data_url = canvas.to_data_url_with_type("image/png").map_err(|_| "cannot encode PNG")?;
    let b64 = data_url.split_once(',').map(|(_, b)| b).ok_or("bad PNG data")?;
    let binary = web_sys::window().ok_or("no window")?.atob(b64).map_err(|_| "bad base64")?;
    Ok(binary.chars().map(|c| c as u8).collect())
}

pub fn format_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} kB", b as f64 / 1024.0)
    }
}

/// The page's background colour (for PNGs that match the theme).
pub fn background() -> String {
    let body: Option<web_sys::Element> = document().and_then(|d| d.body()).map(Into::into);
    web_sys::window()
        .zip(body)
        .and_then(|(w, b)| w.get_computed_style(&b).ok().flatten())
        .and_then(|s| s.get_property_value("background-color").ok())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "#ffffff".into())
}
