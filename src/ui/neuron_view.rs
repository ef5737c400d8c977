//! The neuron view: for one token in one head, its query q, every key k, the elementwise q×k, q·k/√d and the
//! softmax — whose bars are the model's attention row. Cells are coloured by sign (blue +, orange −) with
//! intensity by magnitude, as bertviz does.

use std::sync::Arc;

use leptos::prelude::*;

use super::state::{self, GuideProgress};
use crate::engine::attention::AttentionData;

fn cell_colour(v: f32, scale: f32) -> String {
    let a = (v.abs() / scale.max(1e-9)).min(1.0);
    if v >= 0.0 {
        format!("rgba(31,119,180,{a:.3})")
    } else {
        format!("rgba(255,127,14,{a:.3})")
    }
}

fn cells(values: &[f32], scale: f32) -> impl IntoView {
    let spans = values
        .iter()
        .map(|&v| view! { <span class="cell" style=format!("background: {}", cell_colour(v, scale)) title=format!("{v:.4}")></span> })
        .collect_view();
    view! { <div class="vector-cells">{spans}</div> }
}

#[component]
pub fn NeuronView(
    data: Arc<AttentionData>,
    /// The layer and head shown first (an embedded neuron view takes them from the link).
    #[prop(optional)]
    start: Option<(usize, usize)>,
) -> impl IntoView {
    let (start_layer, start_head) = start.filter(|&(l, h)| l < data.num_layers && h < data.num_heads).unwrap_or((0, 0));
    let layer = RwSignal::new(start_layer);
    let head = RwSignal::new(start_head);
    // Choosing a layer, head or token is the guide's "opened Q/K/q×k".
    let guide = GuideProgress::get();
    let used = move || state::mark(guide, |g| g.neuron_opened);
    let token = RwSignal::new(1usize.min(data.len() - 1));
    let (num_layers, num_heads) = (data.num_layers, data.num_heads);
    let tokens = data.display_tokens();
    let shown = tokens.clone();

    let table = move || {
        let Some(v) = data.neuron(layer.get(), head.get(), token.get()) else {
            return view! { <p>"This result has no queries and keys; run again with them captured."</p> }.into_any();
        };
        let vmax = |xs: &[f32]| xs.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let qk_scale = v.keys.iter().map(|k| vmax(k)).fold(vmax(&v.query), f32::max);
        let prod_scale = v.products.iter().map(|p| vmax(p)).fold(0.0, f32::max);
        let row = data.head(layer.get(), head.get())[token.get() * data.len()..(token.get() + 1) * data.len()].to_vec();
        let rows = (0..data.len())
            .map(|j| {
                if j >= v.softmax.len() {
                    // Causal attention: a later token's key, which this query does not see.
                    return view! {
                        <tr class="masked-key" data-testid="masked-key">
                            <th scope="row" class="neuron-token" title=data.tokens[j].clone()>{shown[j].clone()}</th>
                            <td class="vector">{cells(&v.keys[j], qk_scale)}</td>
                            <td colspan="3" class="note">"after the query: masked (causal)"</td>
                        </tr>
                    }
                    .into_any();
                }
                let p = v.softmax[j];
                view! {
                    <tr>
                        <th scope="row" class="neuron-token" title=data.tokens[j].clone()>{shown[j].clone()}</th>
                        <td class="vector">{cells(&v.keys[j], qk_scale)}</td>
                        <td class="vector">{cells(&v.products[j], prod_scale)}</td>
                        <td class="num">{format!("{:.2}", v.scores[j])}</td>
                        <td class="softmax"><span class="bar" data-testid="softmax-bar" data-weight=p.to_string()
                            data-attention=row[j].to_string() style:width=format!("{:.1}%", p * 100.0)></span>
                            <span class="num">{format!("{p:.3}")}</span></td>
                    </tr>
                }
                .into_any()
            })
            .collect_view();
        view! {
            <table class="neuron-table" data-testid="neuron-view" tabindex="0" aria-label="neuron view: query, keys, q × k, q·k / √d, softmax">
                <thead><tr><th></th><th>"key k"</th><th>"q × k"</th><th>"q·k / √d"</th><th>"softmax"</th></tr></thead>
                <tbody>
                    <tr class="query-row"><th scope="row">{format!("query q ({})", shown[token.get()])}</th>
                        <td class="vector">{cells(&v.query, qk_scale)}</td><td></td><td></td><td></td></tr>
                    {rows}
                </tbody>
            </table>
        }
        .into_any()
    };

    view! {
        <div class="neuron-view">
            <div class="controls">
                <label>"Layer " <select data-testid="neuron-layer"
                    on:change=move |ev| { layer.set(event_target_value(&ev).parse().unwrap_or(0)); used(); }>
                    {(0..num_layers).map(|l| view! { <option value=l.to_string() selected=l == start_layer>{l.to_string()}</option> }).collect_view()}
                </select></label>
                <label>" Head " <select data-testid="neuron-head"
                    on:change=move |ev| { head.set(event_target_value(&ev).parse().unwrap_or(0)); used(); }>
                    {(0..num_heads).map(|h| view! { <option value=h.to_string() selected=h == start_head>{h.to_string()}</option> }).collect_view()}
                </select></label>
                <label>" Token " <select data-testid="neuron-token" prop:value=move || token.get().to_string()
                    on:change=move |ev| { token.set(event_target_value(&ev).parse().unwrap_or(0)); used(); }>
                    {tokens.iter().enumerate().map(|(i, t)| view! { <option value=i.to_string()>{format!("{i}: {t}")}</option> }).collect_view()}
                </select></label>
            </div>
            {table}
        </div>
    }
}
