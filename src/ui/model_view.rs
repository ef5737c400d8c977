//! The model view: every layer × head as a small line diagram (one canvas: at 100+ tokens thousands of SVG
//! thumbnails would stall the page). Click a thumbnail to open that layer and head in the head view.

use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::draw::head_colour;
use crate::engine::attention::{AttentionData, MatrixOptions, Pick};

const CELL: f64 = 84.0;
const PAD: f64 = 6.0;

fn draw(canvas: &web_sys::HtmlCanvasElement, data: &AttentionData, options: &MatrixOptions) {
    let (layers, heads) = (data.num_layers, data.num_heads);
    canvas.set_width((heads as f64 * CELL) as u32);
    canvas.set_height((layers as f64 * CELL) as u32);
    let Ok(Some(ctx)) = canvas.get_context("2d") else { return };
    let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
    ctx.clear_rect(0.0, 0.0, canvas.width() as f64, canvas.height() as f64);
    ctx.set_line_width(1.0);
    for l in 0..layers {
        for h in 0..heads {
            let m = data.matrix(Pick::One(l), Pick::One(h), options);
            let (x0, y0) = (h as f64 * CELL + PAD, l as f64 * CELL + PAD);
            let span = CELL - 2.0 * PAD;
            let step = |count: usize, i: usize| if count > 1 { span * i as f64 / (count - 1) as f64 } else { span / 2.0 };
            ctx.set_stroke_style_str(head_colour(h));
            for r in 0..m.rows.len() {
                for c in 0..m.cols.len() {
                    let w = m.get(r, c) as f64;
                    if w < 0.01 {
                        continue;
                    }
                    ctx.set_global_alpha(w);
                    ctx.begin_path();
                    ctx.move_to(x0 + span * 0.15, y0 + step(m.rows.len(), r));
                    ctx.line_to(x0 + span * 0.85, y0 + step(m.cols.len(), c));
                    ctx.stroke();
                }
            }
        }
    }
    ctx.set_global_alpha(1.0);
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
    {
        let data = data.clone();
        Effect::new(move |_| {
            let opts = options.get();
            if let Some(c) = canvas.get() {
                draw(&c, &data, &opts);
            }
        });
    }
    let click = move |ev: web_sys::MouseEvent| {
        let (h, l) = ((ev.offset_x() as f64 / CELL) as usize, (ev.offset_y() as f64 / CELL) as usize);
        if l < layers && h < heads {
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
                <canvas node_ref=canvas data-testid="model-view" class="model-view-canvas" on:click=click
                    role="img" aria-label=format!("attention of all {layers} layers × {heads} heads; click one to open it in the head view")></canvas>
            </div>
        </div>
    }
}
