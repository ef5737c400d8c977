//! Where model files come from: the Hugging Face CDN, a mirror with the same layout given as `?hub=`, or a mirror
//! bundled with the site itself (`scripts/build.sh --bundle-models`, announced by a `<meta name="nlu-lab-hub">`).

use wasm_bindgen::JsValue;

pub const DEFAULT_HUB: &str = "https://huggingface.co";

/// The `<meta>` a bundled build adds to index.html; its `content` is the mirror's path relative to the page, its
/// `data-repos` the models in it.
pub const BUNDLED_HUB_META: &str = "nlu-lab-hub";

/// The URL of the page (or worker) running this code, to resolve relative hubs against.
fn here() -> Option<web_sys::Url> {
    let location = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("location")).ok()?;
    let href = js_sys::Reflect::get(&location, &JsValue::from_str("href")).ok()?.as_string()?;
    web_sys::Url::new(&href).ok()
}

/// Accept only https URLs, plain http on this machine (a classroom mirror on loopback, the test hub), or a path on
/// the page's own origin (a mirror bundled with the site, e.g. `models`); relative paths come back absolute.
/// Anything else would let a crafted link make the app fetch weights from an unencrypted third party.
pub fn validate_hub(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err("hub is empty".into());
    }
    let here = here();
    let parsed = match web_sys::Url::new(url) {
        Ok(parsed) => parsed,
        Err(_) => {
            // Only a plain path, never `//host` (another origin) or something with spaces or a query.
            let path_like = !url.starts_with("//")
                && url.chars().all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c));
            let resolved = here.as_ref().filter(|_| path_like).and_then(|h| web_sys::Url::new_with_base(url, &h.href()).ok());
            return match resolved {
                Some(r) if here.as_ref().is_some_and(|h| h.origin() == r.origin()) => {
                    Ok(r.href().trim_end_matches('/').to_string())
                }
                _ => Err(format!("hub \"{url}\" is not a URL (nor a path on this site)")),
            };
        }
    };
    let host = parsed.hostname();
    let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
    let same_origin = here.is_some_and(|h| h.origin() == parsed.origin() && parsed.origin() != "null");
    match parsed.protocol().as_str() {
        "https:" => Ok(url.to_string()),
        "http:" if loopback || same_origin => Ok(url.to_string()),
        _ => Err(format!("hub \"{url}\" must be an https URL (or http on localhost, or a path on this site)")),
    }
}

/// Where the page takes `repo` from: the `?hub=` parameter, else the site's bundled mirror when it holds that model,
/// else the default.
pub fn hub_from_page(repo: &str) -> Result<String, String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad query string".to_string())?;
    match params.get("hub") {
        Some(hub) if !hub.is_empty() => validate_hub(&hub),
        _ => match bundled_hub(repo) {
            Some(path) => validate_hub(&path),
            None => Ok(DEFAULT_HUB.to_string()),
        },
    }
}

/// `<meta name="nlu-lab-hub" content="models" data-repos="org/a org/b">`: a build that bundled a model mirror with
/// the site (scripts/build.sh --bundle-models) names its path and the models in it; other models still come from
/// the default hub.
fn bundled_hub(repo: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let meta = document.query_selector(&format!("meta[name=\"{BUNDLED_HUB_META}\"]")).ok()??;
    let repos = meta.get_attribute("data-repos").unwrap_or_default();
    if !repos.split_whitespace().any(|r| r == repo) {
        return None;
    }
    meta.get_attribute("content").filter(|c| !c.trim().is_empty())
}

/// `<hub>/<repo>/resolve/<revision>/<file>`, with the revision URL-encoded (`refs/pr/15` → `refs%2Fpr%2F15`).
pub fn file_url(hub: &str, repo: &str, revision: &str, file: &str) -> String {
    let revision = String::from(js_sys::encode_uri_component(revision));
    format!("{hub}/{repo}/resolve/{revision}/{file}")
}

/// The origin a hub's bytes are kept under in the weights store (`https://huggingface.co`; a bundled mirror is
/// the site's own origin). Unpinned files from one origin never answer a request to another.
pub fn hub_origin(hub: &str) -> String {
    match web_sys::Url::new(hub) {
        Ok(url) if url.origin() != "null" => url.origin(),
        _ => hub.trim_end_matches('/').to_string(),
    }
}
