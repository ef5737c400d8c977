//! The attention lab: pick a model, type a sentence (or a pair), run it in the worker, look at the views.
//!
//! `AttentionState` holds the lab's state and its worker tasks (the run, and the compared sentence's); the parts are
//! components of their own: the sentence form, the "Show" options, the tokens, the views, the export bar, compare.

mod compare;
mod example;
mod export_bar;
mod heads_off;
mod masked_word;
mod next_word;
mod options;

use std::sync::Arc;

use leptos::prelude::*;

use self::compare::{Compare, CompareState};
use self::example::Example;
use self::export_bar::ExportBar;
use self::heads_off::HeadsOffPanel;
use self::masked_word::MaskedWord;
use self::next_word::NextWord;
use self::options::{ShowFieldset, ShowOptions};
use super::embed::{EmbedPanel, EmbedView};
use super::head_analysis::HeadAnalysis;
use super::head_view::HeadView;
use super::model_view::ModelView;
use super::neuron_view::NeuronView;
use super::state::{self, CacheState, GuideProgress};
use super::task::{status_line, ProgressLine, Ran, WorkerTask};
use crate::engine::attention::{AttentionData, MatrixOptions, Pick};
use crate::engine::catalogue::Lab;
use crate::engine::heads_off::HeadsOff;
use crate::engine::pipeline::{Prediction, Predictions};
use crate::web::hub::model_source;
use crate::web::messages::ModelSource;
use crate::web::permalink::{self, AttentionLink};
use crate::web::worker_client::{self, WorkerError};

/// One run of a sentence (and an optional second one) under a model.
#[derive(Clone)]
pub struct AttentionJob {
    source: ModelSource,
    text: String,
    text_b: Option<String>,
    /// Heads switched off for this run.
    heads_off: HeadsOff,
    /// With heads off: also run with every head on first (the change map's baseline), when none is kept for this
    /// model and input.
    with_baseline: bool,
    /// The token to mask, for the masked-word head's guesses.
    mask: Option<usize>,
}

/// What one job gives: the attention, the guesses for a masked token, whether the model can guess at all, a
/// decoder's guesses for the next token.
struct JobResult {
    data: AttentionData,
    predictions: Option<Predictions>,
    masked_lm: bool,
    next: Vec<Prediction>,
    line: String,
}

impl AttentionJob {
    /// The job for the selector's `choice` (a catalogue model on this page's hub, or a pack the site serves), or
    /// why there is none.
    fn new(choice: String, text: String, text_b: String) -> Result<Self, String> {
        // A decoder reads one text (the form greys sentence B out for it).
        let text_b = Some(text_b).filter(|b| !b.trim().is_empty() && !state::is_decoder(&choice));
        let source = model_source(&choice)?;
        Ok(Self { source, text, text_b, heads_off: HeadsOff::default(), with_baseline: false, mask: None })
    }

    /// Whether `baseline` is this job's input (and masked token) with every head on.
    fn is_baseline(&self, baseline: &Baseline) -> bool {
        baseline.source == self.source
            && baseline.data.text == self.text
            && baseline.data.text_b == self.text_b
            && baseline.predictions.as_ref().map(|p| p.position) == self.mask
    }

    /// Ask the worker; the attention (and guesses) and its status line.
    async fn run(self, progress: ProgressLine) -> Result<JobResult, WorkerError> {
        let run = worker_client::attention(self.source, self.text, self.text_b, self.heads_off, self.mask, move |p| progress.show(p))
            .await?;
        let s = &run.stats;
        let times = serde_json::json!({ "read_ms": s.load.ms - s.load.build_ms, "build_ms": s.load.build_ms, "forward_ms": s.forward_ms });
        crate::web::js::mark("attention-result", Some(&times));
        let d = run.output;
        let line = status_line(Ran::Tokens { count: d.data.len(), dropped: d.data.dropped_tokens }, &run.stats);
        Ok(JobResult { data: d.data, predictions: d.predictions, masked_lm: d.masked_lm, next: d.next, line })
    }
}

/// The last result with every head on, for the change map of a run with heads off.
#[derive(Clone)]
pub struct Baseline {
    source: ModelSource,
    pub data: Arc<AttentionData>,
    /// The masked token's guesses with every head on, when a token was masked.
    pub predictions: Option<Predictions>,
    /// A decoder's next-token guesses with every head on.
    pub next: Vec<Prediction>,
}

/// The attention lab's state, shared by its parts.
#[derive(Clone, Copy)]
pub struct AttentionState {
    pub model: RwSignal<String>,
    pub text: RwSignal<String>,
    pub text_b: RwSignal<String>,
    /// The last result.
    pub data: RwSignal<Option<Arc<AttentionData>>>,
    /// The head view's layer and active heads, which the model view and head analysis also set.
    pub layer: RwSignal<Pick>,
    pub active: RwSignal<Vec<bool>>,
    /// Heads switched off (the model reruns without them), and the same input's result with all on.
    pub heads_off: RwSignal<HeadsOff>,
    pub baseline: RwSignal<Option<Baseline>>,
    /// The token to mask (the model reruns with the mask token there), its guesses, and whether the model has a
    /// masked-word head (unknown before its first run).
    pub mask: RwSignal<Option<usize>>,
    pub predictions: RwSignal<Option<Arc<Predictions>>>,
    pub masked_lm: RwSignal<Option<bool>>,
    /// A decoder's guesses for the token after the text (empty for an encoder).
    pub next: RwSignal<Arc<Vec<Prediction>>>,
    pub show: ShowOptions,
    pub options: Signal<MatrixOptions>,
    /// A permalink's layer and heads, applied once its result arrives.
    pending_link: RwSignal<Option<AttentionLink>>,
    /// A problem before any worker call (no hub for the model).
    notice: RwSignal<Option<String>>,
    pub run_task: WorkerTask<AttentionJob>,
    pub compare: CompareState,
}

impl AttentionState {
    fn new(link: &AttentionLink, cache: CacheState, guide: Option<GuideProgress>) -> Self {
        let model = link.model.clone().filter(|m| state::is_offered(m)).unwrap_or_else(|| state::default_choice(Lab::Attention));
        let data = RwSignal::new(None::<Arc<AttentionData>>);
        let layer = RwSignal::new(Pick::One(0));
        let active = RwSignal::new(Vec::<bool>::new());
        let pending_link = RwSignal::new(None::<AttentionLink>);
        let baseline = RwSignal::new(None::<Baseline>);
        let predictions = RwSignal::new(None::<Arc<Predictions>>);
        let masked_lm = RwSignal::new(None::<bool>);
        let next = RwSignal::new(Arc::new(Vec::<Prediction>::new()));
        let run_task = WorkerTask::new(move |job: &AttentionJob, progress| {
            let job = job.clone();
            async move {
                if job.with_baseline {
                    let all_on = AttentionJob { heads_off: HeadsOff::default(), with_baseline: false, ..job.clone() };
                    let r = all_on.run(progress).await?;
                    baseline.set(Some(Baseline { source: job.source.clone(), data: Arc::new(r.data), predictions: r.predictions, next: r.next }));
                }
                let source = job.source.clone();
                let outcome = job.run(progress).await;
                if let Ok(JobResult { data: d, .. }) = &outcome {
                    if matches!(layer.get_untracked(), Pick::One(l) if l >= d.num_layers) {
                        layer.set(Pick::One(0));
                    }
                    if active.get_untracked().len() != d.num_heads {
                        active.set(vec![true; d.num_heads]);
                    }
                    if let Some(pending) = pending_link.get_untracked() {
                        pending_link.set(None);
                        if let Some(l) = pending.layer.filter(|l| !matches!(l, Pick::One(l) if *l >= d.num_layers)) {
                            layer.set(l);
                        }
                        if let Some(hs) = pending.heads.filter(|hs| !hs.is_empty() && hs.iter().all(|&h| h < d.num_heads)) {
                            active.set((0..d.num_heads).map(|h| hs.contains(&h)).collect());
                        }
                    }
                }
                cache.refresh();
                let JobResult { data: d, predictions: p, masked_lm: can_mask, next: n, line } = outcome?;
                let d = Arc::new(d);
                if d.heads_off.is_empty() {
                    baseline.set(Some(Baseline { source, data: d.clone(), predictions: p.clone(), next: n.clone() }));
                }
                masked_lm.set(Some(can_mask));
                predictions.set(p.map(Arc::new));
                next.set(Arc::new(n));
                data.set(Some(d));
                state::mark(guide, |g| g.attention_ran);
                Ok(line)
            }
        });
        let show = ShowOptions::new();
        Self {
            compare: CompareState::new(model.clone()),
            model: RwSignal::new(model),
            text: RwSignal::new(link.text.clone().unwrap_or_else(|| "The cat sat on the mat because it was tired.".to_string())),
            text_b: RwSignal::new(link.text_b.clone().unwrap_or_default()),
            data,
            layer,
            active,
            heads_off: RwSignal::new(link.heads_off.as_deref().and_then(|h| HeadsOff::parse(h).ok()).unwrap_or_default()),
            baseline,
            mask: RwSignal::new(link.mask),
            predictions,
            masked_lm,
            next,
            show,
            options: show.matrix(),
            pending_link,
            notice: RwSignal::new(None),
            run_task,
        }
    }

    /// Whether either worker task runs (reactive).
    pub fn busy(self) -> bool {
        self.run_task.busy().get() || self.compare.task.busy().get()
    }

    /// The error to show (reactive).
    pub fn error(self) -> Option<String> {
        self.notice.get().or_else(|| self.run_task.error()).or_else(|| self.compare.task.error())
    }

    fn fail(self, message: String) {
        self.run_task.clear_error();
        self.compare.task.clear_error();
        self.notice.set(Some(message));
    }

    /// Run the sentence(s) under the chosen model, with the heads that are switched off.
    pub fn run(self) {
        match AttentionJob::new(self.model.get_untracked(), self.text.get_untracked(), self.text_b.get_untracked()) {
            Ok(mut job) => {
                job.heads_off = self.heads_off.get_untracked();
                job.mask = self.mask.get_untracked();
                job.with_baseline =
                    !job.heads_off.is_empty() && !self.baseline.with_untracked(|b| b.as_ref().is_some_and(|b| job.is_baseline(b)));
                self.notice.set(None);
                self.compare.task.clear_error();
                self.run_task.dispatch(job);
            }
            Err(e) => self.fail(e),
        }
    }

    /// Run the compared sentence.
    pub fn run_compare(self) {
        match AttentionJob::new(self.compare.model.get_untracked(), self.compare.text.get_untracked(), String::new()) {
            Ok(job) => {
                self.notice.set(None);
                self.run_task.clear_error();
                self.compare.task.dispatch(job);
            }
            Err(e) => self.fail(e),
        }
    }

    /// What is shown, as a link (reactive): the result's model and sentences, the head view's layer and heads.
    fn shown_link(self) -> Option<AttentionLink> {
        let d = self.data.get()?;
        let act = self.active.get();
        let heads = (act.iter().any(|a| !a)).then(|| act.iter().enumerate().filter(|(_, a)| **a).map(|(h, _)| h).collect());
        Some(AttentionLink {
            model: Some(d.model.clone()),
            text: Some(d.text.clone()),
            text_b: d.text_b.clone().filter(|b| !b.is_empty()),
            layer: Some(self.layer.get()),
            heads,
            heads_off: Some(d.heads_off.to_string()).filter(|h| !h.is_empty()),
            mask: self.predictions.get().map(|p| p.position),
        })
    }
}

/// The model, the sentences and Run.
#[component]
fn SentenceForm(lab: AttentionState) -> impl IntoView {
    let cache = CacheState::expect();
    let guide = GuideProgress::get();
    let decoder = move || state::is_decoder(&lab.model.get());
    view! {
        <form class="input-form" on:submit=move |ev| { ev.prevent_default(); lab.run(); }>
            <label for="model">"Model"</label>
            <select id="model" prop:value=move || lab.model.get() on:change=move |ev| lab.model.set(event_target_value(&ev))>
                {cache.option_views(Lab::Attention, lab.model, CacheState::option_label)}
            </select>
            <label for="text-a">"Sentence A"</label>
            <textarea id="text-a" prop:value=move || lab.text.get() on:input=move |ev| {
                lab.text.set(event_target_value(&ev));
                state::mark(guide, |g| g.sentence_chosen);
            }></textarea>
            <label for="text-b">{move || if decoder() { "Sentence B (not for a decoder: it reads one text)" } else { "Sentence B (optional)" }}</label>
            <textarea id="text-b" prop:value=move || lab.text_b.get() prop:disabled=decoder
                on:input=move |ev| lab.text_b.set(event_target_value(&ev))></textarea>
            <button id="run" type="submit" prop:disabled=move || lab.busy()>"Run"</button>
        </form>
    }
}

/// The result's tokens.
#[component]
fn TokenList(lab: AttentionState) -> impl IntoView {
    // With a masked-word head, a word is a button: a click masks it (again: unmasks it) and the model reruns.
    let toggle = move |i: usize| {
        lab.mask.update(|m| *m = if *m == Some(i) { None } else { Some(i) });
        lab.run();
    };
    view! {
        <ol class="tokens" data-testid="tokens" aria-label="tokens">
            {move || lab.data.get().map(|d| {
                let can_mask = lab.masked_lm.get() == Some(true);
                let masked = lab.predictions.get().map(|p| p.position);
                d.display_tokens().into_iter().zip(d.tokens.iter()).enumerate().map(|(i, (shown, raw))| {
                    if can_mask && !d.special[i] {
                        // The accessible name starts with the visible text (axe: label-content-name-mismatch).
                        let label = if masked == Some(i) { format!("{shown}: unmask token {i}") } else { format!("{shown}: mask token {i}") };
                        view! {
                            <li title=raw.clone() data-raw=raw.clone()><button type="button" class="token-mask" class:masked=masked == Some(i)
                                data-testid="mask-token" data-index=i.to_string() aria-label=label prop:disabled=move || lab.busy()
                                on:click=move |_| toggle(i)>{shown}</button></li>
                        }.into_any()
                    } else {
                        view! { <li title=raw.clone() data-raw=raw.clone()>{shown}</li> }.into_any()
                    }
                }).collect_view()
            })}
        </ol>
        <MaskedWord lab=lab />
        <NextWord lab=lab />
    }
}

/// Every view of one result, with its export bar and the comparison.
#[component]
fn Views(lab: AttentionState, data: Arc<AttentionData>, open_head: Callback<(usize, usize)>, embed_url: Callback<EmbedView, String>) -> impl IntoView {
    let d = data;
    let (options, layer, active) = (lab.options, lab.layer, lab.active);
    view! {
        <div class="lab-actions"><ExportBar data=d.clone() /><EmbedPanel views=EmbedView::ATTENTION.to_vec() url_for=embed_url /></div>
        <h3 id="head-view-title">"Head view"</h3>
        {d.causal.then(|| view! { <p class="hint" data-testid="causal-note">"Causal attention: each token attends only to itself \
            and the tokens before it (a decoder writes left to right), so no line goes to a later token."</p> })}
        <HeadView data=d.clone() options=options layer=layer active=active top_mass=lab.show.top_mass() />
        <h3>"Model view"</h3>
        <ModelView data=d.clone() options=options on_open=open_head />
        <h3>"Neuron view"</h3>
        <NeuronView data=d.clone() />
        <h3>"Head analysis"</h3>
        <HeadAnalysis data=d.clone() on_open=open_head />
        <HeadsOffPanel lab=lab data=d.clone() />
        <Compare lab=lab data=d />
    }
}

#[component]
pub fn AttentionLab(
    /// Embedded (`?embed=head|model|neuron`): only this view, run straight away on the URL's sentence.
    #[prop(optional)]
    embed: Option<EmbedView>,
) -> impl IntoView {
    let guide = GuideProgress::get();
    let cache = CacheState::expect();
    let link = permalink::read();
    let lab = AttentionState::new(&link, cache, guide);
    let (layer, active, options) = (lab.layer, lab.active, lab.options);
    let open_head = Callback::new(move |(l, h): (usize, usize)| {
        state::mark(guide, |g| g.heads_compared);
        layer.set(Pick::One(l));
        active.update(|a| a.iter_mut().enumerate().for_each(|(i, x)| *x = i == h));
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("head-view-title")) {
            el.scroll_into_view();
        }
    });
    // A masked token belongs to the sentence and model it was clicked in.
    Effect::watch(
        move || (lab.text.get(), lab.text_b.get(), lab.model.get()),
        move |_, _, _| lab.mask.set(None),
        false,
    );
    // Keep the URL in step with what is shown, so copying it shares this exact view.
    Effect::new(move |_| {
        if let Some(link) = lab.shown_link() {
            permalink::write(&link);
        }
    });
    let embed_url = Callback::new(move |view: EmbedView| {
        let mut params = lab.shown_link().map(|l| l.params()).unwrap_or_default();
        params.push(("embed", vec![view.key().to_string()]));
        permalink::page_url(&params)
    });
    // The guide: a suggested sentence to fill in, and "compared layers" once the layer changes on a result.
    if let Some(g) = guide {
        Effect::new(move |_| {
            if let Some(sentence) = g.suggested_sentence.get() {
                lab.text.set(sentence);
                lab.text_b.set(String::new());
                g.suggested_sentence.set(None);
            }
        });
        Effect::watch(move || layer.get(), move |_, _, _| {
            if lab.data.with_untracked(Option::is_some) {
                state::mark(guide, |g| g.heads_compared);
            }
        }, false);
    }

    let start_layer = match link.layer {
        Some(Pick::One(l)) => l,
        _ => 0,
    };
    let start_head = link.heads.as_ref().and_then(|h| h.first().copied()).unwrap_or(0);
    if link.text.is_some() || embed.is_some() {
        // Opened from a permalink, or embedded (the view needs the data): run it straight away.
        lab.pending_link.set(Some(link));
        lab.run();
    }

    if let Some(embed) = embed {
        let top_mass = lab.show.top_mass();
        return view! {
            <section class="lab embedded-lab" data-testid="embedded" aria-label=format!("nlu-lab: {}", embed.title())>
                <p class="embed-sentence">{move || {
                    let b = lab.text_b.get();
                    if b.is_empty() { lab.text.get() } else { format!("{} / {b}", lab.text.get()) }
                }}</p>
                // Progress only while loading: once drawn, the view is all the room there is.
                {move || lab.data.with(Option::is_none).then(|| view! { <p class="status" role="status" aria-live="polite">{move || lab.run_task.status()}</p> })}
                {move || lab.error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                {move || lab.data.get().map(|d| match embed {
                    EmbedView::Model => view! { <ModelView data=d options=options on_open=open_head /> }.into_any(),
                    EmbedView::Neuron => view! { <NeuronView data=d start=(start_layer, start_head) /> }.into_any(),
                    _ => view! { <HeadView data=d options=options layer=layer active=active top_mass=top_mass /> }.into_any(),
                })}
            </section>
        }
        .into_any();
    }

    view! {
        <section class="lab" aria-labelledby="attention-lab-title">
            <h2 id="attention-lab-title">"Attention lab"</h2>
            <SentenceForm lab=lab />
            <p class="status" data-testid="attention-status" role="status" aria-live="polite">{move || lab.run_task.status()}</p>
            {move || lab.error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ShowFieldset show=lab.show />
            <TokenList lab=lab />
            <Example lab=lab />
            {move || lab.data.get().map(|d| view! { <Views lab=lab data=d open_head=open_head embed_url=embed_url /> })}
        </section>
    }
    .into_any()
}
