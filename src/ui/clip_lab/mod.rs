//! The CLIP lab: an image (file, drop, paste or URL) and captions in; CLIP's probability per caption out, with
//! the assignment's verdict (top probability below 0.6 = a confusing pair) and the exact crop the model saw.
//!
//! `ClipState` holds the lab's state and its one worker task (classify, or rank the pairs of the caption search);
//! the parts are components of their own: the image picker, the caption editor, the results, the pair search.

mod captions;
mod example;
mod image_picker;
mod pair_search;
mod results;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use self::captions::{CaptionEditor, Captions};
use self::example::Example;
use self::image_picker::{ImageInput, ImagePicker};
use self::pair_search::{CaptionPair, PairSearch, SHOWN_PAIRS};
use self::results::{draw_crop, ClipResults, CropFigure};
use super::clip_extras::CaptionAttention;
use super::embed::{EmbedPanel, EmbedView};
use super::state::{self, CacheState, GuideProgress};
use super::task::{status_line, Ran, WorkerTask};
use crate::engine::caption_pairs::{rank_pairs, top_probability};
use crate::engine::catalogue::{self, CatalogueEntry, Lab};
use crate::web::models::ModelTrust;
use crate::engine::pipeline::ClipResult;
use crate::web::hub::model_source;
use crate::web::messages::ModelSource;
use crate::web::permalink;
use crate::web::worker_client;

/// The captions a new lab starts with (unless the URL gives some).
const DEFAULT_CAPTIONS: [&str; 2] = ["a photo of a cat", "a photo of a dog"];

/// What a classification is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Each caption's probability, shown and handed in.
    Show,
    /// The pairs of the caption search, ranked.
    Search,
    /// The shown result again with the full-precision model (the shown one came from a compact pack).
    FullPrecisionCheck,
}

/// One call of the lab's worker task: these captions against the image, for `purpose`.
#[derive(Clone)]
pub struct ClassifyJob {
    source: ModelSource,
    image: Arc<Vec<u8>>,
    captions: Vec<String>,
    purpose: Purpose,
}

/// The shown result recomputed with the full-precision model, for a result a compact pack produced.
#[derive(Clone, Debug)]
pub struct FullPrecisionCheck {
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
    /// The full model's revision and whether its files matched the catalogue's pins.
    pub revision: String,
    pub trust: ModelTrust,
}

/// The CLIP lab's state, shared by its parts.
#[derive(Clone, Copy)]
pub struct ClipState {
    pub model: RwSignal<String>,
    pub image: RwSignal<Option<ImageInput>>,
    pub captions: Captions,
    /// "a photo of {}": applied to every caption (and candidate) when it is scored.
    pub template: RwSignal<String>,
    pub result: RwSignal<Option<Arc<ClipResult>>>,
    pub ranked: RwSignal<Vec<CaptionPair>>,
    /// A problem outside the worker task: no image yet, an unreadable file or URL, the camera.
    notice: RwSignal<Option<String>>,
    /// The crop the model saw, drawn when a result arrives.
    pub crop: NodeRef<leptos::html::Canvas>,
    /// Whether the last result's model files matched the catalogue's pins (it goes into the hand-in).
    pub trust: RwSignal<ModelTrust>,
    /// The model (and precision) the last result was computed with, for the hand-in.
    pub computed_with: RwSignal<Option<ModelSource>>,
    /// The image bytes the shown result was computed from (the picker may hold a newer image by then).
    pub result_image: RwSignal<Option<Arc<Vec<u8>>>>,
    /// The last result in full precision, once the student asked for it (cleared by every new result).
    pub full_check: RwSignal<Option<FullPrecisionCheck>>,
    pub task: WorkerTask<ClassifyJob>,
}

impl ClipState {
    fn new(captions: Vec<String>, cache: CacheState, guide: Option<GuideProgress>) -> Self {
        let result = RwSignal::new(None::<Arc<ClipResult>>);
        let ranked = RwSignal::new(Vec::new());
        let crop = NodeRef::new();
        let trust = RwSignal::new(ModelTrust::default());
        let computed_with = RwSignal::new(None::<ModelSource>);
        let full_check = RwSignal::new(None::<FullPrecisionCheck>);
        let result_image = RwSignal::new(None::<Arc<Vec<u8>>>);
        let task = WorkerTask::new(move |job: &ClassifyJob, progress| {
            let job = job.clone();
            async move {
                let image = job.image.as_ref().clone();
                let source = job.source.clone();
                let run = worker_client::classify(job.source, image, job.captions.clone(), move |p| progress.show(p)).await?;
                let r = run.output;
                if job.purpose == Purpose::FullPrecisionCheck {
                    // Only for the result it was asked for: the same image and captions as still shown.
                    let shown = result.get_untracked().is_some_and(|shown| shown.captions == job.captions)
                        && result_image.get_untracked().is_some_and(|i: Arc<Vec<u8>>| Arc::ptr_eq(&i, &job.image));
                    if shown {
                        let revision = source.revision.clone();
                        full_check.set(Some(FullPrecisionCheck { probs: r.probs, logits: r.logits, revision, trust: run.stats.trust.clone() }));
                    }
                    cache.refresh();
                    return Ok(status_line(Ran::Captions(job.captions.len()), &run.stats));
                }
                if job.purpose == Purpose::Search {
                    let pair = |p: crate::engine::caption_pairs::RankedPair| CaptionPair {
                        a: job.captions[p.a].clone(),
                        b: job.captions[p.b].clone(),
                        top: p.top,
                    };
                    ranked.set(rank_pairs(&r.logits).into_iter().take(SHOWN_PAIRS).map(pair).collect());
                } else {
                    cache.refresh();
                    if let Some(canvas) = crop.get_untracked() {
                        draw_crop(&canvas, &r);
                    }
                    if let Some(g) = guide {
                        g.clip_top.set(Some(top_probability(&r.probs)));
                    }
                    trust.set(run.stats.trust.clone());
                    computed_with.set(Some(source));
                    full_check.set(None);
                    result_image.set(Some(job.image.clone()));
                    result.set(Some(Arc::from(r)));
                }
                Ok(status_line(Ran::Captions(job.captions.len()), &run.stats))
            }
        });
        Self {
            model: RwSignal::new(state::default_choice(Lab::Clip)),
            image: RwSignal::new(None),
            captions: Captions::new(captions),
            template: RwSignal::new(String::new()),
            result,
            ranked,
            notice: RwSignal::new(None),
            crop,
            trust,
            computed_with,
            result_image,
            full_check,
            task,
        }
    }

    /// The chosen model's catalogue entry (reactive).
    pub fn entry(self) -> &'static CatalogueEntry {
        self.model.with(|m| catalogue::find(catalogue::parse_choice(m).0)).expect("a catalogue entry")
    }

    /// Show a problem (replacing the last one).
    pub fn fail(self, message: String) {
        self.task.clear_error();
        self.notice.set(Some(message));
    }

    /// The error to show (reactive): the latest problem, from the task or not.
    pub fn error(self) -> Option<String> {
        self.notice.get().or_else(|| self.task.error())
    }

    /// Use the image `load` gives, once it has it (or say why there is none).
    pub fn set_image(self, load: Pin<Box<dyn Future<Output = Result<ImageInput, String>>>>) {
        let guide = GuideProgress::get();
        spawn_local(async move {
            match load.await {
                Ok(img) => {
                    self.notice.set(None);
                    self.task.clear_error();
                    self.result.set(None);
                    self.full_check.set(None);
                    self.image.set(Some(img));
                    state::mark(guide, |g| g.image_chosen);
                }
                Err(e) => self.fail(e),
            }
        })
    }

    /// A caption with the template applied.
    fn applied(self, caption: &str) -> String {
        let t = self.template.get_untracked();
        if t.contains("{}") { t.replace("{}", caption) } else { caption.to_string() }
    }

    /// Score `captions` against the image; `search` = rank the pairs instead of showing the captions' bars.
    pub fn classify(self, captions: Vec<String>, search: bool) {
        let Some(img) = self.image.get_untracked() else {
            return self.fail("Choose an image first: a file, drop or paste one, or give a URL.".into());
        };
        let source = match model_source(&self.model.get_untracked()) {
            Ok(s) => s,
            Err(e) => return self.fail(e),
        };
        let captions = captions.iter().map(|c| self.applied(c)).collect();
        self.notice.set(None);
        let purpose = if search { Purpose::Search } else { Purpose::Show };
        self.task.dispatch(ClassifyJob { source, image: img.bytes, captions, purpose });
    }

    /// Recompute the shown result (same image, same captions as scored) with the full-precision model of the pack
    /// that produced it, from the page's hub or this browser's store.
    pub fn check_full_precision(self) {
        let (Some(result), Some(image), Some(computed)) =
            (self.result.get_untracked(), self.result_image.get_untracked(), self.computed_with.get_untracked())
        else {
            return;
        };
        let Some(pack) = computed.pack else { return };
        let source = match model_source(&pack.repo) {
            Ok(s) => s,
            Err(e) => return self.fail(e),
        };
        self.notice.set(None);
        self.task.dispatch(ClassifyJob { source, image, captions: result.captions.clone(), purpose: Purpose::FullPrecisionCheck });
    }
}

#[component]
pub fn ClipLab(
    /// Embedded in a course page (`?embed=clip`): no title, no Embed button.
    #[prop(optional)]
    embed: bool,
) -> impl IntoView {
    let guide = GuideProgress::get();
    let cache = CacheState::expect();
    let from_link = permalink::read_captions();
    let start = if from_link.is_empty() { DEFAULT_CAPTIONS.map(String::from).to_vec() } else { from_link };
    let lab = ClipState::new(start, cache, guide);
    // The guide's "wrote two captions": two non-empty ones, not just the starting pair.
    if guide.is_some() {
        Effect::new(move |_| {
            let cs = lab.captions.texts();
            if cs.iter().filter(|c| !c.trim().is_empty()).count() >= 2 && cs != DEFAULT_CAPTIONS {
                state::mark(guide, |g| g.captions_written);
            }
        });
    }
    let embed_url = Callback::new(move |view: EmbedView| {
        // The attention lab's state in the URL means nothing to an embedded CLIP lab: leave it out.
        let mut params = permalink::AttentionLink::default().params();
        params.push(("caption", lab.captions.texts()));
        params.push(("embed", vec![view.key().to_string()]));
        permalink::page_url(&params)
    });

    view! {
        <section class="lab" aria-label="CLIP lab">
            {(!embed).then(|| view! {
                <div class="lab-title"><h2 id="clip-lab-title">"CLIP lab"</h2>
                    <EmbedPanel views=vec![EmbedView::Clip] url_for=embed_url /></div>
            })}
            <label>"Model "
                <select id="clip-model" prop:value=move || lab.model.get()
                    on:change=move |ev| { lab.model.set(event_target_value(&ev)); lab.result.set(None); lab.full_check.set(None); }>
                    {cache.option_views(Lab::Clip, lab.model, CacheState::option_label)}
                </select>
            </label>
            <p class="hint">{move || lab.entry().description}</p>
            <ImagePicker lab=lab />
            <CaptionEditor lab=lab />
            <div><button id="classify" type="button" prop:disabled=move || lab.task.busy().get()
                on:click=move |_| lab.classify(lab.captions.texts_untracked(), false)>"Classify"</button></div>
            <p class="status" role="status" aria-live="polite">{move || lab.task.status()}</p>
            {move || lab.error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Example lab=lab />
            <div class="clip-output">
                <CropFigure lab=lab />
                <ClipResults lab=lab />
            </div>
            {move || lab.result.get().map(|r| view! { <h3>"Attention inside a caption"</h3><CaptionAttention result=r /> })}
            <PairSearch lab=lab />
        </section>
    }
}
