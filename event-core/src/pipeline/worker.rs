//! One sink's worker thread: takes what is queued, writes it as one batch, and accounts for
//! every event. Nothing this thread does, nor the sink's own `tracing` calls, reaches a
//! subscriber: the thread runs with a no-op dispatcher, so there is no feedback loop.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::queue::{Item, SinkShared};
use crate::pipeline::events_dropped::EventsDropped;
use crate::pipeline::record::Record;
use crate::render::envelope::EnvelopeWriter;
use crate::sink::{Batch, BatchEvent, Outcomes};
use crate::stats::DropReason;
use crate::Sink;

pub(super) fn spawn<S: Sink>(
    sink: S,
    name: &str,
    receiver: Receiver<Item>,
    shared: Arc<SinkShared>,
    writer: Arc<EnvelopeWriter>,
    max_batch: usize,
    encodes_alone: bool,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = crate::pipeline::silence::sink_runtime()?;
    // Registered here, on the thread building the layer, with the recorder it has.
    #[cfg(feature = "metrics")]
    let metrics = super::metrics::SinkMetrics::register(name, shared.max_queue_bytes);
    crate::pipeline::silence::spawn_silenced(format!("event-sink-{name}"), move || {
        Worker {
            sink,
            runtime,
            shared,
            writer,
            max_batch,
            encodes_alone,
            buffer: Vec::new(),
            ends: Vec::with_capacity(max_batch),
            #[cfg(feature = "metrics")]
            metrics,
        }
        .run(receiver);
    })
}

struct Worker<S> {
    sink: S,
    runtime: tokio::runtime::Runtime,
    shared: Arc<SinkShared>,
    writer: Arc<EnvelopeWriter>,
    max_batch: usize,
    /// Whether this is the layer's only sink, so no other worker needs the envelopes.
    encodes_alone: bool,
    /// The envelopes of the batch being written, one NDJSON line after another.
    buffer: Vec<u8>,
    /// Where each envelope ends in `buffer` (before its newline), with its record's index in
    /// the batch.
    ends: Vec<(usize, usize)>,
    /// The sink's counters as metrics.
    #[cfg(feature = "metrics")]
    metrics: super::metrics::SinkMetrics,
}

/// The most a worker's envelope buffer keeps between batches.
const KEPT_BUFFER_BYTES: usize = 1 << 20;

/// How many records ahead of the one being written the worker asks the CPU to load.
///
/// A queued record was written by the emitting thread, on another core, and has often waited
/// behind megabytes of others: reading it is a cache miss, and the envelope waits for it.
/// Asking for the records a few places ahead overlaps those misses with writing envelopes.
/// In the comparison benchmark (`benches/compare.rs`, `ours-null`, four alternating runs
/// each way) this took the CPU time per event from 3.0–3.9 µs to 2.6–3.1 µs, and 4 did
/// better than 8 or 16.
const PREFETCH_AHEAD: usize = 4;

/// `records` with their indexes, each one's [`PREFETCH_AHEAD`]th successor prefetched as it is
/// reached (and the first ones at once).
fn prefetching(records: &[Arc<Record>]) -> impl Iterator<Item = (usize, &Arc<Record>)> {
    records
        .iter()
        .take(PREFETCH_AHEAD)
        .for_each(prefetch_record);
    records.iter().enumerate().inspect(|(index, _)| {
        if let Some(ahead) = records.get(index + PREFETCH_AHEAD) {
            prefetch_record(ahead);
        }
    })
}

/// Asks the CPU to start loading `record` (its first cache lines) into the cache.
#[inline]
fn prefetch_record(record: &Arc<Record>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = Arc::as_ptr(record).cast::<i8>();
        let size = std::mem::size_of_val::<Record>(record);
        for offset in (0..size.min(512)).step_by(64) {
            // SAFETY: prefetching never faults nor reads memory into the program; the address
            // is inside the record.
            unsafe { _mm_prefetch(start.wrapping_add(offset), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = record;
}

/// The sink methods called outside of `write_batch`.
#[derive(Clone, Copy)]
enum Call {
    Flush,
    Shutdown,
}

/// An `events_dropped` report waiting to be written, with the counts it reports.
struct DropReport {
    record: Arc<Record>,
    counts: BTreeMap<DropReason, u64>,
}

impl<S: Sink> Worker<S> {
    fn run(mut self, receiver: Receiver<Item>) {
        let outcomes = Outcomes::new(Arc::clone(&self.shared.counters));
        if crate::caught::catch(|| self.sink.attach(outcomes)).is_err() {
            self.shared
                .counters
                .set_last_error("the sink panicked in attach".into());
        }
        let mut records: Vec<Arc<Record>> = Vec::with_capacity(self.max_batch);
        let mut control = None;
        loop {
            let item = match control.take() {
                Some(item) => item,
                None => match self.next(&receiver) {
                    Some(item) => item,
                    None => return,
                },
            };
            match item {
                Item::Event(record) => {
                    records.push(record);
                    while records.len() < self.max_batch {
                        match receiver.try_recv() {
                            Ok(Item::Event(record)) => records.push(record),
                            Ok(other) => {
                                control = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.deliver(&records);
                    // Given back first, so a caller that the release wakes finds them.
                    let accounted = self.shared.accounted_all(&records);
                    crate::pipeline::origin::give_back(&mut records);
                    self.shared.release(accounted);
                    self.publish();
                }
                Item::Flush(done, deadline) => {
                    self.write_drop_report();
                    self.set_deadline(Some(deadline));
                    self.call(Call::Flush);
                    self.set_deadline(None);
                    self.publish();
                    let _ = done.send(());
                }
                Item::Shutdown(done, deadline) => {
                    self.write_drop_report();
                    // Three quarters of the time to flush, the rest to settle what is held,
                    // but for a last twentieth in which the answer reaches the application.
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.set_deadline(Some(deadline - left / 4));
                    self.call(Call::Flush);
                    self.set_deadline(Some(deadline - left / 20));
                    self.call(Call::Shutdown);
                    self.set_deadline(None);
                    // Events sent behind the shutdown are counted, not lost.
                    self.shared.stop(&receiver);
                    self.publish();
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    /// The next item; `None` once every sender is gone. With metrics, a worker with nothing
    /// to do still publishes them every `PUBLISH_INTERVAL`, for what the sink settles on its
    /// own threads and what callers drop meanwhile.
    fn next(&self, receiver: &Receiver<Item>) -> Option<Item> {
        #[cfg(feature = "metrics")]
        loop {
            match receiver.recv_timeout(super::metrics::PUBLISH_INTERVAL) {
                Ok(item) => return Some(item),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => self.publish(),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            }
        }
        #[cfg(not(feature = "metrics"))]
        receiver.recv().ok()
    }

    /// Sets the sink's metrics to its counters (with the `metrics` feature).
    fn publish(&self) {
        #[cfg(feature = "metrics")]
        self.metrics.publish(&self.shared.counters);
    }

    /// Tells the sink (through `Outcomes::deadline`) when the call under way must be done.
    fn set_deadline(&self, deadline: Option<Instant>) {
        *self
            .shared
            .counters
            .deadline
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = deadline;
    }

    /// Writes `records` as one batch, with a report of earlier losses after them if there is
    /// one (the queue has room again), and counts each event delivered or dropped.
    fn deliver(&mut self, records: &[Arc<Record>]) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        // The batch's events borrow the writer while the sink (in `self`) is called.
        let writer = Arc::clone(&self.writer);
        let mut buffer = std::mem::take(&mut self.buffer);
        let mut ends = std::mem::take(&mut self.ends);
        let mut events = Vec::with_capacity(records.len() + 1);
        let mut ndjson = None;
        let report;
        if self.encodes_alone {
            // The layer's only sink: every envelope of the batch, and the report, go into one
            // buffer as NDJSON lines, kept from batch to batch, instead of one allocation per
            // event; a sink that writes NDJSON takes the buffer as it is (`Batch::ndjson`).
            let push = |record: &Record, buffer: &mut Vec<u8>| {
                let result = record.encode_into(&self.writer, buffer);
                if result.is_ok() {
                    buffer.push(b'\n');
                }
                result.map(|()| buffer.len() - 1)
            };
            for (index, record) in prefetching(records) {
                match push(record, &mut buffer) {
                    Ok(end) => ends.push((index, end)),
                    Err(err) => counters.count_drop(err.reason(), 1),
                }
            }
            // After the batch's own losses are counted, so it reports them too.
            report = self.drop_report();
            let report_end = report
                .as_ref()
                .and_then(|report| push(&report.record, &mut buffer).ok());
            let mut start = 0;
            for &(index, end) in &ends {
                events.push(records[index].batch_event(&writer, &buffer[start..end]));
                start = end + 1;
            }
            if let (Some(report), Some(end)) = (&report, report_end) {
                let json = &buffer[start..end];
                events.push(report.record.uncounted_batch_event(&writer, json));
            }
            ndjson = Some(&buffer[..]);
        } else {
            for (_, record) in prefetching(records) {
                match record.encoded(&self.writer) {
                    Ok(json) => events.push(record.batch_event(&writer, json)),
                    Err(err) => counters.count_drop(err.reason(), 1),
                }
            }
            report = self.drop_report();
            if let Some(report) = &report {
                if let Ok(json) = report.record.encoded(&self.writer) {
                    events.push(report.record.uncounted_batch_event(&writer, json));
                }
            }
        }
        let count = events.iter().filter(|event| event.is_counted()).count() as u64;
        let report_written = if events.is_empty() {
            false
        } else {
            let (result, taken_over) = self.write(&events, ndjson);
            if taken_over {
                // The sink settles these events itself; until then they stay pending
                // (`release` below takes them off).
                counters.pending.fetch_add(count, Ordering::Relaxed);
            } else {
                match &result {
                    Ok(()) => counters.count_delivered(count),
                    Err(reason) => counters.count_drop(*reason, count),
                }
            }
            result.is_ok() && events.len() as u64 > count
        };
        drop(events);
        if let Some(report) = report {
            self.settle(report, report_written);
        }
        buffer.clear();
        // A batch of huge events does not keep its memory once written.
        buffer.shrink_to(KEPT_BUFFER_BYTES);
        ends.clear();
        self.buffer = buffer;
        self.ends = ends;
    }

    /// A report of the losses not yet reported, if any.
    fn drop_report(&self) -> Option<DropReport> {
        let counts = self.shared.counters.take_unreported();
        (!counts.is_empty()).then(|| DropReport {
            record: Record::internal(EventsDropped::new(&counts), &self.writer.size_hints),
            counts,
        })
    }

    /// Counts a report written, or puts its counts back for the next one.
    fn settle(&self, report: DropReport, written: bool) {
        let counters = &self.shared.counters;
        if written {
            counters.drop_reports.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.restore_unreported(&report.counts);
        }
    }

    /// Writes a report of earlier losses on its own (at flush and shutdown).
    fn write_drop_report(&mut self) {
        let Some(report) = self.drop_report() else {
            return;
        };
        let writer = Arc::clone(&self.writer);
        let written = match report.record.encoded(&writer) {
            Ok(json) => {
                let event = report.record.uncounted_batch_event(&writer, json);
                self.write(&[event], None).0.is_ok()
            }
            Err(_) => false,
        };
        self.settle(report, written);
    }

    /// Hands one batch to the sink; a panic in it is caught. Also says whether the sink took
    /// over the batch's accounting.
    fn write(
        &mut self,
        events: &[BatchEvent<'_>],
        ndjson: Option<&[u8]>,
    ) -> (Result<(), DropReason>, bool) {
        let batch = Batch::new(events, ndjson, &self.shared.counters);
        let sink = &mut self.sink;
        let runtime = &self.runtime;
        let result = crate::caught::catch(|| runtime.block_on(sink.write_batch(&batch)));
        (self.outcome(result), batch.is_taken_over())
    }

    fn outcome(
        &self,
        result: std::thread::Result<Result<(), crate::SinkError>>,
    ) -> Result<(), DropReason> {
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                self.shared.counters.set_last_error(err.to_string());
                Err(DropReason::SinkError)
            }
            Err(_panic) => {
                self.shared
                    .counters
                    .set_last_error("the sink panicked while writing".into());
                Err(DropReason::SinkPanic)
            }
        }
    }

    /// Calls `flush` or `shutdown`, catching errors and panics.
    fn call(&mut self, call: Call) {
        let sink = &mut self.sink;
        let runtime = &self.runtime;
        let result = crate::caught::catch(|| match call {
            Call::Flush => runtime.block_on(sink.flush()),
            Call::Shutdown => runtime.block_on(sink.shutdown()),
        });
        let what = match call {
            Call::Flush => "flush",
            Call::Shutdown => "shutdown",
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => self
                .shared
                .counters
                .set_last_error(format!("{what}: {err}")),
            Err(_panic) => self
                .shared
                .counters
                .set_last_error(format!("the sink panicked in {what}")),
        }
    }
}
