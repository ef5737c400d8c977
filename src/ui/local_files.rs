//! A model from files on this computer (a folder, or its files chosen or dropped), for classrooms where the CDN is
//! blocked: the files go into the weights store under the catalogue model they belong to, checked like a download,
//! and from then on that model starts as if it had been downloaded — offline too.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::state::CacheState;
use crate::engine::catalogue::{self, BundledPack, CatalogueEntry};
use crate::engine::pack::MANIFEST_FILE;
use super::task::progress_text;
use crate::web::messages::Step;
use crate::web::worker_client;

/// The files of `entry` found among the chosen ones (by file name, wherever they sit in a folder), or what is missing.
fn pick(entry: &CatalogueEntry, chosen: &[web_sys::File]) -> Result<Vec<(String, web_sys::File)>, String> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for wanted in entry.files {
        match chosen.iter().find(|f| f.name() == wanted.name) {
            Some(f) => found.push((wanted.name.to_string(), f.clone())),
            None => missing.push(wanted.name),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        let all: Vec<&str> = entry.files.iter().map(|f| f.name).collect();
        Err(format!("Missing from your files: {}. {} needs {}.", missing.join(", "), entry.display_name, all.join(", ")))
    }
}

/// The pack the chosen files make (`manifest` is their nlu-lab-pack.json), with the files it is stored from.
async fn pack_of(
    entry: &'static CatalogueEntry,
    manifest: &web_sys::File,
    chosen: &[web_sys::File],
) -> Result<(BundledPack, Vec<(String, web_sys::File)>), String> {
    // A manifest is a few hundred bytes; anything large is not one.
    if manifest.size() > 1e6 {
        return Err(format!("{MANIFEST_FILE} is {} bytes: not a pack's manifest.", manifest.size()));
    }
    let text = wasm_bindgen_futures::JsFuture::from(manifest.text()).await.map_err(|_| format!("The browser would not read {MANIFEST_FILE}."))?;
    let text = text.as_string().unwrap_or_default();
    let sizes: Vec<(String, u64)> = chosen.iter().map(|f| (f.name(), f.size() as u64)).collect();
    let pack = catalogue::local_pack(&text, &sizes, entry.repo)?;
    let files = pack
        .files
        .iter()
        .filter_map(|p| chosen.iter().find(|f| f.name() == p.name).map(|f| (p.name.clone(), f.clone())))
        .collect();
    Ok((pack, files))
}

/// Whether the site bundles a pack of the same model and precision as `pack`.
fn site_serves(pack: &BundledPack) -> bool {
    crate::web::hub::bundled_packs().iter().any(|p| p.repo == pack.repo && p.dtype == pack.dtype)
}

fn file_list(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect()).unwrap_or_default()
}

#[component]
pub fn LocalFiles() -> impl IntoView {
    let cache = CacheState::expect();
    let model = RwSignal::new(catalogue::CATALOGUE[0].repo.to_string());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Hand the files to the worker, which stores them under the model (a pack: under its own revision).
    let store = move |entry: &'static CatalogueEntry, files: Vec<(String, web_sys::File)>, pack: Option<BundledPack>| {
        // blob: URLs let the worker read the files itself, in pieces, however big they are.
        let mut urls = Vec::new();
        for (name, file) in &files {
            match web_sys::Url::create_object_url_with_blob(file) {
                Ok(url) => urls.push((name.clone(), url)),
                Err(_) => {
                    busy.set(false);
                    return message.set(Some(format!("The browser would not open {name}.")));
                }
            }
        }
        let revision = pack.as_ref().map_or(entry.revision.to_string(), |p| p.revision.clone());
        spawn_local(async move {
            let answer = worker_client::import_local(entry.repo.into(), revision, urls.clone(), pack.clone(), move |step| {
                if let Step::Downloading { .. } = step {
                    message.set(Some(progress_text(step, None)));
                }
            })
            .await;
            for (_, url) in &urls {
                let _ = web_sys::Url::revoke_object_url(url);
            }
            let remembered = match &pack {
                Some(p) if answer.is_ok() => crate::web::hub::remember_local_pack(p).map(|()| Some(p.precision_label())),
                _ => Ok(None),
            };
            message.set(Some(match (answer, remembered) {
                (Ok(()), Ok(None)) => format!("{} is stored from your files; it now starts without the network.", entry.display_name),
                // The site's own pack of the same model and precision takes its place in the selectors.
                (Ok(()), Ok(Some(label))) if pack.as_ref().is_some_and(|p| site_serves(p)) => format!(
                    "{} ({label}) is stored from your files, but this site serves its own {label} copy of it, which the model list offers instead.",
                    entry.display_name
                ),
                (Ok(()), Ok(Some(label))) => format!(
                    "{} ({label}) is stored from your files: choose “{} — {label} · … · from your files” in the model list.",
                    entry.display_name, entry.display_name
                ),
                (Ok(()), Err(e)) => format!("Stored, but not offered: {e}. Delete it under Stored models and try again."),
                (Err(e), _) => format!("Not stored: {e}"),
            }));
            busy.set(false);
            cache.refresh();
        });
    };

    let import = move |chosen: Vec<web_sys::File>| {
        if chosen.is_empty() || busy.get_untracked() {
            return;
        }
        let Some(entry) = catalogue::find(&model.get_untracked()) else { return };
        // A folder `nlu-lab pack` wrote: its manifest says what it is; it is stored as a pack beside the full model.
        if let Some(manifest) = chosen.iter().find(|f| f.name() == MANIFEST_FILE).cloned() {
            busy.set(true);
            spawn_local(async move {
                match pack_of(entry, &manifest, &chosen).await {
                    Ok((pack, files)) => store(entry, files, Some(pack)),
                    Err(e) => {
                        message.set(Some(e));
                        busy.set(false);
                    }
                }
            });
            return;
        }
        let files = match pick(entry, &chosen) {
            Ok(files) => files,
            Err(e) => return message.set(Some(e)),
        };
        busy.set(true);
        store(entry, files, None);
    };
    view! {
        <div class="local-files" data-testid="local-files"
            on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
            on:drop=move |ev: web_sys::DragEvent| { ev.prevent_default(); import(file_list(ev.data_transfer().and_then(|d| d.files()))); }>
            <h3>"A model from files on this computer"</h3>
            <p class="hint">"When the model download is blocked: get the model's files once (a USB stick, a shared drive), "
                "choose the model, then choose its folder or its files, or drop them here. A folder "
                <code>"nlu-lab pack"</code>" wrote (8-bit or 16-bit weights) is stored beside the full model."</p>
            <label>"Model "
                <select data-testid="local-model" on:change=move |ev| model.set(event_target_value(&ev))>
                    {catalogue::CATALOGUE.iter().map(|e| {
                        let names: Vec<&str> = e.files.iter().map(|f| f.name).collect();
                        view! { <option value=e.repo>{format!("{} ({})", e.display_name, names.join(", "))}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class="file-button">"Choose files "
                <input type="file" multiple data-testid="local-model-files" prop:disabled=move || busy.get()
                    on:change=move |ev| { let input: web_sys::HtmlInputElement = event_target(&ev); import(file_list(input.files())); input.set_value(""); } />
            </label>
            <label class="file-button">"Choose a folder "
                <input type="file" prop:webkitdirectory=true data-testid="local-model-folder" prop:disabled=move || busy.get()
                    on:change=move |ev| { let input: web_sys::HtmlInputElement = event_target(&ev); import(file_list(input.files())); input.set_value(""); } />
            </label>
            {move || message.get().map(|m| view! { <p role="status" data-testid="local-files-message">{m}</p> })}
        </div>
    }
}
