//! The page state in the URL: model, sentences, layer and heads (and the CLIP lab's captions), so a link reopens
//! the same view. Other query parameters (`hub`, `embed`, …) are kept.

use web_sys::UrlSearchParams;

use crate::engine::attention::Pick;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionLink {
    pub model: Option<String>,
    pub text: Option<String>,
    pub text_b: Option<String>,
    /// The head view's layer: `3`, `mean` or `rollout`.
    pub layer: Option<Pick>,
    /// Active heads; `None` = all.
    pub heads: Option<Vec<usize>>,
    /// Heads switched off (`off=0:3,2:11`, engine::heads_off's form); `None` = none.
    pub heads_off: Option<String>,
    /// The masked token (`mask=5`).
    pub mask: Option<usize>,
}

impl AttentionLink {
    /// The query parameters this state sets (an empty list removes the parameter).
    pub fn params(&self) -> Vec<(&'static str, Vec<String>)> {
        let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        vec![
            ("model", one(&self.model)),
            ("text", one(&self.text)),
            ("text_b", one(&self.text_b)),
            ("layer", self.layer.map(Pick::as_value).into_iter().collect()),
            ("heads", self.heads.as_ref().map(|h| h.iter().map(usize::to_string).collect::<Vec<_>>().join(",")).into_iter().collect()),
            ("off", one(&self.heads_off)),
            ("mask", self.mask.map(|m| m.to_string()).into_iter().collect()),
        ]
    }
}

fn params() -> Option<UrlSearchParams> {
    let search = web_sys::window()?.location().search().ok()?;
    UrlSearchParams::new_with_str(&search).ok()
}

/// One query parameter of the page, if present.
pub fn param(key: &str) -> Option<String> {
    params()?.get(key)
}

pub fn read() -> AttentionLink {
    let Some(p) = params() else { return AttentionLink::default() };
    AttentionLink {
        model: p.get("model"),
        text: p.get("text"),
        text_b: p.get("text_b").filter(|t| !t.is_empty()),
        layer: p.get("layer").and_then(|l| Pick::from_value(&l)),
        heads: p.get("heads").map(|h| h.split(',').filter_map(|x| x.parse().ok()).collect()),
        heads_off: p.get("off").filter(|h| !h.is_empty()),
        mask: p.get("mask").and_then(|m| m.parse().ok()),
    }
}

/// The CLIP lab's captions in the URL (`caption` repeated), for an embedded or shared CLIP lab.
pub fn read_captions() -> Vec<String> {
    let Some(p) = params() else { return vec![] };
    js_sys::Array::from(&p.get_all("caption")).iter().filter_map(|v| v.as_string()).collect()
}

/// This page's absolute URL with `changes` applied to its query (each key replaced by its values; none = removed).
pub fn page_url(changes: &[(&str, Vec<String>)]) -> String {
    let (Some(window), Some(p)) = (web_sys::window(), params()) else { return String::new() };
    for (key, values) in changes {
        p.delete(key);
        for v in values {
            p.append(key, v);
        }
    }
    let location = window.location();
    let (origin, path) = (location.origin().unwrap_or_default(), location.pathname().unwrap_or_default());
    let query = String::from(p.to_string());
    if query.is_empty() { format!("{origin}{path}") } else { format!("{origin}{path}?{query}") }
}

/// Replace the current history entry's query with this state (no reload, no new history entry per click), a
/// moment later: replaceState costs Chromium's main thread about 20 ms, which then comes after the drawing the
/// student waits for, and a quick series of changes (clicking through layers) writes once.
pub fn write(link: &AttentionLink) {
    thread_local! {
        static PENDING: std::cell::RefCell<Option<gloo::timers::callback::Timeout>> = const { std::cell::RefCell::new(None) };
    }
    let url = page_url(&link.params());
    let replace = gloo::timers::callback::Timeout::new(50, move || {
        let Some(window) = web_sys::window() else { return };
        if window.location().href().is_ok_and(|href| href == url) {
            return;
        }
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });
    // Dropping the previous timeout cancels it.
    PENDING.with(|p| *p.borrow_mut() = Some(replace));
}
