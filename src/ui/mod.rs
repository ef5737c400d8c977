//! Leptos views. The UI thread only draws: every model call goes to the worker.

mod attention_lab;
mod cache_panel;
mod camera;
mod clip_extras;
mod clip_lab;
mod draw;
mod export;
mod head_analysis;
mod head_view;
mod model_view;
mod neuron_view;

use leptos::prelude::*;

pub use attention_lab::AttentionLab;
pub use clip_lab::ClipLab;

/// Light/dark: follows `prefers-color-scheme` until the student picks one (kept in localStorage).
#[component]
fn ThemeToggle() -> impl IntoView {
    let root = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element());
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let system_dark = web_sys::window()
        .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        .is_some_and(|m| m.matches());
    let saved = storage.as_ref().and_then(|s| s.get_item("nlu-lab-theme").ok().flatten());
    let dark = RwSignal::new(saved.as_deref().map_or(system_dark, |t| t == "dark"));
    if let (Some(root), Some(t)) = (&root, &saved) {
        let _ = root.set_attribute("data-theme", t);
    }
    let toggle = move |_| {
        let next = !dark.get_untracked();
        dark.set(next);
        let theme = if next { "dark" } else { "light" };
        if let Some(root) = &root {
            let _ = root.set_attribute("data-theme", theme);
        }
        if let Some(s) = &storage {
            let _ = s.set_item("nlu-lab-theme", theme);
        }
    };
    view! {
        <button class="theme-toggle" data-testid="theme-toggle" aria-pressed=move || dark.get().to_string() on:click=toggle>
            {move || if dark.get() { "☀ Light theme" } else { "☾ Dark theme" }}
        </button>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Attention,
    Clip,
}

#[component]
pub fn App() -> impl IntoView {
    crate::web::worker_client::warm_up();
    let tab = RwSignal::new(Tab::Attention);
    let cache = cache_panel::CacheState::new();
    view! {
        <header class="app-header">
            <h1>"nlu-lab"</h1>
            <p class="tagline">"Look inside BERT and CLIP — in your browser, no install."</p>
            <ThemeToggle />
        </header>
        <nav class="tabs" role="tablist" aria-label="labs">
            <button role="tab" id="tab-attention" aria-selected=move || (tab.get() == Tab::Attention).to_string()
                on:click=move |_| tab.set(Tab::Attention)>"Attention lab (BERT)"</button>
            <button role="tab" id="tab-clip" aria-selected=move || (tab.get() == Tab::Clip).to_string()
                on:click=move |_| tab.set(Tab::Clip)>"CLIP lab"</button>
        </nav>
        <main>
            // Both labs stay mounted so switching tabs keeps what the student typed.
            <div hidden=move || tab.get() != Tab::Attention><AttentionLab cache=cache /></div>
            <div hidden=move || tab.get() != Tab::Clip><ClipLab cache=cache /></div>
            <cache_panel::CachePanel state=cache />
        </main>
    }
}
