//! What the CLIP lab shows beyond the probabilities: where the image encoder's [CLS] token looks (a heatmap over
//! the patch grid, per layer/head or rolled out across layers), the head view of a caption, and the submission
//! hand-in (one zip with the image, a PNG card and the JSON; engine::handin).

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::export;
use super::head_view::HeadView;
use super::state::{self, pick_from_value, GuideProgress};
use crate::engine::attention::{MatrixOptions, Pick};
use crate::engine::caption_pairs::{is_confusing, top_probability};
use crate::engine::pipeline::ClipResult;

fn context(canvas: &web_sys::HtmlCanvasElement) -> Option<web_sys::CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten().map(|c| c.unchecked_into())
}

/// Draw a `grid × grid` heatmap (values scaled to their maximum) over a canvas of the crop's size.
fn draw_heatmap(canvas: &web_sys::HtmlCanvasElement, values: &[f32], grid: usize) {
    let Some(ctx) = context(canvas) else { return };
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let max = values.iter().copied().fold(0.0f32, f32::max).max(1e-12);
    let (cw, ch) = (w / grid as f64, h / grid as f64);
    for (i, v) in values.iter().enumerate() {
        ctx.set_fill_style_str(&format!("rgba(220, 38, 38, {:.3})", 0.8 * v / max));
        ctx.fill_rect((i % grid) as f64 * cw, (i / grid) as f64 * ch, cw, ch);
    }
}

/// The heatmap's layer: one layer's attention, or the attention rolled out across all layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeatmapLayer {
    Rollout,
    One(usize),
}

#[component]
pub fn VisionHeatmap(result: Arc<ClipResult>) -> impl IntoView {
    let overlay = NodeRef::<leptos::html::Canvas>::new();
    let va = &result.vision_attention;
    let (layers, heads) = (va.num_layers, va.num_heads);
    let layer = RwSignal::new(HeatmapLayer::Rollout);
    let head = RwSignal::new(Pick::Mean);
    let r = result.clone();
    Effect::new(move |_| {
        let va = &r.vision_attention;
        let values = match layer.get() {
            HeatmapLayer::Rollout => va.rollout_heatmap(),
            HeatmapLayer::One(l) => va.cls_heatmap(Pick::One(l), head.get()),
        };
        if let Some(c) = overlay.get() {
            draw_heatmap(&c, &values, va.grid);
        }
    });
    let parse_layer = |v: String| v.parse().map_or(HeatmapLayer::Rollout, HeatmapLayer::One);
    view! {
        <div class="heatmap">
            <div class="controls">
                <label>"Layer " <select data-testid="vision-layer" on:change=move |ev| layer.set(parse_layer(event_target_value(&ev)))>
                    <option value="rollout">"rollout (all layers)"</option>
                    {(0..layers).map(|l| view! { <option value=l.to_string()>{l.to_string()}</option> }).collect_view()}
                </select></label>
                <label>" Head " <select data-testid="vision-head" prop:disabled=move || layer.get() == HeatmapLayer::Rollout
                    on:change=move |ev| head.set(pick_from_value(&event_target_value(&ev)))>
                    <option value="mean">"mean"</option>
                    {(0..heads).map(|h| view! { <option value=h.to_string()>{h.to_string()}</option> }).collect_view()}
                </select></label>
            </div>
            <canvas node_ref=overlay class="heatmap-overlay" data-testid="vision-heatmap" width="224" height="224"
                aria-label=format!("where the image encoder's [CLS] token attends, over the {0}×{0} patches", va.grid)></canvas>
        </div>
    }
}

/// The head view of one caption in CLIP's text encoder (causal: each token only sees those before it).
#[component]
pub fn CaptionAttention(result: Arc<ClipResult>) -> impl IntoView {
    let caption = RwSignal::new(0usize);
    let layer = RwSignal::new(Pick::One(0));
    let heads = result.text_attention.first().map_or(0, |d| d.num_heads);
    let active = RwSignal::new(vec![true; heads]);
    let options = Signal::derive(MatrixOptions::default);
    let captions = result.captions.clone();
    view! {
        <div class="caption-attention">
            <label>"Caption " <select on:change=move |ev| caption.set(event_target_value(&ev).parse().unwrap_or(0))>
                {captions.iter().enumerate().map(|(i, c)| view! { <option value=i.to_string()>{c.clone()}</option> }).collect_view()}
            </select></label>
            {move || result.text_attention.get(caption.get()).map(|d| view! {
                <HeadView data=Arc::new(d.clone()) options=options layer=layer active=active />
            })}
        </div>
    }
}

async fn sha256_hex(bytes: &[u8]) -> Result<String, String> {
    let subtle = web_sys::window().ok_or("no window")?.crypto().map_err(|_| "no crypto")?.subtle();
    let mut copy = bytes.to_vec();
    let promise = subtle.digest_with_str_and_u8_array("SHA-256", &mut copy).map_err(|_| "cannot hash (needs https or localhost)")?;
    let digest = JsFuture::from(promise).await.map_err(|_| "cannot hash the image")?;
    Ok(crate::web::store::hex(&js_sys::Uint8Array::new(&digest).to_vec()))
}

/// The submission JSON (schema nlu-lab/clip-submission@1): what `nlu-lab check` recomputes.
async fn submission_json(
    r: &ClipResult,
    image: &[u8],
    source: &crate::web::messages::ModelSource,
    trust: &crate::web::models::ModelTrust,
    checked: Option<super::clip_lab::FullPrecisionCheck>,
) -> Result<String, String> {
    let top = top_probability(&r.probs);
    let sha = sha256_hex(image).await?;
    let doc = serde_json::json!({
        "schema": crate::engine::handin::SUBMISSION_SCHEMA,
        "app_version": env!("CARGO_PKG_VERSION"),
        "model": r.model,
        // A pack's numbers are its own: the teacher re-checks with the same precision, or in f32.
        "revision": source.pack.as_ref().map_or(&source.revision, |p| &p.source_revision),
        "precision": source.pack.as_ref().map_or("f32", |p| p.dtype.as_str()),
        // Which bytes computed the numbers (sha256 as stored in this browser): `nlu-lab check` compares them with
        // the model folder it is given.
        "weights": trust.weights,
        "pack": source.pack.as_ref().map(|p| serde_json::json!({
            "revision": p.revision,
            "source_sha256": p.source_sha256,
            "source_verified": p.source_verified,
            "weights": p.weight_files().iter().filter_map(|w| p.files.iter().find(|f| f.name == *w))
                .map(|f| serde_json::json!({ "name": f.name, "sha256": f.sha256 })).collect::<Vec<_>>(),
        })),
        // The teacher re-checks with the same weights: were they the pinned ones?
        "weights_verified": trust.verified,
        "weights_warnings": trust.warnings,
        "image_sha256": sha,
        "captions": r.captions,
        "probabilities": r.probs,
        "logits": r.logits,
        "cosines": r.cosines,
        "top_probability": top,
        "confusing": is_confusing(top),
        // The same image and captions with the full-precision model, when a compact result was checked.
        "full_precision": checked.map(|c| serde_json::json!({
            "revision": c.revision,
            "weights_verified": c.trust.verified,
            "weights": c.trust.weights,
            "probabilities": c.probs,
            "logits": c.logits,
            "top_probability": top_probability(&c.probs),
            "confusing": is_confusing(top_probability(&c.probs)),
        })),
    });
    serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())
}

/// The PNG card: the crop, the model (and its precision), each caption with its probability.
fn card_png(r: &ClipResult, title: &str, crop: Option<web_sys::HtmlCanvasElement>) -> Result<Vec<u8>, String> {
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = doc.create_element("canvas").map_err(|_| "no canvas")?.unchecked_into();
    let rows = r.captions.len() as u32;
    canvas.set_width(760);
    canvas.set_height(260.max(70 + 34 * rows));
    let ctx = context(&canvas).ok_or("no 2d context")?;
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, 760.0, canvas.height() as f64);
    if let Some(crop) = crop {
        ctx.draw_image_with_html_canvas_element(&crop, 18.0, 18.0).map_err(|_| "cannot draw the image")?;
    }
    ctx.set_fill_style_str("#1d1f23");
    ctx.set_font("bold 16px system-ui, sans-serif");
    ctx.fill_text(title, 262.0, 36.0).ok();
    ctx.set_font("15px system-ui, sans-serif");
    for (i, (c, p)) in r.captions.iter().zip(&r.probs).enumerate() {
        let y = 70.0 + 34.0 * i as f64;
        ctx.set_fill_style_str("#1d1f23");
        ctx.fill_text(c, 262.0, y).ok();
        ctx.set_fill_style_str("#2b6cb0");
        ctx.fill_rect(262.0, y + 6.0, 360.0 * *p as f64, 10.0);
        ctx.set_fill_style_str("#1d1f23");
        ctx.fill_text(&format!("{p:.4}"), 632.0, y + 16.0).ok();
    }
    export::canvas_png(&canvas)
}

/// What the student hands in.
#[derive(Clone, Copy, PartialEq)]
enum HandInPart {
    /// One zip: the JSON, the image as chosen, the card (what the guide asks for).
    Zip,
    Card,
    Json,
}

/// The hand-in: one zip with the image, the PNG card and the JSON; or only the card, or only the JSON.
#[component]
pub fn SubmissionExport(
    result: Arc<ClipResult>,
    image: Arc<Vec<u8>>,
    source: crate::web::messages::ModelSource,
    trust: crate::web::models::ModelTrust,
    /// The full-precision recomputation of a compact result, if the student asked for one (read when exporting).
    full_check: RwSignal<Option<super::clip_lab::FullPrecisionCheck>>,
    crop: NodeRef<leptos::html::Canvas>,
) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    // A successful hand-in is the guide's last step.
    let guide = GuideProgress::get();
    let card_precision = source.pack.as_ref().map(|p| format!(", {} weights", p.precision_label())).unwrap_or_default();
    let title = Arc::new(format!("CLIP ({}{card_precision})", result.model));
    let save = std::rc::Rc::new(move |part: HandInPart| {
        let (r, img, trust, source, title) = (result.clone(), image.clone(), trust.clone(), source.clone(), title.clone());
        let checked = full_check.get_untracked();
        // Drawn now, while the crop is on the page.
        let card = (part != HandInPart::Json).then(|| card_png(&r, &title, crop.get_untracked().map(|c| c.into())));
        spawn_local(async move {
            let outcome = async {
                match part {
                    HandInPart::Card => export::download("clip-submission.png", "image/png", &card.ok_or("no card")??),
                    HandInPart::Json => {
                        let json = submission_json(&r, &img, &source, &trust, checked).await?;
                        export::download("clip-submission.json", "application/json", json.as_bytes())
                    }
                    HandInPart::Zip => {
                        let json = submission_json(&r, &img, &source, &trust, checked).await?;
                        let handin = crate::engine::handin::HandIn::new(json, img.to_vec(), card.ok_or("no card")??);
                        export::download(crate::engine::handin::HANDIN_FILE, "application/zip", &handin.to_zip()?)
                    }
                }
            }
            .await;
            // The guide's step is the hand-in the teacher checks: the zip.
            if outcome.is_ok() && part == HandInPart::Zip {
                state::mark(guide, |g| g.exported);
            }
            message.set(outcome.err());
        });
    });
    let button = move |part: HandInPart| {
        let save = save.clone();
        move |_| save(part)
    };
    view! {
        <div class="export-bar" role="group" aria-label="hand-in">
            <button type="button" class="handin" data-testid="submit-handin" on:click=button(HandInPart::Zip)
                title="one zip: the image as you chose it, the PNG card and the JSON (what nlu-lab check recomputes)">
                "Download hand-in"
            </button>
            <span class="hint">" or only: "</span>
            <button type="button" data-testid="submit-png" on:click=button(HandInPart::Card)>"PNG card"</button>
            <button type="button" data-testid="submit-json" on:click=button(HandInPart::Json)>"JSON"</button>
            {move || message.get().map(|m| view! { <span class="error" role="alert">{m}</span> })}
        </div>
    }
}
