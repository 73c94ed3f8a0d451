//! The `Sink` trait: where a pipeline delivers encoded events, a batch at a time.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing_core::Level;
use uuid::Uuid;

use crate::render::envelope::Envelope;
use crate::stats::{DropReason, SinkCounters};

/// A destination for events: stdout, a file, an HTTP endpoint, your own.
///
/// Each sink runs on its own worker thread with its own queue, so a slow or stuck sink delays
/// no other sink and never the code that emits. The methods are `async`: the worker drives them
/// on a current-thread tokio runtime with timers and I/O enabled, so a sink may use
/// `tokio::time`, `tokio::net` (enable tokio's `net` feature in your crate) and
/// `tokio::task::spawn_blocking`. The futures need not be `Send`. A panic in a sink is caught
/// and counted; the worker goes on.
///
/// Nothing a sink does re-enters a pipeline: the worker thread and every thread of its runtime
/// are [silenced](crate::silence_current_thread), so a sink's own `tracing` calls and `emit!`s
/// reach no subscriber (a sink reports trouble through its `SinkError`s, which end up in
/// `SinkStats::last_error`). Start threads of your own with [`spawn_silenced`](crate::spawn_silenced):
/// a plain `std::thread::spawn` would use the app's global subscriber, and whatever it logged or
/// emitted would come back to the sink.
///
/// See `examples/custom_sink.rs` for a complete sink.
///
/// ```
/// use event_core::{Batch, Sink, SinkError};
///
/// /// Counts events and lines, for illustration.
/// #[derive(Default)]
/// struct Counting {
///     events: usize,
///     bytes: usize,
/// }
///
/// impl Sink for Counting {
///     fn name(&self) -> String {
///         "counting".into()
///     }
///
///     async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         for event in batch.iter() {
///             self.events += 1;
///             self.bytes += event.json().len() + 1;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// The sink's name in [`Stats`](crate::Stats) and reports. Sinks of one layer should have
    /// different names.
    fn name(&self) -> String;

    /// Delivers a batch. `Ok` counts every event of the batch as delivered; `Err` counts them
    /// dropped with reason `sink_error` (a sink that retries does so before returning).
    ///
    /// A sink that settles events later (after retries on its own tasks, through a spool)
    /// calls [`Batch::take_over`] and reports each event's fate through the [`Outcomes`] it
    /// returns; the result of `write_batch` then only sets the sink's `last_error`.
    fn write_batch(&mut self, batch: &Batch<'_>) -> impl Future<Output = Result<(), SinkError>>;

    /// Called once, on the sink's worker thread, before the first batch: the handle through
    /// which a sink that [takes over](Batch::take_over) its batches reports what became of
    /// their events, also from threads of its own. The default ignores it.
    fn attach(&mut self, outcomes: Outcomes) {
        let _ = outcomes;
    }

    /// Makes everything written so far durable (fsync, send buffered data). Called by
    /// `EventGuard::flush` and before `shutdown`. A sink that waits here (for an endpoint)
    /// returns by [`Outcomes::deadline`].
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> {
        async { Ok(()) }
    }

    /// Releases resources; called once, after the last `flush`. A sink that took over its
    /// batches settles every event it still holds by [`Outcomes::deadline`]: delivered,
    /// spooled, dead-lettered, or dropped with reason `shutdown`, never left pending.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), SinkError>> {
        async { Ok(()) }
    }
}

/// Events for a sink, in emission order.
pub struct Batch<'a> {
    events: &'a [BatchEvent<'a>],
    ndjson: Option<&'a [u8]>,
    counters: &'a Arc<SinkCounters>,
    taken_over: Cell<bool>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(
        events: &'a [BatchEvent<'a>],
        ndjson: Option<&'a [u8]>,
        counters: &'a Arc<SinkCounters>,
    ) -> Self {
        Batch {
            events,
            ndjson,
            counters,
            taken_over: Cell::new(false),
        }
    }

    /// Takes over the accounting of this batch: the pipeline will not count its events
    /// delivered or dropped when `write_batch` returns; they stay `pending` until the sink
    /// reports each counted event (see [`BatchEvent::is_counted`]) exactly once through the
    /// returned handle, as delivered, spooled, dead-lettered or dropped.
    pub fn take_over(&self) -> Outcomes {
        self.taken_over.set(true);
        Outcomes::new(Arc::clone(self.counters))
    }

    pub(crate) fn is_taken_over(&self) -> bool {
        self.taken_over.get()
    }

    /// The events.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &BatchEvent<'a>> {
        self.events.iter()
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every event's [`json`](BatchEvent::json) followed by a newline, in order, as one
    /// contiguous NDJSON buffer: what a sink that writes NDJSON can write as it is, without
    /// copying line by line. `Some` when the pipeline wrote the batch that way, which it does
    /// for the batches of a layer's only sink; `None` otherwise: with several sinks, which
    /// share each envelope, and for a report of losses written on its own at a flush or
    /// shutdown. A sink always handles `None`, by joining the lines itself.
    pub fn ndjson(&self) -> Option<&'a [u8]> {
        self.ndjson
    }
}

/// One event of a [`Batch`]: its envelope as one line of JSON, the same envelope as typed
/// parts for any other format, and what sinks commonly need without either.
#[derive(Clone, Copy)]
pub struct BatchEvent<'a> {
    pub(crate) json: &'a [u8],
    pub(crate) envelope: Envelope<'a>,
    pub(crate) name: &'static str,
    pub(crate) level: Level,
    pub(crate) timestamp: SystemTime,
    pub(crate) event_id: Uuid,
    pub(crate) counted: bool,
}

impl<'a> BatchEvent<'a> {
    /// The envelope: one JSON object, one line, no trailing newline. Control
    /// characters inside values are escaped, so it never contains a raw newline.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }
    /// The envelope as typed parts: [visit](Envelope::visit) it to write a format other than
    /// NDJSON (OTLP, rows for a database, text for people) without parsing the line.
    pub fn envelope(&self) -> Envelope<'a> {
        self.envelope
    }
    /// The event name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The event's level.
    pub fn level(&self) -> Level {
        self.level
    }
    /// When it was emitted.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }
    /// Its id (UUIDv7), the same in every sink and across retries.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }
    /// Whether it is one of the events counted in the sink's `emitted`: `false` only for the
    /// pipeline's own `events_dropped` reports. A sink that [takes over](Batch::take_over) a
    /// batch reports outcomes for the counted events only.
    pub fn is_counted(&self) -> bool {
        self.counted
    }
}

/// Where a sink that [took over](Batch::take_over) its batches reports what became of their
/// events, so each one is counted exactly once. Cheap to clone; usable from any thread.
///
/// Every counted event is reported once as [`delivered`](Self::delivered),
/// [`spooled`](Self::spooled), [`dead_lettered`](Self::dead_lettered) or
/// [`dropped`](Self::dropped); a spooled event that is later replayed is first
/// [`unspooled`](Self::unspooled), then reported again. So the sink's stats keep
/// `emitted == delivered + dead_lettered + spooled + dropped + pending`.
#[derive(Clone)]
pub struct Outcomes {
    counters: Arc<SinkCounters>,
}

impl Outcomes {
    pub(crate) fn new(counters: Arc<SinkCounters>) -> Self {
        Outcomes { counters }
    }

    /// When the `flush` or `shutdown` under way must be done: the timeout the application
    /// gave `EventGuard::flush` or `EventGuard::shutdown`, which returns then whether or not
    /// the sink is done. `None` outside those calls. At shutdown, `flush` gets three quarters of
    /// the time and `shutdown` the rest, to settle what is still held, but for a last
    /// twentieth in which its answer reaches the application.
    pub fn deadline(&self) -> Option<Instant> {
        *self
            .counters
            .deadline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, events: u64) {
        self.counters.pending.fetch_sub(events, Ordering::Relaxed);
    }

    /// `events` reached their destination.
    pub fn delivered(&self, events: u64) {
        self.counters.count_delivered(events);
        self.settle(events);
    }

    /// `events` were written to a dead-letter file.
    pub fn dead_lettered(&self, events: u64) {
        let counters = &self.counters;
        counters.dead_lettered.fetch_add(events, Ordering::Relaxed);
        self.settle(events);
    }

    /// `events` were lost, for `reason`. They are reported in-band later, like every drop.
    pub fn dropped(&self, reason: DropReason, events: u64) {
        self.counters.count_drop(reason, events);
        self.settle(events);
    }

    /// `events` were written to a disk spool, for later delivery.
    pub fn spooled(&self, events: u64) {
        let counters = &self.counters;
        counters.spooled.fetch_add(events, Ordering::Relaxed);
        self.settle(events);
    }

    /// `events` this run spooled were read back from the spool: pending again, until reported
    /// once more.
    pub fn unspooled(&self, events: u64) {
        let counters = &self.counters;
        counters.spooled.fetch_sub(events, Ordering::Relaxed);
        counters.pending.fetch_add(events, Ordering::Relaxed);
    }

    /// One more attempt at something that failed (a request retried). Not a loss.
    pub fn retried(&self) {
        let counters = &self.counters;
        counters.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// `events` an earlier run left in the spool were delivered by this run.
    pub fn recovered(&self, events: u64) {
        let counters = &self.counters;
        counters.recovered.fetch_add(events, Ordering::Relaxed);
    }

    /// `events` an earlier run left in the spool were dead-lettered by this run.
    pub fn recovered_dead_lettered(&self, events: u64) {
        let counters = &self.counters;
        counters
            .recovered_dead_lettered
            .fetch_add(events, Ordering::Relaxed);
    }

    /// `events` an earlier run left in the spool were refused and could not be
    /// dead-lettered, so this run dropped them.
    pub fn recovered_dropped(&self, events: u64) {
        let counters = &self.counters;
        counters
            .recovered_dropped
            .fetch_add(events, Ordering::Relaxed);
    }

    /// `stretches` damaged stretches of a spool were skipped.
    pub fn spool_corrupt(&self, stretches: u64) {
        let counters = &self.counters;
        counters
            .spool_corrupt
            .fetch_add(stretches, Ordering::Relaxed);
    }

    /// Sets the sink's last error, shown in its stats, and marks the sink failing (the
    /// application is told, at most once a minute, until events are delivered again). Never
    /// put event values or credentials in it.
    pub fn error(&self, message: impl Into<String>) {
        self.counters.set_last_error(message.into());
    }

    /// Shows `message` as the sink's last error without marking it failing: for something
    /// worth seeing that lost nothing (an endpoint that took a batch with a warning). The
    /// same rule: no event values, no credentials.
    pub fn warning(&self, message: impl Into<String>) {
        self.counters.set_last_warning(message.into());
    }
}

impl fmt::Debug for Outcomes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcomes").finish_non_exhaustive()
    }
}

impl fmt::Debug for BatchEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The line holds only treated values, but keep Debug short.
        f.debug_struct("BatchEvent")
            .field("name", &self.name)
            .field("event_id", &self.event_id)
            .field("bytes", &self.json.len())
            .finish()
    }
}

/// A sink's failure to deliver. Its message appears in `Stats`; it must not contain event
/// values or credentials.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and its cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SinkError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl From<std::io::Error> for SinkError {
    fn from(err: std::io::Error) -> Self {
        SinkError::with_source(err.to_string(), err)
    }
}
