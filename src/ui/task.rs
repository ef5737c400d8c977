//! A lab's call into the worker as a Leptos `Action` (its `pending` is the lab's busy flag), and the texts the labs
//! show about it: the download progress while it runs, then one status line from what the run cost, or the error.

use std::future::Future;

use leptos::prelude::*;

use super::export::format_bytes;
use crate::web::worker_client::{Progress, RunStats, WorkerError};

/// "Downloading model.safetensors: 12.3 MB of 86.7 MB (14 %)" for a worker's progress message.
pub fn progress_text(p: Progress<'_>) -> String {
    let of = p.total.map(|t| format!(" of {} ({:.0} %)", format_bytes(t), p.done as f64 * 100.0 / t.max(1) as f64));
    format!("Downloading {}: {}{}", p.file, format_bytes(p.done), of.unwrap_or_default())
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
    if stats.load_ms > 0.0 {
        s += &format!(" · model loaded in {:.0} ms · worker memory {}", stats.load_ms, format_bytes(stats.memory_bytes));
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
    if !stats.trust.verified && stats.trust.warnings.is_empty() {
        s += &format!(" · {}", crate::engine::catalogue::NOT_VERIFIED);
    }
    s
}

/// Where a running task shows its progress.
#[derive(Clone, Copy)]
pub struct ProgressLine(RwSignal<Option<String>>);

impl ProgressLine {
    pub fn show(self, progress: Progress<'_>) {
        self.0.set(Some(progress_text(progress)));
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
        let action = Action::new_local(move |input: &I| {
            progress.set(None);
            run(input, ProgressLine(progress))
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
