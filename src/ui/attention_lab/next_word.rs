//! A decoder's guesses for the token after the text (GPT-2's next-token head, `GPT2LMHeadModel`): the five most
//! probable with their probabilities, and with heads switched off what each had with every head on.

use leptos::prelude::*;

use super::masked_word::row;
use super::AttentionState;
use crate::engine::attention::TokenStyle;
use crate::engine::pipeline::Prediction;

/// The end of `text`, at most about `chars` characters from a word start: "…because it was tired.".
fn text_tail(text: &str, chars: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().skip(count - chars).collect();
    // From the next word on, unless the cut fell inside one long word.
    let from_word = cut.split_once(' ').map(|(_, rest)| rest).filter(|rest| !rest.is_empty()).unwrap_or(&cut);
    format!("…{from_word}")
}

#[component]
pub fn NextWord(lab: AttentionState) -> impl IntoView {
    move || {
        let next = lab.next.get();
        let Some(data) = lab.data.get().filter(|d| d.causal && !next.is_empty()) else { return ().into_any() };
        let style = TokenStyle::ByteLevel;
        let tail = text_tail(&data.text, 40);
        let baseline = lab.baseline.get().filter(|b| b.data.model == data.model && b.data.text == data.text).map(|b| b.next);
        let compare = !data.heads_off.is_empty() && baseline.is_some();
        let was = |p: &Prediction| compare.then(|| baseline.as_ref().and_then(|b| b.iter().find(|x| x.id == p.id)).map(|x| x.prob));
        let rows = next.iter().map(|p| row(p, style, was(p), "next-token")).collect_view();
        view! {
            <section class="masked-word" data-testid="next-word" aria-labelledby="next-word-title">
                <h3 id="next-word-title">{format!("After “{tail}”: the model's guesses for the next token")}</h3>
                {compare.then(|| view! { <p class="hint">"With the heads switched off; before the arrow: with every head on."</p> })}
                <ol class="predictions">{rows}</ol>
            </section>
        }
        .into_any()
    }
}
