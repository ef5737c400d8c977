//! The assignment walkthrough: a side panel with the course's steps (§3 attention, §4 CLIP). Each step has a
//! button that takes the student to the right control (switching tab, scrolling, focusing it) and a check mark
//! that the labs set from their own state (what ran, what was opened, the CLIP verdict, the export).

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::state::{GuideProgress, Tab};
use crate::engine::caption_pairs::is_confusing;

/// A sentence where attention has something to show: "it" refers back to "animal".
pub const SUGGESTED_SENTENCE: &str = "The animal didn't cross the street because it was too tired.";

/// Show `tab`, then (once it is drawn) focus `selector` and scroll it to the middle of the screen. `missing` tells
/// whether the control was not there (yet), so the step can say what to do first.
fn go_to(tab: RwSignal<Tab>, to: Tab, selector: &'static str, missing: RwSignal<bool>) {
    tab.set(to);
    request_animation_frame(move || {
        let element = web_sys::window().and_then(|w| w.document()).and_then(|d| d.query_selector(selector).ok().flatten());
        missing.set(element.is_none());
        let Some(element) = element else { return };
        if let Some(html) = element.dyn_ref::<web_sys::HtmlElement>() {
            let _ = html.focus();
        }
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Center);
        element.scroll_into_view_with_scroll_into_view_options(&options);
    });
}

/// One step: number, title, what to do, the button(s), and the check mark.
#[component]
fn Step(
    id: &'static str,
    title: &'static str,
    #[prop(into)] done: Signal<bool>,
    /// Shown when a "go" button found no control to go to.
    #[prop(optional)]
    missing_hint: &'static str,
    #[prop(optional)] missing: Option<RwSignal<bool>>,
    children: Children,
) -> impl IntoView {
    view! {
        <li class="guide-step" class:done=move || done.get() data-testid="guide-step" data-step=id data-done=move || done.get().to_string()>
            <span class="guide-mark" role="img" aria-label=move || if done.get() { "done" } else { "not done yet" }>
                {move || if done.get() { "✓" } else { "○" }}
            </span>
            <div>
                <strong>{title}</strong>
                {children()}
                {move || missing.is_some_and(|m| m.get()).then(|| view! { <p class="hint" role="status">{missing_hint}</p> })}
            </div>
        </li>
    }
}

#[component]
pub fn Guide(tab: RwSignal<Tab>, progress: GuideProgress) -> impl IntoView {
    let g = progress;
    // Per step that needs earlier work: whether its "go" button found nothing to go to.
    let neuron_missing = RwSignal::new(false);
    let analysis_missing = RwSignal::new(false);
    let export_missing = RwSignal::new(false);
    let top_text = move || match g.clip_top.get() {
        Some(top) => format!("Now: the top probability is {top:.3}."),
        None => "No classification yet.".into(),
    };
    view! {
        <aside class="guide" id="guide" aria-labelledby="guide-title" data-testid="guide">
            <h2 id="guide-title">"Guide: the assignment"</h2>
            <h3>"§3 Attention (BERT)"</h3>
            <ol class="guide-steps">
                <Step id="sentence" title="1. Choose a sentence" done=g.sentence_chosen>
                    <p>"Type one in “Sentence A”, ideally with a word whose meaning depends on another (a pronoun, say)."</p>
                    <button type="button" data-testid="guide-suggest" on:click=move |_| {
                        g.suggested_sentence.set(Some(SUGGESTED_SENTENCE.into()));
                        g.sentence_chosen.set(true);
                        go_to(tab, Tab::Attention, "#text-a", RwSignal::new(false));
                    }>"Fill in a suggested sentence"</button>
                    " "
                    <button type="button" on:click=move |_| go_to(tab, Tab::Attention, "#text-a", RwSignal::new(false))>"Go to the sentence"</button>
                </Step>
                <Step id="head-view" title="2. See the self-attention" done=g.attention_ran>
                    <p>"Press Run. In the head view, a line goes from each token on the left to each token on the right; its strength is the attention. Hover a token to see only its lines."</p>
                    <button type="button" data-testid="guide-go-run" on:click=move |_| {
                        let to = if g.attention_ran.get_untracked() { "#head-view-title" } else { "#run" };
                        go_to(tab, Tab::Attention, to, RwSignal::new(false));
                    }>{move || if g.attention_ran.get() { "Show the head view" } else { "Go to Run" }}</button>
                </Step>
                <Step id="neuron" title="3. Open Q, K and q×k" done=g.neuron_opened missing=neuron_missing
                    missing_hint="Run a sentence first (step 2).">
                    <p>"In the neuron view, choose a layer, a head and a token: you see its query q, every key k, the product q×k, the score q·k/√d, and the softmax — which is that token's row of attention."</p>
                    <button type="button" data-testid="guide-go-neuron"
                        on:click=move |_| go_to(tab, Tab::Attention, "[data-testid=neuron-token]", neuron_missing)>"Open the neuron view"</button>
                </Step>
                <Step id="compare" title="4. Compare layers and heads" done=g.heads_compared missing=analysis_missing
                    missing_hint="Run a sentence first (step 2).">
                    <p>"The head analysis is a layers × heads heatmap. Pick “attention to [SEP]”: which heads look at [SEP]? Then “attention to previous token”: which look at the previous token? Are they in early or late layers?"</p>
                    <p>"Click a cell to open that head in the head view, and change the layer to compare."</p>
                    <button type="button" data-testid="guide-go-analysis"
                        on:click=move |_| go_to(tab, Tab::Attention, "[data-testid=statistic]", analysis_missing)>"Open the head analysis"</button>
                </Step>
            </ol>
            <h3>"§4 CLIP"</h3>
            <ol class="guide-steps">
                <Step id="image" title="1. Choose a hard image" done=g.image_chosen>
                    <p>"One that two different descriptions could fit: an odd angle, a drawing of a real thing, two things at once."</p>
                    <button type="button" data-testid="guide-go-image"
                        on:click=move |_| go_to(tab, Tab::Clip, "[data-testid=image-file]", RwSignal::new(false))>"Choose an image"</button>
                </Step>
                <Step id="captions" title="2. Write two captions" done=g.captions_written>
                    <p>"Two captions that both could describe the image."</p>
                    <button type="button" data-testid="guide-go-captions"
                        on:click=move |_| go_to(tab, Tab::Clip, "input.caption", RwSignal::new(false))>"Go to the captions"</button>
                </Step>
                <Step id="probabilities" title="3. Read the probabilities" done=Signal::derive(move || g.clip_top.get().is_some())>
                    <p>"Press Classify: CLIP gives each caption a probability (a softmax over the captions of its image–text similarity)."</p>
                    <button type="button" data-testid="guide-go-classify"
                        on:click=move |_| go_to(tab, Tab::Clip, "#classify", RwSignal::new(false))>"Go to Classify"</button>
                </Step>
                <Step id="confusing" title="4. Iterate until the top is below 0.6"
                    done=Signal::derive(move || g.clip_top.get().is_some_and(is_confusing))>
                    <p>"Change the captions (or the image) and classify again until no caption gets 0.6 or more. "{top_text}</p>
                    <p>"Stuck? The caption search scores many candidates at once and ranks the pairs; “Use this pair” takes one."</p>
                    <button type="button" data-testid="guide-go-search"
                        on:click=move |_| go_to(tab, Tab::Clip, "[data-testid=candidates]", RwSignal::new(false))>"Go to the caption search"</button>
                </Step>
                <Step id="export" title="5. Export the submission" done=g.exported missing=export_missing
                    missing_hint="Classify first (step 3): the hand-in buttons come with the result.">
                    <p>"Download hand-in gives one zip: your image as you chose it, the PNG card and the JSON (the captions, probabilities, model and weights). Your teacher checks it with nlu-lab check."</p>
                    <button type="button" data-testid="guide-go-export"
                        on:click=move |_| go_to(tab, Tab::Clip, "[data-testid=submit-handin]", export_missing)>"Go to the hand-in"</button>
                </Step>
            </ol>
        </aside>
    }
}
