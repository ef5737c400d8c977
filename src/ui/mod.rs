//! Leptos views. The UI thread only draws: every model call goes to the worker.

mod attention_lab;
mod cache_panel;
mod camera;
mod clip_extras;
mod clip_lab;
mod draw;
mod embed;
mod export;
mod guide;
mod head_analysis;
mod head_view;
mod local_files;
mod model_view;
mod neuron_view;
mod state;
mod task;

use leptos::prelude::*;

use state::{CacheState, GuideProgress, Tab};

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

/// Shown when the worker turned out to be from another build (a tab left open across a deploy): requests are not
/// sent to it; one click reloads both.
#[component]
fn ReloadBanner() -> impl IntoView {
    let foreign = RwSignal::new(None::<String>);
    crate::web::worker_client::on_foreign_build(move |build| foreign.set(Some(build)));
    let reload = |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    };
    move || {
        foreign.get().map(|_| {
            view! {
                <div class="error reload-banner" role="alert" data-testid="reload-banner">
                    <p>{crate::web::worker_client::RELOAD_NEEDED}</p>
                    <button type="button" data-testid="reload" on:click=reload>"Reload now"</button>
                </div>
            }
        })
    }
}

#[component]
pub fn App() -> impl IntoView {
    crate::web::worker_client::warm_up();
    if let Some(view) = embed::embed_from_page() {
        return EmbeddedApp(EmbeddedAppProps { view }).into_any();
    }
    let tab = RwSignal::new(Tab::Attention);
    // Given as context: the labs, the cache panel and the views take them from there.
    CacheState::provide();
    let progress = GuideProgress::provide();
    // A course page can link straight to the walkthrough with `?guide`.
    let guide_open = RwSignal::new(crate::web::permalink::param("guide").is_some());
    view! {
        <ReloadBanner />
        <header class="app-header">
            <h1>"nlu-lab"</h1>
            <p class="tagline">"Look inside BERT, GPT-2 and CLIP — in your browser, no install."</p>
            <button type="button" class="guide-toggle" data-testid="guide-toggle" aria-controls="guide"
                aria-expanded=move || guide_open.get().to_string() on:click=move |_| guide_open.update(|o| *o = !*o)>
                {move || if guide_open.get() { "Hide the guide" } else { "Guide: the assignment" }}</button>
            <ThemeToggle />
        </header>
        <nav class="tabs" role="tablist" aria-label="labs">
            <button role="tab" id="tab-attention" aria-selected=move || (tab.get() == Tab::Attention).to_string()
                on:click=move |_| tab.set(Tab::Attention)>"Attention lab"</button>
            <button role="tab" id="tab-clip" aria-selected=move || (tab.get() == Tab::Clip).to_string()
                on:click=move |_| tab.set(Tab::Clip)>"CLIP lab"</button>
        </nav>
        <div class="app-body" class:with-guide=move || guide_open.get()>
            <main>
                // Both labs stay mounted so switching tabs keeps what the student typed.
                <div hidden=move || tab.get() != Tab::Attention><AttentionLab /></div>
                <div hidden=move || tab.get() != Tab::Clip><ClipLab /></div>
                <cache_panel::CachePanel />
            </main>
            // Kept mounted (only hidden) so the check marks survive closing and reopening it.
            <div class="guide-column" hidden=move || !guide_open.get()><guide::Guide tab=tab progress=progress /></div>
        </div>
    }
    .into_any()
}

/// `?embed=…`: one view, compact — no header, tabs or cache panel — for an iframe in a course page.
#[component]
fn EmbeddedApp(view: embed::EmbedView) -> impl IntoView {
    embed::report_height();
    if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
        let _ = body.set_attribute("data-embed", view.key());
    }
    // The labs mark which models are stored; embedded, that list is not shown but the labs still read it.
    CacheState::provide();
    view! {
        <main class="embed-main">
            <ReloadBanner />
            {match view {
                embed::EmbedView::Clip => view! { <ClipLab embed=true /> }.into_any(),
                attention => view! { <AttentionLab embed=attention /> }.into_any(),
            }}
            <embed::OpenFullLink />
        </main>
    }
}
