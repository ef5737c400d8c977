//! Leptos views. The UI thread only draws: every model call goes to the worker.

mod attention_lab;
mod clip_lab;
mod draw;
mod head_analysis;
mod head_view;
mod model_view;
mod neuron_view;

use leptos::prelude::*;

pub use attention_lab::AttentionLab;
pub use clip_lab::ClipLab;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Attention,
    Clip,
}

#[component]
pub fn App() -> impl IntoView {
    crate::web::worker_client::warm_up();
    let tab = RwSignal::new(Tab::Attention);
    view! {
        <header class="app-header">
            <h1>"nlu-lab"</h1>
            <p class="tagline">"Look inside BERT and CLIP — in your browser, no install."</p>
        </header>
        <nav class="tabs" role="tablist" aria-label="labs">
            <button role="tab" id="tab-attention" aria-selected=move || (tab.get() == Tab::Attention).to_string()
                on:click=move |_| tab.set(Tab::Attention)>"Attention lab (BERT)"</button>
            <button role="tab" id="tab-clip" aria-selected=move || (tab.get() == Tab::Clip).to_string()
                on:click=move |_| tab.set(Tab::Clip)>"CLIP lab"</button>
        </nav>
        <main>
            // Both labs stay mounted so switching tabs keeps what the student typed.
            <div hidden=move || tab.get() != Tab::Attention><AttentionLab /></div>
            <div hidden=move || tab.get() != Tab::Clip><ClipLab /></div>
        </main>
    }
}
