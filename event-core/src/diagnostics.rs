//! Telling the application when something goes wrong that its counters show but nobody reads:
//! a sink that starts failing (and recovers), events emitted after the layer's guard was
//! dropped, a `hash` field meeting a layer without a key. Written to stderr by default, never
//! through `tracing` (which would feed back into the pipeline), or handed to a callback
//! ([`EventLayerBuilder::on_diagnostic`](crate::EventLayerBuilder::on_diagnostic)), or turned
//! off ([`EventLayerBuilder::diagnostics`](crate::EventLayerBuilder::diagnostics)).
//!
//! Each kind is said once per layer (and sink), and a failing sink at most once a minute, so a
//! flapping endpoint does not flood stderr.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Something the application should know about a layer or one of its sinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    kind: DiagnosticKind,
    sink: Option<String>,
    message: String,
}

/// What a [`Diagnostic`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A sink reported an error: its events are retried, spooled or counted dropped.
    SinkFailing,
    /// A sink that was failing delivered again.
    SinkRecovered,
    /// Events were emitted after the layer's `EventGuard` was dropped or shut down: each is
    /// counted dropped with reason `shutdown`.
    EmittedAfterShutdown,
    /// A `hash` field met a layer without a hash key: it is written `"[REDACTED]"`.
    HashKeyMissing,
}

impl Diagnostic {
    /// What it is about.
    pub fn kind(&self) -> DiagnosticKind {
        self.kind
    }

    /// The sink's name, for the kinds about a sink.
    pub fn sink(&self) -> Option<&str> {
        self.sink.as_deref()
    }

    /// What happened and what to do, in a sentence or two. Never a value or a secret (a
    /// sink's errors name endpoints without credentials).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where a layer's diagnostics go.
pub(crate) enum Report {
    Stderr,
    Off,
    Callback(Arc<dyn Fn(&Diagnostic) + Send + Sync>),
}

/// The least time between two diagnostics of one kind about one sink.
const SINK_INTERVAL: Duration = Duration::from_secs(60);

/// A layer's diagnostics: where they go, and what was said already.
pub(crate) struct Diagnostics {
    report: Report,
    emitted_after_shutdown: AtomicBool,
    hash_key_missing: AtomicBool,
    /// When each (kind, sink) was last said.
    said: Mutex<HashMap<(DiagnosticKind, String), Instant>>,
}

impl Diagnostics {
    pub(crate) fn new(report: Report) -> Self {
        Diagnostics {
            report,
            emitted_after_shutdown: AtomicBool::new(false),
            hash_key_missing: AtomicBool::new(false),
            said: Mutex::new(HashMap::new()),
        }
    }

    fn say(&self, kind: DiagnosticKind, sink: Option<&str>, message: String) {
        let diagnostic = Diagnostic {
            kind,
            sink: sink.map(str::to_owned),
            message,
        };
        match &self.report {
            Report::Off => {}
            Report::Stderr => eprintln!("event-core: {diagnostic}"),
            // The application's code: a panic in it is not ours to pass on.
            Report::Callback(callback) => {
                let _ = crate::caught::catch(|| callback(&diagnostic));
            }
        }
    }

    /// Events are emitted after the guard was dropped: said once.
    pub(crate) fn emitted_after_shutdown(&self) {
        if !self.emitted_after_shutdown.load(Ordering::Relaxed)
            && !self.emitted_after_shutdown.swap(true, Ordering::Relaxed)
        {
            self.say(
                DiagnosticKind::EmittedAfterShutdown,
                None,
                "events are emitted after this layer's EventGuard was dropped or shut down; they \
                 are dropped (reason `shutdown`). Keep the guard alive until the end of `main`: \
                 `let (layer, _guard) = ...`, not `let (layer, _) = ...`"
                    .to_owned(),
            );
        }
    }

    /// A `hash` field met the layer without a key: said once.
    pub(crate) fn hash_key_missing(&self, event: &str) {
        // Checked on every event of a layer without a key: read before written.
        if !self.hash_key_missing.load(Ordering::Relaxed)
            && !self.hash_key_missing.swap(true, Ordering::Relaxed)
        {
            self.say(
                DiagnosticKind::HashKeyMissing,
                None,
                format!(
                    "event `{event}` has a `hash` field but the layer has no hash key, so it is \
                     written \"[REDACTED]\" (counted in `hash_key_missing`); give the layer one \
                     with `.hash_key(id, key)`"
                ),
            );
        }
    }

    /// `sink` started failing; whether that was said. The error itself is not quoted: a
    /// sink's error may carry what an endpoint answered, which can echo values. It is in the
    /// sink's stats (`last_error`).
    pub(crate) fn sink_failing(&self, sink: &str) -> bool {
        let due = self.due(DiagnosticKind::SinkFailing, sink);
        if due {
            self.say(
                DiagnosticKind::SinkFailing,
                Some(sink),
                format!(
                    "sink `{sink}` is failing (its last error is in its stats, `last_error`); \
                     its events are retried, spooled or counted dropped"
                ),
            );
        }
        due
    }

    /// `sink` delivers again.
    pub(crate) fn sink_recovered(&self, sink: &str) {
        if self.due(DiagnosticKind::SinkRecovered, sink) {
            self.say(
                DiagnosticKind::SinkRecovered,
                Some(sink),
                format!("sink `{sink}` delivers again"),
            );
        }
    }

    /// Whether `kind` may be said about `sink` now (and notes that it is).
    fn due(&self, kind: DiagnosticKind, sink: &str) -> bool {
        if matches!(self.report, Report::Off) {
            return false;
        }
        let now = Instant::now();
        let mut said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        match said.entry((kind, sink.to_owned())) {
            Entry::Vacant(entry) => {
                entry.insert(now);
                true
            }
            Entry::Occupied(mut entry) if now.duration_since(*entry.get()) >= SINK_INTERVAL => {
                entry.insert(now);
                true
            }
            Entry::Occupied(_) => false,
        }
    }
}

/// A sink's health as its counters see it, to say when it starts failing and recovers.
pub(crate) struct SinkHealth {
    pub(crate) name: String,
    pub(crate) diagnostics: Arc<Diagnostics>,
    failing: AtomicBool,
}

impl SinkHealth {
    pub(crate) fn new(name: String, diagnostics: Arc<Diagnostics>) -> Self {
        SinkHealth {
            name,
            diagnostics,
            failing: AtomicBool::new(false),
        }
    }

    /// The sink reported an error. Marked failing only once that is said, so an outage whose
    /// start fell in the quiet interval is said when the interval ends.
    pub(crate) fn error(&self) {
        if !self.failing.load(Ordering::Relaxed) && self.diagnostics.sink_failing(&self.name) {
            self.failing.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn delivered(&self) {
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::Relaxed) {
            self.diagnostics.sink_recovered(&self.name);
        }
    }
}
