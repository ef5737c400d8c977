//! State shared across the app's components: which lab is shown, what the weights store holds, and the guide's
//! progress. The app provides the stored models and the guide as context (an embedded lab has no guide), so the
//! labs, the cache panel and the views take them from there instead of through every level's props.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::engine::attention::Pick;
use crate::engine::catalogue::{self, BundledPack, CatalogueEntry, Lab};
use crate::web::hub::{bundled_pack, bundled_packs};
use crate::web::store::{Estimate, StoredFile};
use crate::web::worker_client;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Attention,
    Clip,
}

/// Stored files, refreshed after each change; shared with the model selectors (to mark what is cached).
#[derive(Clone, Copy)]
pub struct CacheState {
    pub files: RwSignal<Vec<StoredFile>>,
    pub estimate: RwSignal<Option<Estimate>>,
}

impl CacheState {
    /// A fresh state (read from the worker straight away), given as context to everything under the caller.
    pub fn provide() -> Self {
        let state = Self { files: RwSignal::new(vec![]), estimate: RwSignal::new(None) };
        state.refresh();
        provide_context(state);
        state
    }

    /// The state the app provides.
    pub fn expect() -> Self {
        expect_context::<Self>()
    }

    pub fn refresh(self) {
        spawn_local(async move {
            // Set only on a change: every run refreshes, and the selectors redraw their options on each new list.
            if let Ok(files) = worker_client::cache_list().await {
                if self.files.with_untracked(|old| *old != files) {
                    self.files.set(files);
                }
            }
            if let Ok(estimate) = worker_client::cache_estimate().await {
                if self.estimate.with_untracked(|old| old.as_ref() != Some(&estimate)) {
                    self.estimate.set(Some(estimate));
                }
            }
        });
    }

    /// Whether every weight file of `repo` at full precision is stored (so it starts without the network).
    pub fn has_model(&self, repo: &str) -> bool {
        let Some(weights) = catalogue::find(repo).and_then(|e| e.file("model.safetensors")) else { return false };
        self.files.with(|fs| fs.iter().any(|f| f.repo == repo && f.revision == weights.revision && f.file == weights.name))
    }

    /// Whether every weight file of a bundled pack is stored.
    pub fn has_pack(&self, pack: &BundledPack) -> bool {
        self.files.with(|fs| {
            pack.weight_files().iter().all(|w| fs.iter().any(|f| f.repo == pack.repo && f.revision == pack.revision && f.file == *w))
        })
    }

    /// A model selector's option text: name, download size, and whether it is stored.
    pub fn model_label(&self, entry: &CatalogueEntry) -> String {
        let stored = if self.has_model(entry.repo) { " · stored, works offline" } else { "" };
        let trust = entry.unverified_note().map(|note| format!(" · {note}")).unwrap_or_default();
        format!("{} — {} MB{stored}{trust}", entry.display_name, entry.download_mb)
    }

    /// The option text of `option`: a pack says its precision, its size and where it comes from.
    pub fn option_label(&self, option: &ModelOption) -> String {
        match &option.pack {
            None => self.model_label(option.entry),
            Some(pack) => {
                let stored = if self.has_pack(pack) { " · stored, works offline" } else { "" };
                let trust = if pack.source_verified { String::new() } else { format!(" · {}", catalogue::NOT_VERIFIED) };
                let mb = (pack.size() as f64 / 1e6).round();
                let from = if pack.is_local() { "from your files" } else { "from this site" };
                format!("{} — {} · {mb} MB · {from}{stored}{trust}", option.entry.display_name, pack.precision_label())
            }
        }
    }
}

/// One entry of a model selector: a catalogue model at full precision (from the hub), or a pack of it the site
/// serves.
#[derive(Clone, Debug)]
pub struct ModelOption {
    /// The `<option>` value (catalogue::choice_value).
    pub value: String,
    pub entry: &'static CatalogueEntry,
    pub pack: Option<BundledPack>,
}

/// The selector's entries for `family`: the site's packs first (a class starts with the small download from its
/// own site), then every catalogue model at full precision.
pub fn model_options(lab: Lab) -> Vec<ModelOption> {
    let mut options: Vec<ModelOption> = bundled_packs()
        .into_iter()
        .filter_map(|pack| {
            let entry = catalogue::find(&pack.repo).filter(|e| e.family.lab() == lab)?;
            Some(ModelOption { value: catalogue::choice_value(&pack.repo, Some(&pack.dtype)), entry, pack: Some(pack) })
        })
        .collect();
    options.extend(
        catalogue::CATALOGUE
            .iter()
            .filter(|e| e.family.lab() == lab)
            .map(|entry| ModelOption { value: entry.repo.to_string(), entry, pack: None }),
    );
    options
}

impl CacheState {
    /// [`model_options`] with the packs imported from local files that are stored (after the site's packs):
    /// reactive, so a pack appears in the selectors once its import is done and goes when it is deleted.
    pub fn model_options(&self, lab: Lab) -> Vec<ModelOption> {
        let mut options = model_options(lab);
        let site_packs = options.iter().take_while(|o| o.pack.is_some()).count();
        let offered: Vec<String> = options.iter().map(|o| o.value.clone()).collect();
        let imported = crate::web::hub::local_packs().into_iter().filter_map(|pack| {
            let entry = catalogue::find(&pack.repo).filter(|e| e.family.lab() == lab)?;
            let value = catalogue::choice_value(&pack.repo, Some(&pack.dtype));
            (self.has_pack(&pack) && !offered.contains(&value)).then_some(ModelOption { value, entry, pack: Some(pack) })
        });
        let imported: Vec<ModelOption> = imported.collect();
        options.splice(site_packs..site_packs, imported);
        options
    }

    /// A model selector's `<option>`s, redrawn when the store changes; the one `current` names stays selected.
    pub fn option_views(self, lab: Lab, current: RwSignal<String>, label: fn(&CacheState, &ModelOption) -> String) -> impl IntoView {
        move || {
            // Redrawn when the store changes (a pack imported or deleted), whatever the labels read.
            self.files.track();
            self.model_options(lab)
                .into_iter()
                .map(|o| {
                    let selected = current.with_untracked(|c| *c == o.value);
                    let text = label(&self, &o);
                    view! { <option value=o.value.clone() title=o.entry.description selected=selected>{text}</option> }
                })
                .collect_view()
        }
    }
}

/// What a selector of `lab` starts on: the first of [`model_options`].
pub fn default_choice(lab: Lab) -> String {
    model_options(lab).into_iter().next().expect("the catalogue has a model of each family").value
}

/// Whether the selector's `choice` is a decoder (GPT-2: one text, causal attention, next-token guesses).
pub fn is_decoder(choice: &str) -> bool {
    catalogue::find(catalogue::parse_choice(choice).0).is_some_and(|e| e.family == catalogue::Family::Decoder)
}

/// Whether `choice` (a permalink's, say) is one this page offers.
pub fn is_offered(choice: &str) -> bool {
    let (repo, dtype) = catalogue::parse_choice(choice);
    match dtype {
        None => catalogue::find(repo).is_some(),
        Some(_) => bundled_pack(choice).is_some(),
    }
}

/// What the student has done so far, set by the labs (given as context by the app; absent in embed mode).
#[derive(Clone, Copy)]
pub struct GuideProgress {
    pub sentence_chosen: RwSignal<bool>,
    pub attention_ran: RwSignal<bool>,
    pub neuron_opened: RwSignal<bool>,
    pub heads_compared: RwSignal<bool>,
    pub image_chosen: RwSignal<bool>,
    pub captions_written: RwSignal<bool>,
    /// The top probability of the last classification.
    pub clip_top: RwSignal<Option<f32>>,
    pub exported: RwSignal<bool>,
    /// A sentence the guide asks the attention lab to put in its input.
    pub suggested_sentence: RwSignal<Option<String>>,
}

impl GuideProgress {
    /// A fresh progress, given as context to everything under the caller.
    pub fn provide() -> Self {
        let progress = Self {
            sentence_chosen: RwSignal::new(false),
            attention_ran: RwSignal::new(false),
            neuron_opened: RwSignal::new(false),
            heads_compared: RwSignal::new(false),
            image_chosen: RwSignal::new(false),
            captions_written: RwSignal::new(false),
            clip_top: RwSignal::new(None),
            exported: RwSignal::new(false),
            suggested_sentence: RwSignal::new(None),
        };
        provide_context(progress);
        progress
    }

    /// The guide's progress, when the app provides it (a component calls this while it is being built).
    pub fn get() -> Option<Self> {
        use_context::<Self>()
    }
}

/// Set a flag in the guide's progress, if there is a guide (no-op in embed mode).
pub fn mark(guide: Option<GuideProgress>, flag: impl Fn(&GuideProgress) -> RwSignal<bool>) {
    if let Some(g) = guide {
        let f = flag(&g);
        if !f.get_untracked() {
            f.set(true);
        }
    }
}

/// The layer or head an `<option>` value names: a number, `rollout`, anything else the mean.
pub fn pick_from_value(value: &str) -> Pick {
    Pick::from_value(value).unwrap_or(Pick::Mean)
}
