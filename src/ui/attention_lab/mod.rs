//! The attention lab: pick a model, type a sentence (or a pair), run it in the worker, look at the views.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::embed::{EmbedPanel, EmbedView};
use super::export;
use super::guide;
use super::head_analysis::HeadAnalysis;
use super::head_view::HeadView;
use super::model_view::ModelView;
use super::neuron_view::NeuronView;
use crate::engine::attention::{AttentionData, MatrixOptions};
use crate::engine::catalogue;
use crate::engine::standalone::standalone_html;
use crate::web::hub::hub_from_page;
use crate::web::messages::{ModelSource, Request, Response};
use crate::web::permalink::{self, AttentionLink};
use crate::web::worker_client;

/// Export buttons: the attention as JSON, the head view as SVG or PNG, and a standalone HTML page.
#[component]
fn ExportBar(data: Arc<AttentionData>) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let report = move |r: Result<(), String>| message.set(r.err());
    let json_data = data.clone();
    let html_data = data;
    view! {
        <div class="export-bar" role="group" aria-label="export">
            "Export: "
            <button type="button" data-testid="export-json" on:click=move |_| {
                report(export::download("attention.json", "application/json", json_data.to_json().to_string().as_bytes()))
            }>"JSON"</button>
            <button type="button" data-testid="export-svg" on:click=move |_| {
                report(export::svg_markup("[data-testid=head-view]").and_then(|(svg, _, _)| export::download("head-view.svg", "image/svg+xml", svg.as_bytes())))
            }>"SVG"</button>
            <button type="button" data-testid="export-png" on:click=move |_| {
                spawn_local(async move {
                    let result = match export::svg_markup("[data-testid=head-view]") {
                        Ok((svg, w, h)) => match export::svg_to_png(&svg, w, h, &export::background()).await {
                            Ok(png) => export::download("head-view.png", "image/png", &png),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    report(result);
                })
            }>"PNG"</button>
            <button type="button" data-testid="export-html" on:click=move |_| {
                report(export::download("attention.html", "text/html", standalone_html(&html_data).as_bytes()))
            }>"Standalone HTML"</button>
            {move || message.get().map(|m| view! { <span class="error" role="alert">{m}</span> })}
        </div>
    }
}

/// Ask the worker for the attention of `text` (and `text_b`) under `repo`; progress and a summary go to `status`.
async fn request_attention(hub: String, repo: String, text: String, text_b: String, status: RwSignal<String>) -> Result<AttentionData, String> {
    let revision = catalogue::find(&repo).map(|e| e.revision).unwrap_or("main").to_string();
    let text_b = Some(text_b).filter(|b| !b.trim().is_empty());
    let request = Request::Attention { source: ModelSource { hub, repo, revision }, text, text_b, queries_keys: true };
    let on_progress = move |p: &Response| {
        if let Some(text) = export::progress_text(p) {
            status.set(text);
        }
    };
    match worker_client::request(request, on_progress).await {
        Response::Attention { data, forward_ms, load_ms, memory_bytes } => {
            let mut s = format!("{} tokens · forward pass {forward_ms:.0} ms", data.len());
            if worker_client::threads() > 1 {
                s += &format!(" on {} threads", worker_client::threads());
            }
            if load_ms > 0.0 {
                s += &format!(" · model loaded in {load_ms:.0} ms · worker memory {}", export::format_bytes(memory_bytes));
            }
            if data.dropped_tokens > 0 {
                s += &format!(" · the input was too long: {} tokens were cut", data.dropped_tokens);
            }
            status.set(s);
            Ok(data)
        }
        Response::Error(e) => {
            status.set(String::new());
            Err(e)
        }
        other => Err(format!("unexpected answer from the worker: {other:?}")),
    }
}

#[component]
pub fn AttentionLab(
    cache: super::cache_panel::CacheState,
    /// Embedded (`?embed=head|model|neuron`): only this view, run straight away on the URL's sentence.
    #[prop(optional)]
    embed: Option<EmbedView>,
) -> impl IntoView {
    let guide = guide::progress();
    let link = permalink::read();
    let default_model = catalogue::encoders().next().expect("an encoder").repo.to_string();
    let model = RwSignal::new(link.model.clone().filter(|m| catalogue::find(m).is_some()).unwrap_or(default_model));
    let text = RwSignal::new(link.text.clone().unwrap_or_else(|| "The cat sat on the mat because it was tired.".to_string()));
    let text_b = RwSignal::new(link.text_b.clone().unwrap_or_default());
    let status = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let data = RwSignal::new(None::<Arc<AttentionData>>);
    // The head view's layer and active heads, which the model view and head analysis also set.
    let layer = RwSignal::new(0usize);
    let active = RwSignal::new(Vec::<bool>::new());
    let open_head = Callback::new(move |(l, h): (usize, usize)| {
        guide::mark(guide, |g| g.heads_compared);
        layer.set(l);
        active.update(|a| a.iter_mut().enumerate().for_each(|(i, x)| *x = i == h));
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("head-view-title")) {
            el.scroll_into_view();
        }
    });
    let hide_special = RwSignal::new(false);
    let renormalize = RwSignal::new(false);
    let words = RwSignal::new(false);
    let top_percent = RwSignal::new(100u32);
    let top_mass = Signal::derive(move || top_percent.get() as f32 / 100.0);
    let options = Signal::derive(move || MatrixOptions {
        hide_special: hide_special.get(),
        renormalize: renormalize.get(),
        words: words.get(),
        ..Default::default()
    });

    // What is shown, as a link: the result's model and sentences, the head view's layer and heads.
    let shown_link = move || {
        let d = data.get()?;
        let act = active.get();
        let heads = (act.iter().any(|a| !a)).then(|| act.iter().enumerate().filter(|(_, a)| **a).map(|(h, _)| h).collect());
        Some(AttentionLink {
            model: Some(d.model.clone()),
            text: Some(d.text.clone()),
            text_b: d.text_b.clone().filter(|b| !b.is_empty()),
            layer: Some(layer.get()).filter(|&l| l != super::head_view::MEAN_LAYER),
            heads,
        })
    };
    // Keep the URL in step with what is shown, so copying it shares this exact view.
    Effect::new(move |_| {
        if let Some(link) = shown_link() {
            permalink::write(&link);
        }
    });
    let embed_url = Callback::new(move |view: EmbedView| {
        let mut params = shown_link().map(|l| l.params()).unwrap_or_default();
        params.push(("embed", vec![view.key().to_string()]));
        permalink::page_url(&params)
    });
    // The guide: a suggested sentence to fill in, and "compared layers" once the layer changes on a result.
    if let Some(g) = guide {
        Effect::new(move |_| {
            if let Some(sentence) = g.suggested_sentence.get() {
                text.set(sentence);
                text_b.set(String::new());
                g.suggested_sentence.set(None);
            }
        });
        Effect::watch(move || layer.get(), move |_, _, _| {
            if data.with_untracked(Option::is_some) {
                guide::mark(guide, |g| g.heads_compared);
            }
        }, false);
    }
    // A permalink's layer and heads, applied once its result arrives.
    let pending_link = RwSignal::new(None::<AttentionLink>);
    let run = move || {
        let (repo, a, b) = (model.get_untracked(), text.get_untracked(), text_b.get_untracked());
        let hub = match hub_from_page(&repo) {
            Ok(h) => h,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        busy.set(true);
        status.set("Starting…".into());
        spawn_local(async move {
            match request_attention(hub, repo, a, b, status).await {
                Ok(d) => {
                    if layer.get_untracked() >= d.num_layers {
                        layer.set(0);
                    }
                    if active.get_untracked().len() != d.num_heads {
                        active.set(vec![true; d.num_heads]);
                    }
                    if let Some(pending) = pending_link.get_untracked() {
                        pending_link.set(None);
                        if let Some(l) = pending.layer.filter(|&l| l < d.num_layers) {
                            layer.set(l);
                        }
                        if let Some(hs) = pending.heads.filter(|hs| !hs.is_empty() && hs.iter().all(|&h| h < d.num_heads)) {
                            active.set((0..d.num_heads).map(|h| hs.contains(&h)).collect());
                        }
                    }
                    data.set(Some(Arc::new(d)));
                    guide::mark(guide, |g| g.attention_ran);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
            cache.refresh();
        });
    };

    // Compare: a second sentence (or model) drawn beside the first, same layer and heads.
    let compare_model = RwSignal::new(model.get_untracked());
    let compare_text = RwSignal::new("The dog sat on the log because it was tired.".to_string());
    let compare_data = RwSignal::new(None::<Arc<AttentionData>>);
    let compare_status = RwSignal::new(String::new());
    let run_compare = move || {
        let (repo, a) = (compare_model.get_untracked(), compare_text.get_untracked());
        let hub = match hub_from_page(&repo) {
            Ok(h) => h,
            Err(e) => return error.set(Some(e)),
        };
        busy.set(true);
        spawn_local(async move {
            match request_attention(hub, repo, a, String::new(), compare_status).await {
                Ok(d) => compare_data.set(Some(Arc::new(d))),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let start_layer = link.layer.unwrap_or(0);
    let start_head = link.heads.as_ref().and_then(|h| h.first().copied()).unwrap_or(0);
    if link.text.is_some() || embed.is_some() {
        // Opened from a permalink, or embedded (the view needs the data): run it straight away.
        pending_link.set(Some(link));
        run();
    }

    if let Some(embed) = embed {
        return view! {
            <section class="lab embedded-lab" data-testid="embedded" aria-label=format!("nlu-lab: {}", embed.title())>
                <p class="embed-sentence">{move || {
                    let b = text_b.get();
                    if b.is_empty() { text.get() } else { format!("{} / {b}", text.get()) }
                }}</p>
                // Progress only while loading: once drawn, the view is all the room there is.
                {move || data.with(Option::is_none).then(|| view! { <p class="status" role="status" aria-live="polite">{move || status.get()}</p> })}
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || data.get().map(|d| match embed {
                    EmbedView::Model => view! { <ModelView data=d options=options on_open=open_head /> }.into_any(),
                    EmbedView::Neuron => view! { <NeuronView data=d start=(start_layer, start_head) /> }.into_any(),
                    _ => view! { <HeadView data=d options=options layer=layer active=active top_mass=top_mass /> }.into_any(),
                })}
            </section>
        }
        .into_any();
    }

    view! {
        <section class="lab" aria-labelledby="attention-lab-title">
            <h2 id="attention-lab-title">"Attention lab"</h2>
            <form class="input-form" on:submit=move |ev| { ev.prevent_default(); run(); }>
                <label for="model">"Model"</label>
                <select id="model" on:change=move |ev| model.set(event_target_value(&ev))>
                    {catalogue::encoders().map(|e| view! {
                        <option value=e.repo title=e.description>{move || format!("{} — {} MB{}", e.display_name, e.download_mb,
                            if cache.has_model(e.repo) { " · stored, works offline" } else { "" })}</option>
                    }).collect_view()}
                </select>
                <label for="text-a">"Sentence A"</label>
                <textarea id="text-a" prop:value=move || text.get() on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    guide::mark(guide, |g| g.sentence_chosen);
                }></textarea>
                <label for="text-b">"Sentence B (optional)"</label>
                <textarea id="text-b" prop:value=move || text_b.get() on:input=move |ev| text_b.set(event_target_value(&ev))></textarea>
                <button id="run" type="submit" prop:disabled=move || busy.get()>"Run"</button>
            </form>
            <p class="status" data-testid="attention-status" role="status" aria-live="polite">{move || status.get()}</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <fieldset class="options">
                <legend>"Show"</legend>
                <label><input type="checkbox" data-testid="hide-special" prop:checked=move || hide_special.get()
                    on:change=move |ev| hide_special.set(event_target_checked(&ev)) />" hide [CLS]/[SEP]"</label>
                <label><input type="checkbox" data-testid="renormalize" prop:checked=move || renormalize.get()
                    prop:disabled=move || !hide_special.get()
                    on:change=move |ev| renormalize.set(event_target_checked(&ev)) />" renormalise rows"</label>
                <label><input type="checkbox" data-testid="words" prop:checked=move || words.get()
                    on:change=move |ev| words.set(event_target_checked(&ev)) />" whole words"</label>
                <label>" strongest lines: "
                    <input type="range" min="10" max="100" step="5" data-testid="top-mass" aria-label="show the strongest lines making up this share of each row"
                        prop:value=move || top_percent.get().to_string()
                        on:input=move |ev| top_percent.set(event_target_value(&ev).parse().unwrap_or(100)) />
                    {move || format!(" {} % of each row", top_percent.get())}</label>
            </fieldset>
            <ol class="tokens" data-testid="tokens" aria-label="tokens">
                {move || data.get().map(|d| d.tokens.iter().map(|t| view! { <li>{t.clone()}</li> }).collect_view())}
            </ol>
            {move || data.get().map(|d| view! {
                <div class="lab-actions"><ExportBar data=d.clone() /><EmbedPanel views=EmbedView::ATTENTION.to_vec() url_for=embed_url /></div>
                <h3 id="head-view-title">"Head view"</h3>
                <HeadView data=d.clone() options=options layer=layer active=active top_mass=top_mass />
                <h3>"Model view"</h3>
                <ModelView data=d.clone() options=options on_open=open_head />
                <h3>"Neuron view"</h3>
                <NeuronView data=d.clone() />
                <h3>"Head analysis"</h3>
                <HeadAnalysis data=d.clone() on_open=open_head />
                <details class="compare" data-testid="compare">
                    <summary>"Compare with another sentence or model"</summary>
                    <div class="input-form">
                        <label for="compare-model">"Model"</label>
                        <select id="compare-model" prop:value=move || compare_model.get() on:change=move |ev| compare_model.set(event_target_value(&ev))>
                            {catalogue::encoders().map(|e| view! { <option value=e.repo>{e.display_name}</option> }).collect_view()}
                        </select>
                        <label for="compare-text">"Sentence"</label>
                        <textarea id="compare-text" prop:value=move || compare_text.get() on:input=move |ev| compare_text.set(event_target_value(&ev))></textarea>
                        <button type="button" id="run-compare" prop:disabled=move || busy.get() on:click=move |_| run_compare()>"Compare"</button>
                    </div>
                    <p class="status" role="status">{move || compare_status.get()}</p>
                    {move || compare_data.get().map(|c| {
                        // Same layer and heads on both sides when the models have the same shape.
                        let same_shape = c.num_layers == d.num_layers && c.num_heads == d.num_heads;
                        let (cl, ca) = if same_shape { (layer, active) } else { (RwSignal::new(0), RwSignal::new(vec![true; c.num_heads])) };
                        view! {
                            <div class="side-by-side">
                                <div><h4>{format!("{}: {}", d.model, d.text)}</h4><HeadView data=d.clone() options=options layer=layer active=active /></div>
                                <div data-testid="compare-view"><h4>{format!("{}: {}", c.model, c.text)}</h4><HeadView data=c options=options layer=cl active=ca /></div>
                            </div>
                        }
                    })}
                </details>
            })}
        </section>
    }
    .into_any()
}
