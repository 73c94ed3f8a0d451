//! One sink's worker thread: takes what is queued, writes it as one batch, and accounts for
//! every event. Nothing this thread does, nor the sink's own `tracing` calls, reaches a
//! subscriber: the thread runs with a no-op dispatcher, so there is no feedback loop.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use super::queue::{Item, SinkShared};
use crate::envelope::EnvelopeWriter;
use crate::events_dropped::EventsDropped;
use crate::record::Record;
use crate::sink::{Batch, BatchEvent};
use crate::stats::DropReason;
use crate::Sink;

thread_local! {
    static IN_PIPELINE: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is a pipeline worker thread: events from here are never claimed.
pub(crate) fn in_pipeline_thread() -> bool {
    IN_PIPELINE.with(Cell::get)
}

pub(super) fn spawn<S: Sink>(
    sink: S,
    name: &str,
    receiver: Receiver<Item>,
    shared: Arc<SinkShared>,
    writer: Arc<EnvelopeWriter>,
    max_batch: usize,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name(format!("event-sink-{name}"))
        .spawn(move || {
            IN_PIPELINE.with(|flag| flag.set(true));
            let _silence = tracing_core::dispatcher::set_default(&tracing_core::Dispatch::none());
            Worker {
                sink,
                runtime,
                shared,
                writer,
                max_batch,
            }
            .run(receiver);
        })
}

#[derive(Clone, Copy)]
enum Call {
    Flush,
    Shutdown,
}

struct Worker<S> {
    sink: S,
    runtime: tokio::runtime::Runtime,
    shared: Arc<SinkShared>,
    writer: Arc<EnvelopeWriter>,
    max_batch: usize,
}

impl<S: Sink> Worker<S> {
    fn run(mut self, receiver: Receiver<Item>) {
        let mut records: Vec<Arc<Record>> = Vec::with_capacity(self.max_batch);
        let mut control = None;
        loop {
            let item = match control.take() {
                Some(item) => item,
                None => match receiver.recv() {
                    Ok(item) => item,
                    Err(_) => return,
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
                    let bytes = records.iter().map(|r| r.queue_bytes as u64).sum();
                    self.shared.release(bytes, records.len() as u64);
                    records.clear();
                    // The queue has room again: say what was lost meanwhile.
                    self.report_drops();
                }
                Item::Flush(done) => {
                    self.report_drops();
                    self.call(Call::Flush);
                    let _ = done.send(());
                }
                Item::Shutdown(done) => {
                    self.report_drops();
                    self.call(Call::Flush);
                    self.call(Call::Shutdown);
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    /// Writes `records` as one batch and counts each event delivered or dropped.
    fn deliver(&mut self, records: &[Arc<Record>]) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        let mut events = Vec::with_capacity(records.len());
        for record in records {
            match record.encoded(&self.writer) {
                Ok(json) => events.push(BatchEvent {
                    json,
                    name: record.name(),
                    level: record.level(),
                    timestamp: record.meta.timestamp,
                    event_id: record.meta.event_id,
                }),
                Err(_) => counters.drop(DropReason::SerializeError, 1),
            }
        }
        if events.is_empty() {
            return;
        }
        let count = events.len() as u64;
        match self.write(&events) {
            Ok(()) => {
                counters.delivered.fetch_add(count, Ordering::Relaxed);
            }
            Err(reason) => counters.drop(reason, count),
        }
    }

    /// Hands one batch to the sink; a panic in it is caught.
    fn write(&mut self, events: &[BatchEvent<'_>]) -> Result<(), DropReason> {
        let batch = Batch::new(events);
        let sink = &mut self.sink;
        let runtime = &self.runtime;
        match catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(sink.write_batch(&batch))
        })) {
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
        let result = catch_unwind(AssertUnwindSafe(|| match call {
            Call::Flush => runtime.block_on(sink.flush()),
            Call::Shutdown => runtime.block_on(sink.shutdown()),
        }));
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

    /// Writes an `events_dropped` event into this sink if it lost events since the last one.
    /// It is the pipeline's own event: not counted as emitted or delivered.
    fn report_drops(&mut self) {
        let counters = &self.shared.counters;
        let lost = counters.take_unreported();
        if lost.is_empty() {
            return;
        }
        let record = Record::internal(EventsDropped::new(&lost));
        let written = match record.encoded(&self.writer) {
            Ok(json) => {
                let event = BatchEvent {
                    json,
                    name: record.name(),
                    level: record.level(),
                    timestamp: record.meta.timestamp,
                    event_id: record.meta.event_id,
                };
                self.write(&[event]).is_ok()
            }
            Err(_) => false,
        };
        if written {
            self.shared
                .counters
                .drop_reports
                .fetch_add(1, Ordering::Relaxed);
        } else {
            self.shared.counters.restore_unreported(&lost);
        }
    }
}
