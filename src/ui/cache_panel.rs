//! The cache manager: which models the browser keeps, how much room they take, and buttons to check or free it.
//! Everything goes through the worker, which owns the weights store.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::export::format_bytes;
use crate::web::messages::{Request, Response};
use crate::web::store::{Estimate, StoredFile};
use crate::web::worker_client;

/// Stored files, refreshed after each change; shared with the model selectors (to mark what is cached).
#[derive(Clone, Copy)]
pub struct CacheState {
    pub files: RwSignal<Vec<StoredFile>>,
    pub estimate: RwSignal<Option<Estimate>>,
}

impl CacheState {
    pub fn new() -> Self {
        let state = Self { files: RwSignal::new(vec![]), estimate: RwSignal::new(None) };
        state.refresh();
        state
    }

    pub fn refresh(self) {
        spawn_local(async move {
            if let Response::CacheFiles(files) = worker_client::request(Request::CacheList, |_| {}).await {
                self.files.set(files);
            }
            if let Response::CacheEstimate(e) = worker_client::request(Request::CacheEstimate, |_| {}).await {
                self.estimate.set(Some(e));
            }
        });
    }

    /// Whether every weight file of `repo` is stored (so it starts without the network).
    pub fn has_model(&self, repo: &str) -> bool {
        self.files.with(|fs| fs.iter().any(|f| f.repo == repo && f.file == "model.safetensors"))
    }
}

#[component]
pub fn CachePanel(state: CacheState) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let run = move |request: Request, done: &'static str| {
        spawn_local(async move {
            match worker_client::request(request, |_| {}).await {
                Response::Error(e) => message.set(Some(e)),
                Response::CacheVerified(Some(true)) => message.set(Some("The stored bytes still match their sha256.".into())),
                Response::CacheVerified(Some(false)) => {
                    message.set(Some("Damaged: the stored bytes no longer match. Delete the model and download it again.".into()))
                }
                Response::CacheVerified(None) => message.set(Some("That file is not stored.".into())),
                _ => message.set(Some(done.into())),
            }
            state.refresh();
        });
    };
    let keep = move |_| {
        spawn_local(async move {
            // Persistent storage can only be asked for from the page, not from the worker.
            let text = match crate::web::store::persist().await {
                Ok(true) => "The browser will keep the models unless you delete them.".to_string(),
                Ok(false) => "The browser did not grant persistent storage; it may evict the models when space runs low.".into(),
                Err(e) => e,
            };
            message.set(Some(text));
            state.refresh();
        });
    };
    let rows = move || {
        let files = state.files.get();
        let mut models: Vec<(String, String)> = files.iter().map(|f| (f.repo.clone(), f.revision.clone())).collect();
        models.dedup();
        models
            .into_iter()
            .map(|(repo, revision)| {
                let mine: Vec<StoredFile> = files.iter().filter(|f| f.repo == repo && f.revision == revision).cloned().collect();
                let total: u64 = mine.iter().map(|f| f.size).sum();
                let (r1, v1) = (repo.clone(), revision.clone());
                let file_items = mine
                    .into_iter()
                    .map(|f| {
                        let (r, v, name) = (f.repo.clone(), f.revision.clone(), f.file.clone());
                        view! {
                            <li>{format!("{} — {}{}", f.file, format_bytes(f.size), if f.sha256_checked { ", sha256 checked" } else { ", size checked" })}
                                " " <button type="button" on:click=move |_| run(Request::CacheVerify { repo: r.clone(), revision: v.clone(), file: name.clone() }, "")>"Re-verify"</button></li>
                        }
                    })
                    .collect_view();
                view! {
                    <tr data-testid="cached-model" data-repo=repo.clone()>
                        <td><strong>{repo.clone()}</strong><br/><span class="hint">{format!("revision {revision}")}</span><ul>{file_items}</ul></td>
                        <td class="num">{format_bytes(total)}</td>
                        <td><button type="button" data-testid="delete-model"
                            on:click=move |_| run(Request::CacheDeleteModel { repo: r1.clone(), revision: v1.clone() }, "Deleted.")>"Delete"</button></td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <details class="cache-panel" data-testid="cache-panel" on:toggle=move |_| state.refresh()>
            <summary>"Stored models"</summary>
            <p class="hint">{move || state.estimate.get().map(|e| format!(
                "This site uses {} of the {} the browser allows{}.",
                format_bytes(e.usage), format_bytes(e.quota),
                match e.persisted { Some(true) => "; storage is persistent", Some(false) => "; the browser may evict it when space runs low", None => "" }))}</p>
            <table class="cache-table"><tbody>{rows}</tbody></table>
            {move || state.files.with(Vec::is_empty).then(|| view! { <p>"No models stored yet: the first run downloads one."</p> })}
            <div class="export-bar">
                <button type="button" on:click=move |_| state.refresh()>"Refresh"</button>
                <button type="button" on:click=keep>"Keep models (persistent storage)"</button>
                <button type="button" data-testid="delete-all" on:click=move |_| run(Request::CacheDeleteAll, "Everything deleted.")>"Delete all"</button>
                <button type="button" on:click=move |_| run(Request::CancelDownloads, "Downloads cancelled; what arrived is kept for later.")>"Cancel downloads"</button>
            </div>
            {move || message.get().map(|m| view! { <p role="status" data-testid="cache-message">{m}</p> })}
            <super::local_files::LocalFiles cache=state />
        </details>
    }
}
