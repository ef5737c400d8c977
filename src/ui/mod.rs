//! Leptos views. The UI thread only draws: every model call goes to the worker.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::engine::attention::AttentionData;
use crate::web::hub::hub_from_page;
use crate::web::messages::{ModelSource, Request, Response};
use crate::web::worker_client;

#[component]
pub fn App() -> impl IntoView {
    worker_client::warm_up();
    let hub = hub_from_page();
    let (text, set_text) = signal("The cat sat on the mat because it was tired.".to_string());
    let (status, set_status) = signal(String::new());
    let (error, set_error) = signal(None::<String>);
    let (data, set_data) = signal(None::<AttentionData>);

    let run = move || {
        let hub = match hub.clone() {
            Ok(h) => h,
            Err(e) => return set_error.set(Some(e)),
        };
        let source = ModelSource {
            hub,
            repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
            revision: "main".into(),
        };
        set_error.set(None);
        set_status.set("Running…".into());
        let request = Request::Attention { source, text: text.get_untracked(), text_b: None, queries_keys: true };
        spawn_local(async move {
            let on_progress = move |p: &Response| {
                if let Response::Progress { file, done, total } = p {
                    let pct = total.map(|t| format!(" ({:.0} %)", *done as f64 * 100.0 / t.max(1) as f64)).unwrap_or_default();
                    set_status.set(format!("Downloading {file}: {done} bytes{pct}"));
                }
            };
            match worker_client::request(request, on_progress).await {
                Response::Attention { data, forward_ms, .. } => {
                    set_status.set(format!("{} tokens, forward pass {forward_ms:.0} ms", data.len()));
                    set_data.set(Some(data));
                }
                Response::Error(e) => {
                    set_status.set(String::new());
                    set_error.set(Some(e));
                }
                other => set_error.set(Some(format!("unexpected answer from the worker: {other:?}"))),
            }
        });
    };

    view! {
        <header class="app-header"><h1>"nlu-lab"</h1><p class="tagline">"Look inside BERT and CLIP, in your browser."</p></header>
        <main>
            <label for="text-a">"Sentence"</label>
            <textarea id="text-a" prop:value=move || text.get() on:input=move |ev| set_text.set(event_target_value(&ev))></textarea>
            <button id="run" on:click=move |_| run()>"Run"</button>
            <p class="status" role="status">{move || status.get()}</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ol class="tokens" data-testid="tokens">
                {move || data.get().map(|d| d.tokens.iter().map(|t| view! { <li>{t.clone()}</li> }).collect_view())}
            </ol>
        </main>
    }
}
