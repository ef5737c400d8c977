//! What a classification shows: the crop CLIP saw (with the attention heatmap over it), the verdict and the table of
//! probabilities, logits and cosines, and the hand-in buttons.

use wasm_bindgen::{Clamped, JsCast};

use leptos::prelude::*;

use super::ClipState;
use crate::engine::caption_pairs::Verdict;
use crate::engine::pipeline::ClipResult;
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
            "Computed with {} weights ({}, a compact copy this site serves); the full-precision model's probabilities differ slightly.",
            p.precision_label(),
            p.dtype
        ),
        None => "Computed with full-precision weights (f32).".into(),
    }
}

/// The verdict, the table, and the hand-in for the last classification.
#[component]
pub fn ClipResults(lab: ClipState) -> impl IntoView {
    view! {
        <div>{move || lab.result.get().map(|r| result_table(&r))}
            {move || lab.result.get().zip(lab.image.get()).zip(lab.computed_with.get()).map(|((r, img), source)| view! {
                <p class="hint" data-testid="precision">{precision_note(&source)}</p>
                <SubmissionExport result=r image=img.bytes source=source trust=lab.trust.get() crop=lab.crop />
            })}
        </div>
    }
}
