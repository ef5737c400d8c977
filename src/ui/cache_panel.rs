//! The cache manager: which models the browser keeps, how much room they take, and buttons to check or free it.
//! Everything goes through the worker, which owns the weights store.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::export::format_bytes;
use super::local_files::LocalFiles;
use super::state::CacheState;
use crate::web::store::StoredFile;
use crate::web::worker_client::{self, WorkerError};

/// What a button of the panel asks the worker.
#[derive(Clone, Debug)]
enum CacheCall {
    Verify(StoredFile),
    DeleteModel { repo: String },
    DeleteAll,
    CancelDownloads,
}

impl CacheCall {
    /// Do it; the message to show.
    async fn run(self) -> Result<String, WorkerError> {
        Ok(match self {
            CacheCall::Verify(file) => match worker_client::cache_verify(file).await? {
                Some(true) => "The stored bytes still match the sha256 they were stored with.".into(),
                Some(false) => "Damaged: the stored bytes no longer match. Delete the model and download it again.".into(),
                None => "That file is not stored.".into(),
            },
            CacheCall::DeleteModel { repo } => {
                worker_client::cache_delete_model(repo).await?;
                "Deleted.".into()
            }
            CacheCall::DeleteAll => {
                worker_client::cache_delete_all().await?;
                "Everything deleted.".into()
            }
            CacheCall::CancelDownloads => {
                worker_client::cancel_downloads().await?;
                "Downloads cancelled; what arrived is kept for later.".into()
            }
        })
    }
}

#[component]
pub fn CachePanel() -> impl IntoView {
    let state = CacheState::expect();
    let message = RwSignal::new(None::<String>);
    let run = move |call: CacheCall| {
        spawn_local(async move {
            message.set(Some(call.run().await.unwrap_or_else(|e| e.to_string())));
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
        let mut models: Vec<String> = files.iter().map(|f| f.repo.clone()).collect();
        models.dedup();
        models
            .into_iter()
            .map(|repo| {
                let mine: Vec<StoredFile> = files.iter().filter(|f| f.repo == repo).cloned().collect();
                let total: u64 = mine.iter().map(|f| f.size).sum();
                let r1 = repo.clone();
                let file_items = mine
                    .into_iter()
                    .map(|f| {
                        let short: String = f.revision.chars().take(12).collect();
                        // "Verified" only for bytes that matched the catalogue's pin; anything else says where it came from.
                        let trust = if f.verified {
                            "verified against the catalogue's sha256".to_string()
                        } else {
                            format!("not verified (no pinned checksum), from {}", f.origin)
                        };
                        let text = format!("{} @ {short} — {}, {trust}", f.file, format_bytes(f.size));
                        let verified = f.verified.to_string();
                        view! {
                            <li data-verified=verified>{text}
                                " " <button type="button" on:click=move |_| run(CacheCall::Verify(f.clone()))>"Re-verify"</button></li>
                        }
                    })
                    .collect_view();
                view! {
                    <tr data-testid="cached-model" data-repo=repo.clone()>
                        <td><strong>{repo.clone()}</strong><ul>{file_items}</ul></td>
                        <td class="num">{format_bytes(total)}</td>
                        <td><button type="button" data-testid="delete-model"
                            on:click=move |_| run(CacheCall::DeleteModel { repo: r1.clone() })>"Delete"</button></td>
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
                <button type="button" data-testid="delete-all" on:click=move |_| run(CacheCall::DeleteAll)>"Delete all"</button>
                <button type="button" on:click=move |_| run(CacheCall::CancelDownloads)>"Cancel downloads"</button>
            </div>
            {move || message.get().map(|m| view! { <p role="status" data-testid="cache-message">{m}</p> })}
            <LocalFiles />
        </details>
    }
}
