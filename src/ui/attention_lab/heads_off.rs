//! "What does this head do?" answered directly: switch heads off and watch what changes. A grid of every layer's
//! heads; clicking one switches it off (or on again) and the model reruns without it (engine::heads_off,
//! transformers' `head_mask`), so every view shows the ablated model. Each cell is coloured by how much that head's
//! attention changed from the same input with every head on: the heads after the ones switched off show what
//! they relied on.

use std::sync::Arc;

use leptos::prelude::*;

use super::AttentionState;
use crate::engine::attention::AttentionData;
use crate::engine::heads_off::HeadsOff;

/// "largest change in a head still on: 0.22 (layer 3, head 5)", or why there is no map.
fn summary(data: &AttentionData, change: Option<&Vec<Vec<f32>>>) -> String {
    if data.heads_off.is_empty() {
        return "Every head is on. Click heads to switch them off.".into();
    }
    let off = data.heads_off.heads().iter().map(|(l, h)| format!("{l}:{h}")).collect::<Vec<_>>().join(", ");
    let Some(change) = change else { return format!("Off: {off}.") };
    let on = |&(l, h): &(usize, usize)| !data.heads_off.contains(l, h);
    let cells = (0..data.num_layers).flat_map(|l| (0..data.num_heads).map(move |h| (l, h)));
    match cells.filter(on).map(|(l, h)| (change[l][h], l, h)).max_by(|a, b| a.0.total_cmp(&b.0)) {
        Some((c, l, h)) => format!("Off: {off}. Largest change in a head still on: {c:.3} (layer {l}, head {h})."),
        None => format!("Off: {off}."),
    }
}

#[component]
pub fn HeadsOffPanel(lab: AttentionState, data: Arc<AttentionData>) -> impl IntoView {
    let change = lab.baseline.with_untracked(|b| b.as_ref().and_then(|b| data.change_from(&b.data)));
    let toggle = move |l: usize, h: usize| {
        let mut heads = lab.heads_off.get_untracked().heads().to_vec();
        match heads.iter().position(|&x| x == (l, h)) {
            Some(i) => {
                heads.remove(i);
            }
            None => heads.push((l, h)),
        }
        lab.heads_off.set(HeadsOff::new(heads));
        lab.run();
    };
    let reset = move |_| {
        lab.heads_off.set(HeadsOff::default());
        lab.run();
    };
    let rows = (0..data.num_layers)
        .map(|l| {
            let cells = (0..data.num_heads)
                .map(|h| {
                    let off = data.heads_off.contains(l, h);
                    let c = change.as_ref().map_or(0.0, |m| m[l][h]);
                    // The change of a head still on, in red; a head that is off, struck through.
                    let style = if off { String::new() } else { format!("background: rgba(197,48,48,{:.3})", (c * 2.0).clamp(0.0, 1.0)) };
                    view! {
                        <td><button class="off-cell" class:is-off=off data-testid="off-cell" data-layer=l.to_string() data-head=h.to_string()
                            data-change=c.to_string() aria-pressed=off.to_string() style=style
                            title=format!("layer {l}, head {h}: {}", if off { "off; click to switch it on".to_string() } else { format!("attention changed by up to {c:.3}; click to switch it off") })
                            prop:disabled=move || lab.busy() on:click=move |_| toggle(l, h)>
                            <span class="sr-only">{format!("layer {l} head {h} {}: ", if off { "off" } else { "on" })}</span>
                            {if off { "off".to_string() } else { format!("{c:.2}") }}
                        </button></td>
                    }
                })
                .collect_view();
            view! { <tr><th scope="row">{format!("layer {l}")}</th>{cells}</tr> }
        })
        .collect_view();
    let heads = data.num_heads;
    let any_off = !data.heads_off.is_empty();
    view! {
        <h3 id="heads-off-title">"Switch heads off"</h3>
        <p class="hint">"Click a head to switch it off: the model runs again without it (its attention multiplied by 0 before \
            it is applied to the values, as transformers' head_mask does), and every view above shows the result. Red: how much \
            each head's attention changed from the same sentence with every head on (largest difference of a weight)."</p>
        <p data-testid="heads-off-summary">{summary(&data, change.as_ref())}
            {any_off.then(|| view! { " " <button type="button" data-testid="heads-on" prop:disabled=move || lab.busy() on:click=reset>"Switch all back on"</button> })}</p>
        <table class="head-analysis heads-off-grid" data-testid="heads-off-grid" aria-labelledby="heads-off-title">
            <thead><tr><th></th>{(0..heads).map(|h| view! { <th scope="col">{format!("head {h}")}</th> }).collect_view()}</tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
