//! The "Show" options every attention view draws with: hide [CLS]/[SEP] (and renormalise the rows), whole words,
//! and the share of each row the strongest lines make up.

use leptos::prelude::*;

use crate::engine::attention::MatrixOptions;

#[derive(Clone, Copy)]
pub struct ShowOptions {
    pub hide_special: RwSignal<bool>,
    pub renormalize: RwSignal<bool>,
    pub words: RwSignal<bool>,
    /// Percent of each row's attention the strongest lines make up (100 = all lines).
    pub top_percent: RwSignal<u32>,
}

impl ShowOptions {
    pub fn new() -> Self {
        Self {
            hide_special: RwSignal::new(false),
            renormalize: RwSignal::new(false),
            words: RwSignal::new(false),
            top_percent: RwSignal::new(100),
        }
    }

    /// The matrices' options (reactive).
    pub fn matrix(self) -> Signal<MatrixOptions> {
        Signal::derive(move || MatrixOptions {
            hide_special: self.hide_special.get(),
            renormalize: self.renormalize.get(),
            words: self.words.get(),
            ..Default::default()
        })
    }

    /// The head view's share of each row, 0–1 (reactive).
    pub fn top_mass(self) -> Signal<f32> {
        Signal::derive(move || self.top_percent.get() as f32 / 100.0)
    }
}

#[component]
pub fn ShowFieldset(show: ShowOptions) -> impl IntoView {
    let ShowOptions { hide_special, renormalize, words, top_percent } = show;
    view! {
        <fieldset class="options">
            <legend>"Show"</legend>
            <label><input type="checkbox" data-testid="hide-special" prop:checked=move || hide_special.get()
                on:change=move |ev| hide_special.set(event_target_checked(&ev)) />" hide [CLS]/[SEP]"</label>
            <label><input type="checkbox" data-testid="renormalize" prop:checked=move || renormalize.get()
                prop:disabled=move || !hide_special.get()
                on:change=move |ev| renormalize.set(event_target_checked(&ev)) />" renormalise rows"</label>
            <label><input type="checkbox" data-testid="words" prop:checked=move || words.get()
                on:change=move |ev| words.set(event_target_checked(&ev)) />" whole words"</label>
            <label>" strongest lines: "
                <input type="range" min="10" max="100" step="5" data-testid="top-mass" aria-label="show the strongest lines making up this share of each row"
                    prop:value=move || top_percent.get().to_string()
                    on:input=move |ev| top_percent.set(event_target_value(&ev).parse().unwrap_or(100)) />
                {move || format!(" {} % of each row", top_percent.get())}</label>
        </fieldset>
    }
}
