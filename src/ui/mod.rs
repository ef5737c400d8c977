//! Leptos views. The UI thread only draws: every model call goes to the worker.

mod attention_lab;
mod draw;
mod head_view;
mod neuron_view;

use leptos::prelude::*;

pub use attention_lab::AttentionLab;

#[component]
pub fn App() -> impl IntoView {
    crate::web::worker_client::warm_up();
    view! {
        <header class="app-header">
            <h1>"nlu-lab"</h1>
            <p class="tagline">"Look inside BERT's attention — in your browser, no install."</p>
        </header>
        <main>
            <AttentionLab />
        </main>
    }
}
