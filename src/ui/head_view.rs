//! The head view, as bertviz draws it: tokens in two columns, a line from each left token to each right token
//! per active head, opacity = weight / number of active heads, one colour per head. Click a head to toggle it
//! (the last one stays on), double-click to show only it (again: all heads). Hover a token to isolate its lines
//! and see, in the other column, one coloured box per head whose opacity is the weight.

use std::sync::Arc;

use leptos::prelude::*;

use super::draw::{head_colour, sized_context, stroke_lines, Columns, Stroke};
use super::state::pick_from_value;
use crate::engine::attention::{AttentionData, Label, Matrix, MatrixOptions, PairFilter, Pick};

/// Above this many lines (tokens × tokens × heads) they are drawn on a canvas under the SVG, not as SVG elements:
/// 144 tokens as SVG took 2.2 s per layer change, and 512 would stall the page. A hovered token's lines (at most
/// tokens × heads) are SVG, with their weights on them; in that mode lines and boxes under `FAINT` (1 % opacity or
/// less, invisible) are left out, which keeps a hover at 512 tokens to a few hundred elements instead of 12 000.
const MAX_SVG_LINES: usize = 20_000;
const FAINT: f32 = 0.01;

/// One column of token labels; focusing, hovering or tapping a token isolates its lines.
fn token_column(labels: &[Label], geometry: Columns, hover: RwSignal<Option<Hover>>, left: bool) -> impl IntoView {
    let (x, anchor, side) = if left {
        (geometry.left_text_x(), "end", "left")
    } else {
        (geometry.right_text_x(), "start", "right")
    };
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let this = if left { Hover::Left(i) } else { Hover::Right(i) };
            // The raw token as the tooltip (an SVG <title> in a group, so the <text> holds only what is shown).
            view! {
                <g class="token-label"><title>{l.raw.clone()}</title>
                <text class=format!("token {side}") class:special=l.special x=x y=geometry.y(i) text-anchor=anchor
                    dominant-baseline="middle" tabindex="0" role="button" aria-label=format!("token {}: {}", i, l.text)
                    data-raw=l.raw.clone()
                    on:pointerenter=move |ev: web_sys::PointerEvent| if ev.pointer_type() != "touch" { hover.set(Some(this)) }
                    on:pointerleave=move |ev: web_sys::PointerEvent| if ev.pointer_type() != "touch" { hover.set(None) }
                    // A touch screen has no hover: a tap isolates the token's lines, a second tap shows all again.
                    on:pointerup=move |ev: web_sys::PointerEvent| if ev.pointer_type() == "touch" {
                        hover.update(|h| *h = if *h == Some(this) { None } else { Some(this) })
                    }
                    on:focus=move |_| hover.set(Some(this)) on:blur=move |_| hover.set(None)>{l.text.clone()}</text>
                </g>
            }
        })
        .collect_view()
}

/// Heads get their colour; the mean of the heads (index `num_heads`) is drawn in the text colour.
fn line_colour(h: usize, num_heads: usize) -> &'static str {
    if h == num_heads { "currentColor" } else { head_colour(h) }
}

fn head_name(h: usize, num_heads: usize) -> String {
    if h == num_heads { "mean".into() } else { h.to_string() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hover {
    Left(usize),
    Right(usize),
}

#[component]
pub fn HeadView(
    data: Arc<AttentionData>,
    options: Signal<MatrixOptions>,
    /// One layer, or the mean of all; shared with the model view and head analysis, which open a layer/head here.
    layer: RwSignal<Pick>,
    /// Which heads are drawn (`num_heads` long).
    active: RwSignal<Vec<bool>>,
    /// Keep, per row, the strongest lines that make up this share of the attention (1 = all).
    #[prop(optional, into)]
    top_mass: Option<Signal<f32>>,
    /// The drawing's test id (`head-view`); the first-visit example's is its own, beside a real result's.
    #[prop(optional)]
    testid: Option<&'static str>,
) -> impl IntoView {
    let top_mass = top_mass.unwrap_or_else(|| Signal::derive(|| 1.0));
    let testid = testid.unwrap_or("head-view");
    // Draw the mean of the active heads as one set of lines instead of one set per head.
    let average_heads = RwSignal::new(false);
    let num_heads = data.num_heads;
    let num_layers = data.num_layers;
    let filter = RwSignal::new(PairFilter::All);
    let hover = RwSignal::new(None::<Hover>);
    let is_pair = data.is_pair();

    let matrices = {
        let data = data.clone();
        Memo::new(move |_| {
            let opts = MatrixOptions { filter: filter.get(), ..options.get() };
            let l = layer.get();
            let top = top_mass.get();
            // The rollout has averaged the heads itself: one matrix, drawn alone.
            let heads = if l == Pick::Rollout { vec![Pick::Mean] } else { (0..num_heads).map(Pick::One).collect() };
            let mut ms: Vec<Matrix> = heads.into_iter().map(|h| data.matrix(l, h, &opts)).collect();
            if top < 1.0 {
                ms = ms.iter().map(|m| m.keep_top_mass(top)).collect();
            }
            ms
        })
    };

    let toggle = move |h: usize| {
        active.update(|a| {
            let on = a.iter().filter(|&&x| x).count();
            if !(a[h] && on == 1) {
                a[h] = !a[h];
            }
        })
    };
    let solo = move |h: usize| {
        active.update(|a| {
            let only_this = a.iter().enumerate().all(|(i, &x)| x == (i == h));
            if only_this {
                a.iter_mut().for_each(|x| *x = true);
            } else {
                a.iter_mut().enumerate().for_each(|(i, x)| *x = i == h);
            }
        })
    };

    let geometry = Columns::default();
    // What is drawn: the matrices (plus their mean when averaging) and which of them. Hovering only redraws the
    // lines and boxes, not the tokens (re-creating the hovered element would lose the hover, and cost time).
    let rollout = Memo::new(move |_| layer.get() == Pick::Rollout);
    // A drawn matrix's colour and name: a head's, or (the mean of the heads, the rollout) the text colour.
    let style = move |h: usize| -> (&'static str, String) {
        if rollout.get_untracked() { ("currentColor", "rollout".into()) } else { (line_colour(h, num_heads), head_name(h, num_heads)) }
    };
    let drawn = Memo::new(move |_| {
        let mut ms = matrices.get();
        if rollout.get() {
            return (ms, vec![0]);
        }
        let act = active.get();
        if act.len() != num_heads || ms.is_empty() {
            return (ms, vec![]);
        }
        let mut heads: Vec<usize> = (0..num_heads).filter(|&h| act[h]).collect();
        if average_heads.get() {
            // One extra matrix, the mean of the active heads, drawn alone (index num_heads).
            let mut mean = ms[0].clone();
            mean.values.iter_mut().enumerate().for_each(|(i, v)| *v = heads.iter().map(|&h| ms[h].values[i]).sum::<f32>() / heads.len() as f32);
            ms.push(mean);
            heads = vec![num_heads];
        }
        (ms, heads)
    });
    let on_canvas = Memo::new(move |_| {
        drawn.with(|(ms, heads)| ms.first().is_some_and(|m| m.rows.len() * m.cols.len() * heads.len() > MAX_SVG_LINES))
    });
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let Some(c) = canvas.get() else { return };
        let hovered = hover.get().is_some();
        // Borrowed, not cloned: at 512 tokens the matrices are 12 MB.
        drawn.with(|(ms, heads)| {
            let Some(first) = ms.first() else { return };
            let (rows, cols) = (first.rows.len(), first.cols.len());
            let Some(ctx) = sized_context(&c, geometry.width(), geometry.height(rows.max(cols))) else { return };
            // While a token is hovered its lines are SVG; the canvas stays empty.
            if hovered {
                return;
            }
            let k = heads.len().max(1) as f32;
            let text = web_sys::window()
                .and_then(|w| w.get_computed_style(&c).ok().flatten())
                .and_then(|s| s.get_property_value("color").ok())
                .unwrap_or_else(|| "#000".into());
            for &h in heads {
                let m = &ms[h];
                let strokes = (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).map(|(r, c)| Stroke {
                    from: (geometry.line_start_x(), geometry.y(r)),
                    to: (geometry.line_end_x(), geometry.y(c)),
                    alpha: m.get(r, c) / k,
                });
                let colour = if h == num_heads || rollout.get_untracked() { text.as_str() } else { head_colour(h) };
                stroke_lines(&ctx, colour, 2.0, strokes);
            }
        });
    });
    // The lines as one SVG fragment set with `innerHTML`: at 16 tokens and 12 heads that is 3 072 lines of 11
    // attributes, and creating them one by one through the wasm↔DOM bridge (an element, then each attribute as a
    // string decoded on the JS side) cost about 90 ms of the main thread per draw; one string and the browser's
    // parser cost a fraction. Only numbers and fixed colour names go into it, never text from the user.
    let lines = move || {
        use std::fmt::Write;
        let hov = hover.get();
        let canvas_mode = on_canvas.get();
        let mut svg = String::new();
        if canvas_mode && hov.is_none() {
            return svg;
        }
        drawn.with(|(ms, heads)| {
            let Some(first) = ms.first() else { return };
            let (rows, cols) = (first.rows.len(), first.cols.len());
            let k = heads.len().max(1) as f32;
            // Zeros are lines a filter removed (threshold, pair filter, hidden special tokens).
            let least = if canvas_mode { FAINT } else { f32::MIN_POSITIVE };
            let (x1, x2) = (geometry.line_start_x(), geometry.line_end_x());
            for &h in heads {
                let m = &ms[h];
                let (colour, name) = style(h);
                for r in 0..rows {
                    if matches!(hov, Some(Hover::Left(x)) if x != r) {
                        continue;
                    }
                    for c in 0..cols {
                        if matches!(hov, Some(Hover::Right(x)) if x != c) {
                            continue;
                        }
                        let w = m.get(r, c);
                        if w < least {
                            continue;
                        }
                        let _ = write!(
                            svg,
                            r#"<line class="attn-line" x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="{colour}" stroke-width="2" stroke-opacity="{}" data-weight="{w}" data-head="{name}" data-from="{r}" data-to="{c}"/>"#,
                            geometry.y(r),
                            geometry.y(c),
                            w / k
                        );
                    }
                }
            }
        });
        svg
    };
    // Boxes in the opposite column while a token is hovered: one stripe per drawn head, opacity = weight.
    let boxes = move || {
        let Some(hv) = hover.get() else { return vec![] };
        let canvas_mode = on_canvas.get();
        drawn.with(|(ms, heads)| {
            let Some(first) = ms.first() else { return vec![] };
            let stripe_w = (geometry.column_width - 12.0) / heads.len().max(1) as f64;
            let (others, x0) = match hv {
                Hover::Left(_) => (first.cols.len(), geometry.right_text_x() - 3.0),
                Hover::Right(_) => (first.rows.len(), 3.0),
            };
            let least = if canvas_mode { FAINT } else { 0.0 };
            let mut boxes = Vec::new();
            for o in 0..others {
                for (i, &h) in heads.iter().enumerate() {
                    let w = match hv {
                        Hover::Left(r) => ms[h].get(r, o),
                        Hover::Right(c) => ms[h].get(o, c),
                    };
                    if w < least {
                        continue;
                    }
                    boxes.push(view! {
                        <rect class="attn-box" x=x0 + i as f64 * stripe_w y=geometry.y(o) - geometry.row_height / 2.0 + 1.0
                            width=stripe_w height=geometry.row_height - 2.0 fill=style(h).0 fill-opacity=w.to_string()
                            data-weight=w.to_string() data-head=style(h).1 />
                    });
                }
            }
            boxes
        })
    };
    // The token columns change with the sentence and the filters, not with the layer or the heads: a layer change
    // then redraws only the lines (at 512 tokens, rebuilding 1 024 token elements cost most of a second).
    let labels = Memo::new(move |_| matrices.with(|ms| ms.first().map(|m| (m.rows.clone(), m.cols.clone()))));
    let drawing = move || {
        let Some((rows, cols)) = labels.get() else { return ().into_any() };
        let height = geometry.height(rows.len().max(cols.len()));
        let left = token_column(&rows, geometry, hover, true);
        let right = token_column(&cols, geometry, hover, false);
        view! {
            <div class="head-view-layers">
            <canvas node_ref=canvas class="head-view-lines" data-testid=format!("{testid}-canvas") aria-hidden="true"
                style:display=move || if on_canvas.get() { "block" } else { "none" }></canvas>
            <svg class="head-view" data-testid=testid width=geometry.width() height=height
                data-render=move || if on_canvas.get() { "canvas" } else { "svg" }
                viewBox=format!("0 0 {} {}", geometry.width(), height) role="group" aria-label="attention lines between tokens">
                <g class="boxes">{boxes}</g>
                <g class="lines" inner_html=lines></g>
                <g class="tokens">{left}{right}</g>
            </svg>
            </div>
        }
        .into_any()
    };

    let touched = StoredValue::new(false);
    let head_buttons = (0..num_heads)
        .map(|h| {
            view! {
                <button class="head-square" style=format!("--head-colour: {}", head_colour(h)) class:on=move || active.get().get(h).copied().unwrap_or(false)
                    aria-pressed=move || active.get().get(h).copied().unwrap_or(false).to_string() aria-label=format!("head {h}") title=format!("head {h}: click to toggle, double-click to show only this head")
                    data-head=h.to_string() prop:disabled=move || rollout.get()
                    on:pointerdown=move |ev: web_sys::PointerEvent| touched.set_value(ev.pointer_type() == "touch")
                    // Two quick taps are two toggles on a touch screen, not a double-click's "only this head".
                    on:click=move |_| toggle(h) on:dblclick=move |_| if !touched.get_value() { solo(h) }>{h.to_string()}</button>
            }
        })
        .collect_view();

    view! {
        <div class="head-view-panel">
            <div class="controls">
                <label>"Layer "
                    <select data-testid="layer" on:change=move |ev| layer.set(pick_from_value(&event_target_value(&ev)))
                        prop:value=move || layer.get().as_value()>
                        {(0..num_layers).map(|l| view! { <option value=l.to_string()>{l.to_string()}</option> }).collect_view()}
                        <option value="mean">"mean of all layers"</option>
                        <option value="rollout">"rollout (all layers)"</option>
                    </select>
                </label>
                <label><input type="checkbox" data-testid="average-heads" prop:checked=move || average_heads.get() prop:disabled=move || rollout.get()
                    on:change=move |ev| average_heads.set(event_target_checked(&ev)) />" average the heads"</label>
                {is_pair.then(|| view! {
                    <label>" Attention "
                        <select data-testid="pair-filter" on:change=move |ev| {
                            let v = event_target_value(&ev);
                            filter.set(PairFilter::ALL.into_iter().find(|f| f.label() == v).unwrap_or_default());
                        }>
                            {PairFilter::ALL.into_iter().map(|f| view! { <option value=f.label()>{f.label()}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                <div class="heads" role="group" aria-label="heads">{head_buttons}</div>
            </div>
            {move || rollout.get().then(|| view! {
                <p class="hint" data-testid="rollout-note">"Attention rollout (Abnar & Zuidema, 2020): every layer's heads averaged,                     the residual connection added (half the layer's attention, half the token itself), and the layers multiplied                     from the first up. A line shows how much of a token's last state traces back to each input token;                     the head squares do not apply to it."</p>
            })}
            <div class="head-view-scroll">{drawing}</div>
        </div>
    }
}
