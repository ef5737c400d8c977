//! The model view: every layer × head as a small line diagram (one canvas: at 100+ tokens thousands of SVG
//! thumbnails would stall the page). Click a thumbnail to open that layer and head in the head view.

use std::sync::Arc;

use leptos::prelude::*;

use super::draw::{head_colour, sized_context, stroke_lines, Stroke};
use crate::engine::attention::MatrixOptions;
use crate::engine::attention::{AttentionData, Pick};

const CELL: f64 = 84.0;
const PAD: f64 = 6.0;

fn draw(canvas: &web_sys::HtmlCanvasElement, data: &AttentionData, options: &MatrixOptions, focus: Option<(usize, usize)>) {
    let (layers, heads) = (data.num_layers, data.num_heads);
    let Some(ctx) = sized_context(canvas, heads as f64 * CELL, layers as f64 * CELL) else { return };
    let span = CELL - 2.0 * PAD;
    let step = |count: usize, i: usize| if count > 1 { span * i as f64 / (count - 1) as f64 } else { span / 2.0 };
    for l in 0..layers {
        for h in 0..heads {
            let m = data.matrix(Pick::One(l), Pick::One(h), options);
            let (x0, y0) = (h as f64 * CELL + PAD, l as f64 * CELL + PAD);
            let (rows, cols) = (m.rows.len(), m.cols.len());
            let strokes = (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).map(|(r, c)| Stroke {
                from: (x0 + span * 0.15, y0 + step(rows, r)),
                to: (x0 + span * 0.85, y0 + step(cols, c)),
                alpha: m.get(r, c),
            });
            stroke_lines(&ctx, head_colour(h), 1.0, strokes);
        }
    }
    // The keyboard's cell (arrows move it, Enter opens it).
    if let Some((l, h)) = focus {
        ctx.set_stroke_style_str(&focus_colour(canvas));
        ctx.set_line_width(2.0);
        ctx.stroke_rect(h as f64 * CELL + 1.0, l as f64 * CELL + 1.0, CELL - 2.0, CELL - 2.0);
    }
}

/// The theme's text colour, for the focus ring.
fn focus_colour(canvas: &web_sys::HtmlCanvasElement) -> String {
    web_sys::window()
        .and_then(|w| w.get_computed_style(canvas).ok().flatten())
        .and_then(|s| s.get_property_value("color").ok())
        .unwrap_or_else(|| "#000".into())
}

#[component]
pub fn ModelView(
    data: Arc<AttentionData>,
    options: Signal<MatrixOptions>,
    /// Called with (layer, head) when a thumbnail is clicked.
    on_open: Callback<(usize, usize)>,
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let (layers, heads) = (data.num_layers, data.num_heads);
    // Keyboard access to a canvas: it takes the focus, the arrows move a ring over the thumbnails, Enter opens one;
    // a live region says where the ring is.
    let cell = RwSignal::new((0usize, 0usize));
    let focused = RwSignal::new(false);
    {
        let data = data.clone();
        Effect::new(move |_| {
            let opts = options.get();
            let focus = focused.get().then(|| cell.get());
            if let Some(c) = canvas.get() {
                draw(&c, &data, &opts, focus);
            }
        });
    }
    let keydown = move |ev: web_sys::KeyboardEvent| {
        let (l, h) = cell.get_untracked();
        let next = match ev.key().as_str() {
            "ArrowLeft" => (l, h.saturating_sub(1)),
            "ArrowRight" => (l, (h + 1).min(heads - 1)),
            "ArrowUp" => (l.saturating_sub(1), h),
            "ArrowDown" => ((l + 1).min(layers - 1), h),
            "Home" => (l, 0),
            "End" => (l, heads - 1),
            "Enter" | " " => {
                ev.prevent_default();
                return on_open.run((l, h));
            }
            _ => return,
        };
        ev.prevent_default();
        cell.set(next);
    };
    let click = move |ev: web_sys::MouseEvent| {
        let (h, l) = ((ev.offset_x() as f64 / CELL) as usize, (ev.offset_y() as f64 / CELL) as usize);
        if l < layers && h < heads {
            cell.set((l, h));
            on_open.run((l, h));
        }
    };
    view! {
        <div class="model-view">
            <div class="model-view-heads" style=format!("width: {}px", heads as f64 * CELL)>
                {(0..heads).map(|h| view! { <span style=format!("width: {CELL}px")>{format!("head {h}")}</span> }).collect_view()}
            </div>
            <div class="model-view-body">
                <div class="model-view-layers">
                    {(0..layers).map(|l| view! { <span style=format!("height: {CELL}px")>{format!("layer {l}")}</span> }).collect_view()}
                </div>
                <canvas node_ref=canvas data-testid="model-view" class="model-view-canvas" on:click=click tabindex="0"
                    on:keydown=keydown on:focus=move |_| focused.set(true) on:blur=move |_| focused.set(false)
                    role="img" aria-label=format!("attention of all {layers} layers × {heads} heads; click one, or move with the arrow keys and press Enter, to open it in the head view")></canvas>
            </div>
            <p class="sr-only" aria-live="polite" data-testid="model-view-cell">
                {move || focused.get().then(|| { let (l, h) = cell.get(); format!("layer {l}, head {h}: Enter opens it in the head view") })}
            </p>
        </div>
    }
}
