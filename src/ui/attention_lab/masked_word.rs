//! Masked words, as exBERT lets a student try them: click a word in the token list and the model reruns with the
//! mask token there; the masked-word head's five best guesses are shown with their probabilities, and the original
//! word's. With heads switched off, each is shown next to what the model said with every head on.

use leptos::prelude::*;

use super::AttentionState;
use crate::engine::attention::{pretty_token, TokenStyle};
use crate::engine::pipeline::{Prediction, Predictions};

/// The probability the same token had with every head on, if that run guessed it.
fn before(baseline: Option<&Predictions>, id: u32) -> Option<f32> {
    let b = baseline?;
    if b.original.id == id {
        return Some(b.original.prob);
    }
    b.top.iter().find(|p| p.id == id).map(|p| p.prob)
}

/// 0.0176, or 6.1e-5 for what four decimals would show as 0.0001.
fn probability(p: f32) -> String {
    if p < 1e-3 { format!("{p:.1e}") } else { format!("{p:.4}") }
}

/// One guess with its bar and probability; `was`: with heads off, its probability with every head on (`None`
/// inside: that run did not have it among its guesses).
pub(super) fn row(p: &Prediction, style: TokenStyle, was: Option<Option<f32>>, testid: &'static str) -> impl IntoView {
    // Prettified as the token list is (the raw token in the tooltip).
    let shown = pretty_token(&p.token, style, false);
    let was = was.map(|b| match b {
        Some(b) => format!("{} → ", probability(b)),
        None => "(not in the top 5) → ".to_string(),
    });
    view! {
        <li data-testid=testid data-token=p.token.clone() data-prob=p.prob.to_string()>
            <span class="prediction-token" title=p.token.clone()>{shown}</span>
            <span class="bar" style=format!("width: {:.1}%", p.prob * 100.0)></span>
            <span class="num">{was}{probability(p.prob)}</span>
        </li>
    }
}

#[component]
pub fn MaskedWord(lab: AttentionState) -> impl IntoView {
    move || {
        if lab.data.with(|d| d.as_ref().is_some_and(|d| d.causal)) {
            // A decoder guesses the next token instead (next_word.rs).
            return ().into_any();
        }
        if lab.masked_lm.get() == Some(false) {
            let name = lab.data.with(|d| d.as_ref().map(|d| d.model.clone())).unwrap_or_default();
            return view! {
                <p class="hint" data-testid="no-masked-lm">{format!(
                    "{name} has no masked-word head (a sentence-embedding model, trained without one): choose BERT, DistilBERT \
                     or RoBERTa to mask a word and see the model's guesses."
                )}</p>
            }
            .into_any();
        }
        let Some(p) = lab.predictions.get() else {
            return (lab.masked_lm.get() == Some(true))
                .then(|| view! { <p class="hint">"Click a word to mask it: the model guesses what goes there."</p> })
                .into_any();
        };
        let style = lab.data.with(|d| d.as_ref().map(|d| TokenStyle::of(&d.tokens))).unwrap_or(TokenStyle::WordPiece);
        let baseline = lab.baseline.get().and_then(|b| b.predictions).filter(|b| b.position == p.position);
        let compare = lab.data.with(|d| d.as_ref().is_some_and(|d| !d.heads_off.is_empty())) && baseline.is_some();
        let was = |t: &Prediction| compare.then(|| before(baseline.as_ref(), t.id));
        let rows = p.top.iter().map(|t| row(t, style, was(t), "prediction")).collect_view();
        view! {
            <section class="masked-word" data-testid="masked-word" aria-labelledby="masked-word-title">
                <h3 id="masked-word-title">{format!("“{}” masked (token {}): the model's guesses", pretty_token(&p.original.token, style, false), p.position)}</h3>
                {compare.then(|| view! { <p class="hint">"With the heads switched off; before the arrow: with every head on."</p> })}
                <ol class="predictions">{rows}</ol>
                <p>"The original token: "</p>
                <ol class="predictions original">{row(&p.original, style, was(&p.original), "original-prediction")}</ol>
            </section>
        }
        .into_any()
    }
}
