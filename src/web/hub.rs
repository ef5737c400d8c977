//! Where model files come from: the Hugging Face CDN, a mirror with the same layout given as `?hub=`, or a mirror
//! bundled with the site itself (`scripts/build.sh --bundle-models`, announced by a `<meta name="nlu-lab-hub">`).

use wasm_bindgen::JsValue;

use super::messages::ModelSource;
use crate::engine::catalogue::{self, BundledPack};

pub const DEFAULT_HUB: &str = "https://huggingface.co";

/// The `<meta>` a bundled build adds to index.html; its `content` is the mirror's path relative to the page, its
/// `data-packs` the packs in it.
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

/// Where the page takes full-precision files from: the `?hub=` parameter, else the default.
pub fn hub_from_page() -> Result<String, String> {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| "bad query string".to_string())?;
    match params.get("hub") {
        Some(hub) if !hub.is_empty() => validate_hub(&hub),
        _ => Ok(DEFAULT_HUB.to_string()),
    }
}

/// `<meta name="nlu-lab-hub" content="models" data-packs="[…]">`: a build that bundled compact packs with the site
/// (scripts/build.sh --bundle-models) names the mirror's path and the packs in it (catalogue::BundledPack as JSON).
fn bundled_meta() -> Option<web_sys::Element> {
    let document = web_sys::window()?.document()?;
    document.query_selector(&format!("meta[name=\"{BUNDLED_HUB_META}\"]")).ok()?
}

thread_local! {
    /// index.html's list, read once: every selector and every run asks for it, and it never changes in a page.
    static BUNDLED_PACKS: std::cell::OnceCell<Vec<BundledPack>> = const { std::cell::OnceCell::new() };
}

/// The packs this site serves (none on a site built without them, or in a worker).
pub fn bundled_packs() -> Vec<BundledPack> {
    BUNDLED_PACKS.with(|cell| {
        cell.get_or_init(|| {
            let Some(json) = bundled_meta().and_then(|m| m.get_attribute("data-packs")) else { return vec![] };
            serde_json::from_str(&json).unwrap_or_else(|e| {
                web_sys::console::warn_1(&format!("the site's list of bundled models does not parse ({e}); none offered").into());
                vec![]
            })
        })
        .clone()
    })
}

/// localStorage key of the packs the student imported from files (a list of catalogue::BundledPack as JSON).
const LOCAL_PACKS_KEY: &str = "nlu-lab-local-packs";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

thread_local! {
    /// The list in localStorage, read once per page and kept in step by [`remember_local_pack`].
    static LOCAL_PACKS: std::cell::RefCell<Option<Vec<BundledPack>>> = const { std::cell::RefCell::new(None) };
}

/// Packs imported from files on this computer (whether they are still stored is the weights store's business).
pub fn local_packs() -> Vec<BundledPack> {
    LOCAL_PACKS.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let json = local_storage().and_then(|s| s.get_item(LOCAL_PACKS_KEY).ok().flatten());
                json.and_then(|j| serde_json::from_str::<Vec<BundledPack>>(&j).ok())
                    .map(|packs| packs.into_iter().filter(BundledPack::is_local).collect())
                    .unwrap_or_default()
            })
            .clone()
    })
}

/// Remember an imported `pack`, in place of an earlier one of the same model and precision.
pub fn remember_local_pack(pack: &BundledPack) -> Result<(), String> {
    let mut packs = local_packs();
    packs.retain(|p| !(p.repo == pack.repo && p.dtype == pack.dtype));
    packs.push(pack.clone());
    let json = serde_json::to_string(&packs).map_err(|e| e.to_string())?;
    local_storage()
        .ok_or("this browser keeps no local storage")?
        .set_item(LOCAL_PACKS_KEY, &json)
        .map_err(|_| "this browser would not keep the list of imported models".to_string())?;
    LOCAL_PACKS.with(|cell| *cell.borrow_mut() = Some(packs));
    Ok(())
}

/// Every pack the page knows: the site's, then imported ones of a model and precision the site does not serve.
pub fn offered_packs() -> Vec<BundledPack> {
    let mut packs = bundled_packs();
    for pack in local_packs() {
        if !packs.iter().any(|p| p.repo == pack.repo && p.dtype == pack.dtype) {
            packs.push(pack);
        }
    }
    packs
}

/// The pack a selector's `choice` names (`repo:int8`), if the site serves it or the student imported it.
pub fn bundled_pack(choice: &str) -> Option<BundledPack> {
    let (repo, dtype) = catalogue::parse_choice(choice);
    let dtype = dtype?;
    offered_packs().into_iter().find(|p| p.repo == repo && p.dtype == dtype)
}

/// Where a model selector's `choice` is fetched from: a pack from the site's own mirror, a catalogue model from the
/// page's hub at the catalogue's revision.
pub fn model_source(choice: &str) -> Result<ModelSource, String> {
    let (repo, dtype) = catalogue::parse_choice(choice);
    if let Some(dtype) = dtype {
        let pack = bundled_pack(choice).ok_or(format!("this site serves no {dtype} copy of {repo}"))?;
        if pack.is_local() {
            // Its files are in this browser's store, kept as the user's own (they answer any hub's request).
            let hub = hub_from_page()?;
            return Ok(ModelSource { hub, repo: repo.to_string(), revision: pack.revision.clone(), pack: Some(pack) });
        }
        let mirror = bundled_meta().and_then(|m| m.get_attribute("content")).filter(|c| !c.trim().is_empty());
        let hub = validate_hub(&mirror.ok_or("this site names no folder for its bundled models")?)?;
        return Ok(ModelSource { hub, repo: repo.to_string(), revision: pack.revision.clone(), pack: Some(pack) });
    }
    let hub = hub_from_page()?;
    let revision = catalogue::find(repo).map(|e| e.revision).unwrap_or("main").to_string();
    Ok(ModelSource { hub, repo: repo.to_string(), revision, pack: None })
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
