//! Where model files come from: the Hugging Face CDN, or a mirror with the same layout given as `?hub=`.

pub const DEFAULT_HUB: &str = "https://huggingface.co";

/// Accept only https URLs, or plain http on this machine (a classroom mirror on loopback, the test hub).
/// Anything else would let a crafted link make the app fetch weights from an unencrypted third party.
pub fn validate_hub(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let parsed = web_sys::Url::new(url).map_err(|_| format!("hub \"{url}\" is not a URL"))?;
    let host = parsed.hostname();
    let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
    match parsed.protocol().as_str() {
        "https:" => Ok(url.to_string()),
        "http:" if loopback => Ok(url.to_string()),
        _ => Err(format!("hub \"{url}\" must be an https URL (or http on localhost)")),
    }
}

/// The hub base URL from the page's `?hub=` parameter, or the default.
pub fn hub_from_page() -> Result<String, String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad query string".to_string())?;
    match params.get("hub") {
        Some(hub) if !hub.is_empty() => validate_hub(&hub),
        _ => Ok(DEFAULT_HUB.to_string()),
    }
}

/// `<hub>/<repo>/resolve/<revision>/<file>`, with the revision URL-encoded (`refs/pr/15` → `refs%2Fpr%2F15`).
pub fn file_url(hub: &str, repo: &str, revision: &str, file: &str) -> String {
    let revision = String::from(js_sys::encode_uri_component(revision));
    format!("{hub}/{repo}/resolve/{revision}/{file}")
}
