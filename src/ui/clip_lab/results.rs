//! What a classification shows: the crop CLIP saw (with the attention heatmap over it), the verdict and the table of
//! probabilities, logits and cosines, and the hand-in buttons.

use std::sync::Arc;

use wasm_bindgen::{Clamped, JsCast};

use leptos::prelude::*;

use super::ClipState;
use crate::engine::caption_pairs::{is_confusing, is_near_threshold, top_probability, Verdict, CONFUSING_BELOW, NEAR_THRESHOLD};
use crate::engine::catalogue::{self, BundledPack};
use crate::engine::pack::max_abs_diff;
use crate::engine::pipeline::ClipResult;
use crate::ui::state::CacheState;
use crate::ui::clip_extras::{SubmissionExport, VisionHeatmap};
use crate::web::messages::ModelSource;

/// Draw the 224×224 RGB crop the model saw.
pub fn draw_crop(canvas: &web_sys::HtmlCanvasElement, result: &ClipResult) {
    let (w, h) = (result.preview_width as u32, result.preview_height as u32);
    if w == 0 || h == 0 {
        return;
    }
    canvas.set_width(w);
    canvas.set_height(h);
    let rgba: Vec<u8> = result.preview_rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let Ok(Some(ctx)) = canvas.get_context("2d") else { return };
    let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
    if let Ok(data) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w, h) {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

/// The crop canvas (drawn when a result arrives) and, once there is one, where the image encoder looks.
#[component]
pub fn CropFigure(lab: ClipState) -> impl IntoView {
    view! {
        <figure class="crop-figure"><div class="crop-stack">
            <canvas node_ref=lab.crop class="crop" width="224" height="224" aria-label="the 224×224 crop CLIP sees"></canvas>
            {move || lab.result.get().map(|r| view! { <VisionHeatmap result=r /> })}
        </div><figcaption>"What CLIP sees (224×224 centre crop); red: where its [CLS] token attends"</figcaption></figure>
    }
}

fn result_table(r: &ClipResult) -> impl IntoView {
    let verdict = Verdict::of(&r.probs);
    let rows = r
        .captions
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = r.probs[i];
            view! {
                <tr data-testid="clip-row">
                    <td class="caption-text">{c.clone()}{r.truncated[i].then(|| view! { <span class="note">" (cut to 77 tokens)"</span> })}</td>
                    <td class="prob-cell"><span class="bar" style=format!("width: {:.1}%", p * 100.0)></span>
                        <span class="num" data-testid="prob" data-prob=p.to_string()>{format!("{p:.4}")}</span></td>
                    <td class="num">{format!("{:.2}", r.logits[i])}</td>
                    <td class="num">{format!("{:.4}", r.cosines[i])}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="verdict" data-testid="verdict" class:confusing=verdict.is_confusing()>{verdict.message()}</p>
        <table class="clip-results">
            <thead><tr><th>"caption"</th><th>"probability"</th><th>"logit"</th><th>"cosine"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Which weights produced the probabilities: a compact copy rounds every weight, so its numbers are close to, not
/// the same as, the full-precision model's.
fn precision_note(source: &ModelSource) -> String {
    match &source.pack {
        Some(p) => format!(
            "Computed with {} weights ({}, a compact copy {}); the full-precision model's probabilities differ slightly.",
            p.precision_label(),
            p.dtype,
            if p.is_local() { "from your files" } else { "this site serves" }
        ),
        None => "Computed with full-precision weights (f32).".into(),
    }
}

/// What the full-precision model says of the same image and captions, next to the compact result.
fn full_precision_line(check: &super::FullPrecisionCheck, compact: &ClipResult, label: &str) -> String {
    let probs: Vec<String> = check.probs.iter().map(|p| format!("{p:.4}")).collect();
    let (top, compact_top) = (top_probability(&check.probs), top_probability(&compact.probs));
    let verdict = match (is_confusing(compact_top), is_confusing(top)) {
        (a, b) if a == b => format!("the verdict is the same ({})", if b { "confusing" } else { "not confusing" }),
        (_, true) => format!("the verdict changes: in full precision the top probability is {top:.4}, below {CONFUSING_BELOW}, so the pair is confusing"),
        (_, false) => format!("the verdict changes: in full precision the top probability is {top:.4}, not below {CONFUSING_BELOW}, so the pair is not confusing"),
    };
    // Differences below the table's 4 decimals are written out rather than shown as 0.0000.
    let diff = max_abs_diff(&check.probs, &compact.probs);
    let diff = if diff < 1e-3 { format!("{diff:.1e}") } else { format!("{diff:.4}") };
    format!("Full precision (f32): {}. Largest difference from the {label} result: {diff}; {verdict}. The hand-in records both.", probs.join(", "))
}

/// For a result a compact pack produced: a warning when its top probability is near the rule, the offer to
/// recompute it with the full-precision model, and that model's numbers once they are there.
#[component]
fn FullPrecisionOffer(lab: ClipState, result: Arc<ClipResult>, pack: BundledPack) -> impl IntoView {
    let cache = CacheState::expect();
    let top = top_probability(&result.probs);
    let label = pack.precision_label();
    let entry = catalogue::find(&pack.repo);
    let cost = move || match entry {
        Some(e) if cache.has_model(e.repo) => " uses the full model stored in this browser".to_string(),
        Some(e) => format!(" downloads the full model ({} MB) once", e.download_mb),
        None => String::new(),
    };
    let near = is_near_threshold(top).then(|| {
        view! {
            <p class="near-threshold" data-testid="near-threshold">{format!(
                "The top probability, {top:.4}, is within {NEAR_THRESHOLD} of the assignment's {CONFUSING_BELOW}: the {label} weights' rounding could put it on the other side. Check it in full precision before you hand it in."
            )}</p>
        }
    });
    view! {
        <div class="full-check">{near}
            {move || match lab.full_check.get() {
                None => view! {
                    <p><button type="button" data-testid="check-full" prop:disabled=move || lab.task.busy().get()
                        on:click=move |_| lab.check_full_precision()>"Check in full precision"</button>
                        <span class="hint">{cost}</span></p>
                }.into_any(),
                Some(check) => view! {
                    <p data-testid="full-check" data-probs=serde_json::to_string(&check.probs).unwrap_or_default()>
                        {full_precision_line(&check, &result, label)}</p>
                }.into_any(),
            }}
        </div>
    }
}

/// The verdict, the table, and the hand-in for the last classification.
#[component]
pub fn ClipResults(lab: ClipState) -> impl IntoView {
    view! {
        <div>{move || lab.result.get().map(|r| result_table(&r))}
            {move || lab.result.get().zip(lab.result_image.get()).zip(lab.computed_with.get()).map(|((r, image), source)| view! {
                <p class="hint" data-testid="precision">{precision_note(&source)}</p>
                {source.pack.clone().map(|pack| view! { <FullPrecisionOffer lab=lab result=r.clone() pack=pack /> })}
                <SubmissionExport result=r image=image source=source trust=lab.trust.get() full_check=lab.full_check crop=lab.crop />
            })}
        </div>
    }
}
