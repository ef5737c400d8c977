//! Something to look at at once: on a first visit, before anything has run, the default sentence's attention in
//! all-MiniLM-L6-v2, computed in advance and shipped inside the site (engine::attention's example format, 17 kB),
//! drawn in the head view and marked as an example. It goes as soon as the sentence or the model changes, and the
//! real result (from the model this browser downloads) replaces it.

use std::sync::Arc;

use leptos::prelude::*;

use super::AttentionState;
use crate::engine::attention::{decode_example, AttentionData, Pick};
use crate::engine::catalogue::{find, parse_choice};
use crate::ui::head_view::HeadView;

/// Made by `nlu-lab attention --model all-MiniLM-L6-v2 --text "…" --format example` (see README); a native test
/// holds it to the real model's attention.
const EXAMPLE_JSON: &str = include_str!("../../../web/examples/minilm-attention.json");
const EXAMPLE_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn example() -> Option<Arc<AttentionData>> {
    decode_example(EXAMPLE_JSON).ok().map(Arc::new)
}

/// "86.7 MB", the model's weights as the catalogue pins them (in the status line's units).
fn weights_size() -> Option<String> {
    Some(crate::ui::export::format_bytes(find(EXAMPLE_REPO)?.file("model.safetensors")?.size?))
}

const HINT_START: &str = "all-MiniLM-L6-v2's attention for this sentence, shipped with the page so that there is something to \
    look at at once: layer 0, every head; pick a layer or a head. Press Run to compute it in your browser";
const HINT_END: &str = ": the real result replaces this one, with the model view, the neuron view (queries and keys) and the head analysis.";

#[component]
pub fn Example(lab: AttentionState) -> impl IntoView {
    let Some(data) = example() else { return ().into_any() };
    // Its own layer and heads: nothing a student does here carries over to the real result.
    let layer = RwSignal::new(Pick::One(0));
    let active = RwSignal::new(vec![true; data.num_heads]);
    let text = data.text.clone();
    let shown = move || {
        lab.data.with(Option::is_none)
            && lab.text.with(|t| t.trim() == text)
            && lab.text_b.with(|b| b.trim().is_empty())
            && parse_choice(&lab.model.get()).0 == EXAMPLE_REPO
    };
    let download = weights_size().map(|s| format!(" (the first time, its {s} of weights download once)")).unwrap_or_default();
    let options = lab.options;
    view! {
        {move || shown().then(|| view! {
            <section class="example" data-testid="example" aria-labelledby="example-title">
                <h3 id="example-title">"Example, computed in advance"</h3>
                <p class="hint">{HINT_START}{download.clone()}{HINT_END}</p>
                <HeadView data=data.clone() options=options layer=layer active=active testid="example-head-view" />
            </section>
        })}
    }
    .into_any()
}
