//! The page state in the URL: model, sentences, layer and heads, so a link reopens the same view. Other query
//! parameters (`hub`, …) are kept.

use web_sys::UrlSearchParams;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionLink {
    pub model: Option<String>,
    pub text: Option<String>,
    pub text_b: Option<String>,
    pub layer: Option<usize>,
    /// Active heads; `None` = all.
    pub heads: Option<Vec<usize>>,
}

fn params() -> Option<UrlSearchParams> {
    let search = web_sys::window()?.location().search().ok()?;
    UrlSearchParams::new_with_str(&search).ok()
}

pub fn read() -> AttentionLink {
    let Some(p) = params() else { return AttentionLink::default() };
    AttentionLink {
        model: p.get("model"),
        text: p.get("text"),
        text_b: p.get("text_b").filter(|t| !t.is_empty()),
        layer: p.get("layer").and_then(|l| l.parse().ok()),
        heads: p.get("heads").map(|h| h.split(',').filter_map(|x| x.parse().ok()).collect()),
    }
}

/// Replace the current history entry's query with this state (no reload, no new history entry per click).
pub fn write(link: &AttentionLink) {
    let (Some(window), Some(p)) = (web_sys::window(), params()) else { return };
    let set = |key: &str, value: Option<String>| match value {
        Some(v) => p.set(key, &v),
        None => p.delete(key),
    };
    set("model", link.model.clone());
    set("text", link.text.clone());
    set("text_b", link.text_b.clone());
    set("layer", link.layer.map(|l| l.to_string()));
    set("heads", link.heads.as_ref().map(|h| h.iter().map(usize::to_string).collect::<Vec<_>>().join(",")));
    let path = window.location().pathname().unwrap_or_default();
    let url = format!("{path}?{}", String::from(p.to_string()));
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}
