//! Export buttons: the attention as JSON, the head view as SVG or PNG, and a standalone HTML page.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::engine::attention::AttentionData;
use crate::engine::standalone::write_standalone_html;
use crate::ui::export;

/// The head view as PNG file bytes, drawn on the page's background.
async fn head_view_png() -> Result<Vec<u8>, String> {
    let (svg, w, h) = export::svg_markup("[data-testid=head-view]")?;
    export::svg_to_png(&svg, w, h, &export::background()).await
}

#[component]
pub fn ExportBar(data: Arc<AttentionData>) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let report = move |r: Result<(), String>| message.set(r.err());
    let json_data = data.clone();
    let html_data = data;
    view! {
        <div class="export-bar" role="group" aria-label="export">
            "Export: "
            <button type="button" data-testid="export-json" on:click=move |_| {
                report(export::download_written("attention.json", "application/json", |file| json_data.write_json(file)))
            }>"JSON"</button>
            <button type="button" data-testid="export-svg" on:click=move |_| {
                report(export::svg_markup("[data-testid=head-view]").and_then(|(svg, _, _)| export::download("head-view.svg", "image/svg+xml", svg.as_bytes())))
            }>"SVG"</button>
            <button type="button" data-testid="export-png" on:click=move |_| {
                spawn_local(async move {
                    report(head_view_png().await.and_then(|png| export::download("head-view.png", "image/png", &png)));
                })
            }>"PNG"</button>
            <button type="button" data-testid="export-html" on:click=move |_| {
                report(export::download_written("attention.html", "text/html", |file| write_standalone_html(&html_data, file)))
            }>"Standalone HTML"</button>
            {move || message.get().map(|m| view! { <span class="error" role="alert">{m}</span> })}
        </div>
    }
}
