//! A lab's call into the worker as a Leptos `Action` (its `pending` is the lab's busy flag), and the texts the labs
//! show about it: the download progress while it runs, then one status line from what the run cost, or the error.

use std::future::Future;

use leptos::prelude::*;

use super::export::format_bytes;
use crate::web::messages::Step;
use crate::web::worker_client::{Progress, RunStats, WorkerError};

/// What the worker is doing, in words a student understands: "Reading the model from this browser",
/// "Downloading from huggingface.co: 22.0 MB of 86.7 MB, about 6 s left (model.safetensors)", "Loading the model", or — at the first
/// failed attempt, while the worker retries — that the hub cannot be reached and what to do.
/// `seconds_left`: the download's estimate, when there is one.
pub fn progress_text(step: &Step, seconds_left: Option<f64>) -> String {
    match step {
        Step::Reading { file, size } => {
            format!("Reading the model from this browser ({file}, {})", format_bytes(*size))
        }
        Step::Downloading { file, from, done, total } => {
            let of = total.map(|t| format!(" of {}", format_bytes(t))).unwrap_or_default();
            let left = seconds_left.map(|s| format!(", about {} left", duration_text(s))).unwrap_or_default();
            // No host: the student's own files, copied into the store.
            if from.is_empty() {
                format!("Storing {file}: {}{of}", format_bytes(*done))
            } else {
                format!("Downloading from {from}: {}{of}{left} ({file})", format_bytes(*done))
            }
        }
        Step::Retrying { from, unreachable: true, .. } => format!(
            "Cannot reach {from}: check your connection, open your course's mirror link, or load the model's files \
             from this computer (Stored models, below). Still trying in the background…"
        ),
        Step::Retrying { file, from, detail, .. } => {
            format!("The download of {file} from {from} broke off ({detail}); trying again, what arrived is kept…")
        }
        Step::Loading => "Loading the model".into(),
    }
}

/// "6 s", "3 min".
fn duration_text(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{:.0} s", seconds.max(1.0))
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

/// A download's time left from its rate since its first progress message (bytes kept from an earlier visit are not
/// counted as speed): none until it has run a second, or for a file of unknown size.
#[derive(Clone, Debug, Default)]
struct DownloadClock {
    /// The file, when it was first heard of (ms) and how many bytes it had then.
    start: Option<(String, f64, u64)>,
}

impl DownloadClock {
    fn seconds_left(&mut self, file: &str, now_ms: f64, done: u64, total: Option<u64>) -> Option<f64> {
        match &self.start {
            Some((seen, _, first)) if seen == file && done >= *first => {}
            _ => self.start = Some((file.to_string(), now_ms, done)),
        }
        let (_, since, first) = self.start.clone()?;
        let (elapsed, arrived) = ((now_ms - since) / 1000.0, done - first);
        if elapsed < 1.0 || arrived == 0 {
            return None;
        }
        let left = total?.saturating_sub(done);
        (left > 0).then(|| left as f64 / (arrived as f64 / elapsed))
    }
}

/// What a model run computed, for its status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// An encoder's forward pass over `count` tokens; `dropped` more did not fit the model.
    Tokens { count: usize, dropped: usize },
    /// CLIP scored this many captions against an image.
    Captions(usize),
}

/// The status line after a model run: what it computed and how fast, on how many threads, and — when the model was
/// loaded for it — the load time and the worker's memory.
pub fn status_line(ran: Ran, stats: &RunStats) -> String {
    let forward_ms = stats.forward_ms;
    let mut s = match ran {
        Ran::Tokens { count, .. } => format!("{count} tokens · forward pass {forward_ms:.0} ms"),
        Ran::Captions(count) => format!("{count} captions scored in {forward_ms:.0} ms"),
    };
    if stats.threads > 1 {
        s += &format!(" on {} threads", stats.threads);
    }
    if stats.load.ms > 0.0 {
        s += &format!(" · model loaded in {:.0} ms · worker memory {}", stats.load.ms, format_bytes(stats.memory_bytes));
    }
    if let Ran::Tokens { dropped, .. } = ran {
        if dropped > 0 {
            s += &format!(" · the input was too long: {dropped} tokens were cut");
        }
    }
    // Said on every run, not only the first: a result from files that were not checked against the catalogue's pins
    // must not look like one that was.
    for warning in &stats.trust.warnings {
        s += &format!(" · ⚠ {warning}");
    }
    if let Some(note) = &stats.trust.unverified {
        s += &format!(" · {note}");
    }
    s
}

/// Where a running task shows its progress.
#[derive(Clone, Copy)]
pub struct ProgressLine {
    line: RwSignal<Option<String>>,
    clock: StoredValue<DownloadClock>,
}

impl ProgressLine {
    pub fn show(self, step: Progress<'_>) {
        let seconds_left = match step {
            Step::Downloading { file, done, total, .. } => {
                let now = crate::web::js::now_ms();
                self.clock.try_update_value(|c| c.seconds_left(file, now, *done, *total)).flatten()
            }
            _ => None,
        };
        self.line.set(Some(progress_text(step, seconds_left)));
    }
}

/// One kind of worker call a lab makes. The call gives the status line of a success; while it runs the status is its
/// progress, and a failure is the lab's error until the next run.
pub struct WorkerTask<I: 'static> {
    action: Action<I, Result<String, WorkerError>>,
    // Made once: `Action::pending` and `Action::value` create a new signal on each call.
    busy: Memo<bool>,
    value: MappedSignal<Option<Result<String, WorkerError>>>,
    progress: RwSignal<Option<String>>,
}

impl<I: 'static> Clone for WorkerTask<I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I: 'static> Copy for WorkerTask<I> {}

impl<I: 'static> WorkerTask<I> {
    /// `run` starts the call for an input; the worker's futures are not `Send`, hence a local action.
    pub fn new<F, Fu>(run: F) -> Self
    where
        F: Fn(&I, ProgressLine) -> Fu + 'static,
        Fu: Future<Output = Result<String, WorkerError>> + 'static,
    {
        let progress = RwSignal::new(None);
        let clock = StoredValue::new(DownloadClock::default());
        let action = Action::new_local(move |input: &I| {
            progress.set(None);
            clock.set_value(DownloadClock::default());
            run(input, ProgressLine { line: progress, clock })
        });
        Self { action, busy: action.pending(), value: action.value(), progress }
    }

    pub fn dispatch(self, input: I) {
        self.action.dispatch_local(input);
    }

    /// Whether a call is running.
    pub fn busy(self) -> Memo<bool> {
        self.busy
    }

    /// The status line (reactive): the progress while running, then the last call's summary (empty after a failure).
    pub fn status(self) -> String {
        if self.busy.get() {
            return self.progress.get().unwrap_or_else(|| "Starting…".into());
        }
        self.value.with(|v| match v {
            Some(Ok(line)) => line.clone(),
            _ => String::new(),
        })
    }

    /// The last call's failure (reactive), none while a new call runs.
    pub fn error(self) -> Option<String> {
        if self.busy.get() {
            return None;
        }
        self.value.with(|v| match v {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        })
    }

    /// Forget the last failure (something else replaced it).
    pub fn clear_error(self) {
        if self.value.with_untracked(|v| matches!(v, Some(Err(_)))) {
            self.action.clear();
        }
    }
}
