//! The pipeline of one `EventLayer`: records fan out to one bounded queue per sink, and one
//! worker thread per sink writes them.
//!
//! Where serialization happens: on the sink workers, not in `emit!`. The caller only takes the
//! time, an id and the span context, moves the event into its record (one allocation), and
//! pushes that into each sink's queue, so its cost does not grow with the event's size or
//! treatments (HMAC, masks). A layer's only sink writes the envelopes of a batch one after
//! another into one buffer it keeps; with several sinks, the first worker that needs a record
//! writes its envelope once for all of them (`Record::encoded`). The price is that a queued
//! event is accounted at an estimate of its encoded size (its type's last encoded size) rather
//! than its exact size. Once written, a record goes back to the thread that emitted it, which
//! frees it (`origin`): glibc's allocator makes a thread that frees another's memory wait on
//! that thread's lock.

pub(crate) mod events_dropped;
pub(crate) mod guard;
#[cfg(feature = "metrics")]
mod metrics;
pub(crate) mod origin;
mod queue;
pub(crate) mod record;
pub(crate) mod silence;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use queue::{Item, SinkQueue};
pub use queue::{Overflow, SinkOptions};

use crate::pipeline::record::Record;
use crate::render::envelope::EnvelopeWriter;
use crate::stats::{DropReason, LayerCounters, Sharded, Stats};
use crate::{BuildError, Sink};

/// One layer's pipeline.
pub(crate) struct Pipeline {
    writer: Arc<EnvelopeWriter>,
    sinks: Vec<SinkQueue>,
    /// Set by shutdown: later events are dropped with reason `shutdown`.
    closed: AtomicBool,
    /// Submissions in progress, so shutdown can wait for them to be accounted. Each thread
    /// adds and takes away on its own slot.
    submitting: Sharded,
}

/// Starts a sink's worker, given its name, the layer's envelope writer, and whether it is the
/// layer's only sink.
type StartSink = Box<
    dyn FnOnce(String, Arc<EnvelopeWriter>, bool) -> Result<(SinkQueue, JoinHandle<()>), BuildError>
        + Send,
>;

/// A sink waiting for its worker thread, as handed to the builder.
pub(crate) struct SinkStarter {
    pub(crate) name: String,
    start: StartSink,
}

/// Wraps a sink so the builder can start it once the pipeline's writer exists.
pub(crate) fn sink_starter<S: Sink>(sink: S, options: SinkOptions) -> SinkStarter {
    SinkStarter {
        name: sink.name(),
        start: Box::new(move |name, writer, alone| {
            queue::start(sink, name, options, writer, alone)
        }),
    }
}

impl Pipeline {
    pub(crate) fn start(
        writer: EnvelopeWriter,
        sinks: Vec<SinkStarter>,
    ) -> Result<(Pipeline, Vec<JoinHandle<()>>), BuildError> {
        let writer = Arc::new(writer);
        let mut queues = Vec::with_capacity(sinks.len());
        let mut workers = Vec::with_capacity(sinks.len());
        for (index, sink) in sinks.iter().enumerate() {
            if sinks[..index].iter().any(|other| other.name == sink.name) {
                return Err(BuildError::new(
                    "sink",
                    format!(
                        "two sinks are named `{}`: give one another name (such as \
                         MemorySink::named(..)), so their stats can be told apart",
                        sink.name
                    ),
                ));
            }
        }
        let alone = sinks.len() == 1;
        for sink in sinks {
            let (queue, worker) = (sink.start)(sink.name, Arc::clone(&writer), alone)?;
            queues.push(queue);
            workers.push(worker);
        }
        let pipeline = Pipeline {
            writer,
            sinks: queues,
            closed: AtomicBool::new(false),
            submitting: Sharded::default(),
        };
        Ok((pipeline, workers))
    }

    /// Offers a record to every sink. Never waits on I/O; waits for queue space only under
    /// `Overflow::Block`, at most its timeout.
    /// The envelope sizes its events are accounted for by.
    pub(crate) fn size_hints(&self) -> &crate::render::envelope::SizeHints {
        &self.writer.size_hints
    }

    pub(crate) fn submit(&self, record: Arc<Record>) {
        self.submitting.fetch_add(1, Ordering::SeqCst);
        self.writer.counters.emitted.fetch_add(1, Ordering::Relaxed);
        let closed = self.closed.load(Ordering::SeqCst);
        if closed {
            self.writer.diagnostics.emitted_after_shutdown();
        }
        for sink in &self.sinks {
            if closed {
                sink.reject(DropReason::Shutdown);
            } else {
                sink.enqueue(Arc::clone(&record), &self.closed);
            }
        }
        self.submitting.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn stats(&self) -> Stats {
        let counters: &LayerCounters = &self.writer.counters;
        Stats {
            emitted: counters.emitted.load(Ordering::Relaxed),
            serialize_errors: counters.serialize_errors.load(Ordering::Relaxed),
            hash_key_missing: counters.hash_key_missing.load(Ordering::Relaxed),
            last_serialize_error: counters
                .last_serialize_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            sinks: self.sinks.iter().map(SinkQueue::stats).collect(),
        }
    }

    /// Asks every sink to write what it has and flush; waits until `deadline`.
    pub(crate) fn flush(&self, deadline: Instant) -> FlushReport {
        self.round_trip(deadline, |done| Item::Flush(done, deadline))
    }

    /// Closes the pipeline, then flushes and stops every sink; waits until `deadline`.
    pub(crate) fn shutdown(&self, deadline: Instant) -> FlushReport {
        self.closed.store(true, Ordering::SeqCst);
        for sink in &self.sinks {
            sink.wake_blocked();
        }
        // Submissions that saw the pipeline open finish enqueuing before the workers are told
        // to stop, so none is left unaccounted in a queue. They wait for space at most their
        // `Block` timeout.
        while self.submitting.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        self.round_trip(deadline, |done| Item::Shutdown(done, deadline))
    }

    fn round_trip(
        &self,
        deadline: Instant,
        item: impl Fn(crossbeam_channel::Sender<()>) -> Item,
    ) -> FlushReport {
        let start = Instant::now();
        let waits: Vec<_> = self
            .sinks
            .iter()
            .map(|sink| sink.send_control(&item))
            .collect();
        let sinks = self
            .sinks
            .iter()
            .zip(waits)
            .map(|(sink, done)| {
                // No answer to wait for: the sink's worker has stopped, nothing is pending.
                let done = done.is_none_or(|rx| rx.recv_deadline(deadline).is_ok());
                SinkFlush {
                    name: sink.name().to_owned(),
                    done,
                    pending: sink.pending(),
                }
            })
            .collect();
        FlushReport {
            elapsed: start.elapsed(),
            sinks,
        }
    }
}

/// What `EventGuard::flush` or `shutdown` achieved before its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushReport {
    elapsed: Duration,
    sinks: Vec<SinkFlush>,
}

impl FlushReport {
    /// Whether every sink finished: every event emitted before the call is then delivered,
    /// dead-lettered, spooled or counted as dropped.
    pub fn is_complete(&self) -> bool {
        self.sinks.iter().all(|sink| sink.done)
    }

    /// How long the call took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Per sink.
    pub fn sinks(&self) -> &[SinkFlush] {
        &self.sinks
    }

    /// Events still waiting in all sinks when the call returned.
    pub fn pending(&self) -> u64 {
        self.sinks.iter().map(|sink| sink.pending).sum()
    }
}

/// One sink's part of a [`FlushReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkFlush {
    /// The sink's name.
    pub name: String,
    /// Whether it finished before the timeout.
    pub done: bool,
    /// Events it still had waiting when the call returned.
    pub pending: u64,
}
