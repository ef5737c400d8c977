//! Compare: a second sentence (or model) drawn beside the first, same layer and heads.

use std::sync::Arc;

use leptos::prelude::*;

use super::{AttentionJob, AttentionState};
use crate::engine::attention::{AttentionData, Pick};
use crate::engine::catalogue::Lab;
use crate::ui::state::CacheState;
use crate::ui::head_view::HeadView;
use crate::ui::task::WorkerTask;

/// The compared sentence, its model, its result, and the worker task that computes it.
#[derive(Clone, Copy)]
pub struct CompareState {
    pub model: RwSignal<String>,
    pub text: RwSignal<String>,
    pub data: RwSignal<Option<Arc<AttentionData>>>,
    pub task: WorkerTask<AttentionJob>,
}

impl CompareState {
    pub fn new(model: String) -> Self {
        let data = RwSignal::new(None);
        let task = WorkerTask::new(move |job: &AttentionJob, progress| {
            let job = job.clone();
            async move {
                let r = job.run(progress).await?;
                data.set(Some(Arc::new(r.data)));
                Ok(r.line)
            }
        });
        Self { model: RwSignal::new(model), text: RwSignal::new("The dog sat on the log because it was tired.".to_string()), data, task }
    }
}

#[component]
pub fn Compare(lab: AttentionState, data: Arc<AttentionData>) -> impl IntoView {
    let compare = lab.compare;
    let (layer, active, options) = (lab.layer, lab.active, lab.options);
    view! {
        <details class="compare" data-testid="compare">
            <summary>"Compare with another sentence or model"</summary>
            <div class="input-form">
                <label for="compare-model">"Model"</label>
                <select id="compare-model" prop:value=move || compare.model.get() on:change=move |ev| compare.model.set(event_target_value(&ev))>
                    {CacheState::expect().option_views(Lab::Attention, compare.model, |_, o| match &o.pack {
                        Some(p) => format!("{} ({})", o.entry.display_name, p.precision_label()),
                        None => o.entry.display_name.to_string(),
                    })}
                </select>
                <label for="compare-text">"Sentence"</label>
                <textarea id="compare-text" prop:value=move || compare.text.get() on:input=move |ev| compare.text.set(event_target_value(&ev))></textarea>
                <button type="button" id="run-compare" prop:disabled=move || lab.busy() on:click=move |_| lab.run_compare()>"Compare"</button>
            </div>
            <p class="status" role="status">{move || compare.task.status()}</p>
            {move || compare.data.get().map(|c| {
                let d = data.clone();
                // Same layer and heads on both sides when the models have the same shape.
                let same_shape = c.num_layers == d.num_layers && c.num_heads == d.num_heads;
                let (cl, ca) = if same_shape { (layer, active) } else { (RwSignal::new(Pick::One(0)), RwSignal::new(vec![true; c.num_heads])) };
                view! {
                    <div class="side-by-side">
                        <div><h4>{format!("{}: {}", d.model, d.text)}</h4><HeadView data=d.clone() options=options layer=layer active=active /></div>
                        <div data-testid="compare-view"><h4>{format!("{}: {}", c.model, c.text)}</h4><HeadView data=c options=options layer=cl active=ca /></div>
                    </div>
                }
            })}
        </details>
    }
}
