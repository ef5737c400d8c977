//! A model from files on this computer (a folder, or its files chosen or dropped), for classrooms where the CDN is
//! blocked: the files go into the weights store under the catalogue model they belong to, checked like a download,
//! and from then on that model starts as if it had been downloaded — offline too.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::export::format_bytes;
use super::state::CacheState;
use crate::engine::catalogue::{self, CatalogueEntry};
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

fn file_list(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect()).unwrap_or_default()
}

#[component]
pub fn LocalFiles() -> impl IntoView {
    let cache = CacheState::expect();
    let model = RwSignal::new(catalogue::CATALOGUE[0].repo.to_string());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let import = move |chosen: Vec<web_sys::File>| {
        if chosen.is_empty() || busy.get_untracked() {
            return;
        }
        let Some(entry) = catalogue::find(&model.get_untracked()) else { return };
        let files = match pick(entry, &chosen) {
            Ok(files) => files,
            Err(e) => return message.set(Some(e)),
        };
        // blob: URLs let the worker read the files itself, in pieces, however big they are.
        let mut urls = Vec::new();
        for (name, file) in &files {
            match web_sys::Url::create_object_url_with_blob(file) {
                Ok(url) => urls.push((name.clone(), url)),
                Err(_) => return message.set(Some(format!("The browser would not open {name}."))),
            }
        }
        busy.set(true);
        spawn_local(async move {
            let answer = worker_client::import_local(entry.repo.into(), entry.revision.into(), urls.clone(), move |p| {
                let of = p.total.map(|t| format!(" of {}", format_bytes(t))).unwrap_or_default();
                message.set(Some(format!("Storing {}: {}{of}", p.file, format_bytes(p.done))));
            })
            .await;
            for (_, url) in &urls {
                let _ = web_sys::Url::revoke_object_url(url);
            }
            message.set(Some(match answer {
                Ok(()) => format!("{} is stored from your files; it now starts without the network.", entry.display_name),
                Err(e) => format!("Not stored: {e}"),
            }));
            busy.set(false);
            cache.refresh();
        });
    };

    view! {
        <div class="local-files" data-testid="local-files"
            on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
            on:drop=move |ev: web_sys::DragEvent| { ev.prevent_default(); import(file_list(ev.data_transfer().and_then(|d| d.files()))); }>
            <h3>"A model from files on this computer"</h3>
            <p class="hint">"When the model download is blocked: get the model's files once (a USB stick, a shared drive), "
                "choose the model, then choose its folder or its files, or drop them here."</p>
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
