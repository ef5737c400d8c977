//! The caption search: many candidate captions scored in one batch, the pairs ranked by how confusing they are, and
//! "Use this pair" to take one into the captions.

use leptos::prelude::*;

use super::ClipState;

/// A ranked pair, by caption text (as scored, template applied).
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionPair {
    pub a: String,
    pub b: String,
    pub top: f32,
}

/// How many of the ranked pairs are shown.
pub const SHOWN_PAIRS: usize = 10;

#[component]
pub fn PairSearch(lab: ClipState) -> impl IntoView {
    let candidates = RwSignal::new(String::new());
    let lines = move || candidates.get_untracked().lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    view! {
        <h3>"Search for a confusing pair"</h3>
        <p class="hint" id="candidates-hint">"One candidate caption per line; all are scored in one batch and the pairs ranked by how close their top probability is to 0.5."</p>
        <label for="candidates" class="sr-only">"Candidate captions, one per line"</label>
        <textarea id="candidates" data-testid="candidates" aria-describedby="candidates-hint" prop:value=move || candidates.get() on:input=move |ev| candidates.set(event_target_value(&ev))></textarea>
        <button type="button" data-testid="search" prop:disabled=move || lab.task.busy().get()
            on:click=move |_| lab.classify(lines(), true)>"Rank pairs"</button>
        <ol class="ranked" data-testid="ranked">
            {move || lab.ranked.get().into_iter().map(|CaptionPair { a, b, top }| {
                let pair = vec![a.clone(), b.clone()];
                view! { <li><span>{format!("{a} / {b} — top {top:.3}")}</span>
                    <button type="button" on:click=move |_| lab.captions.set(pair.clone())>"Use this pair"</button></li> }
            }).collect_view()}
        </ol>
    }
}
