//! One sink's bounded queue: bounded in (estimated) bytes, with the sink's overflow policy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::diagnostics::SinkHealth;
use crate::pipeline::record::Record;
use crate::render::envelope::EnvelopeWriter;
use crate::stats::{DropReason, SinkCounters, SinkStats};
use crate::{BuildError, Sink};

/// What happens to an event when a sink's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Drop it, counted with reason `queue_full`; `emit!` never waits. The default.
    DropNewest,
    /// Make `emit!` wait for space, at most `timeout`; then drop it with reason
    /// `block_timeout`. Nothing is lost while the sink keeps up within the timeout.
    Block {
        /// The longest `emit!` waits.
        timeout: Duration,
    },
}

/// How one sink's queue behaves.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    pub(crate) max_queue_bytes: usize,
    pub(crate) overflow: Overflow,
    pub(crate) max_batch_events: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            max_queue_bytes: 16 << 20,
            overflow: Overflow::DropNewest,
            max_batch_events: 1024,
        }
    }
}

impl SinkOptions {
    /// The defaults: a 16 MiB queue, [`Overflow::DropNewest`], batches of up to 1024 events.
    pub fn new() -> Self {
        Self::default()
    }

    /// The queue's bound, in estimated encoded bytes.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// What happens when the queue is full.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The most events handed to the sink in one batch.
    pub fn max_batch_events(mut self, events: usize) -> Self {
        self.max_batch_events = events;
        self
    }
}

pub(crate) enum Item {
    Event(Arc<Record>),
    /// A flush, to be done by the deadline.
    Flush(Sender<()>, Instant),
    /// A shutdown, to be done by the deadline.
    Shutdown(Sender<()>, Instant),
}

/// What the queue's producers and its worker share.
pub(crate) struct SinkShared {
    pub(crate) counters: Arc<SinkCounters>,
    /// Signalled when the worker frees queue space, for `Overflow::Block`.
    space: Mutex<()>,
    space_freed: Condvar,
    pub(super) max_queue_bytes: u64,
    /// Set when a `Block` wait timed out; cleared when the worker frees space. While set,
    /// `emit!` does not wait again: a dead sink costs each caller one timeout, not one per event.
    congested: AtomicBool,
    /// Set by the worker when it stops: events still in the channel are counted as dropped.
    stopped: AtomicBool,
}

impl SinkShared {
    /// The bytes `record` is accounted for in this queue: its estimate, at most the bound.
    pub(crate) fn accounted(&self, record: &Record) -> u64 {
        (record.queue_bytes as u64).min(self.max_queue_bytes)
    }

    /// What `records` take in the queue, to be released once the worker is done with them.
    pub(crate) fn accounted_all(&self, records: &[Arc<Record>]) -> Held {
        Held {
            bytes: records.iter().map(|r| self.accounted(r)).sum(),
            events: records.len() as u64,
        }
    }

    /// Returns the space of records the worker is done with.
    pub(crate) fn release(&self, held: Held) {
        self.counters
            .queue_bytes
            .fetch_sub(held.bytes, Ordering::SeqCst);
        self.counters
            .pending
            .fetch_sub(held.events, Ordering::Relaxed);
        self.congested.store(false, Ordering::SeqCst);
        let _lock = self.space.lock().unwrap_or_else(|p| p.into_inner());
        self.space_freed.notify_all();
    }

    /// Reserves `bytes`, if they fit.
    fn try_reserve(&self, bytes: u64) -> bool {
        self.counters
            .queue_bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used + bytes <= self.max_queue_bytes).then_some(used + bytes)
            })
            .is_ok()
    }

    /// Marks the worker stopped and counts what is left in the channel as dropped.
    pub(crate) fn stop(&self, receiver: &Receiver<Item>) {
        self.stopped.store(true, Ordering::SeqCst);
        self.drain_stopped(receiver);
    }

    /// Once the worker has stopped, whoever finds events in the channel accounts for them:
    /// the worker as it stops, or a sender that got in behind it.
    fn drain_stopped(&self, receiver: &Receiver<Item>) {
        for item in receiver.try_iter() {
            match item {
                Item::Event(record) => {
                    self.release(self.accounted_all(std::slice::from_ref(&record)));
                    self.counters.count_drop(DropReason::Shutdown, 1);
                }
                Item::Flush(done, _) | Item::Shutdown(done, _) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// The queue space and events of records a worker holds.
pub(crate) struct Held {
    bytes: u64,
    events: u64,
}

/// The producers' end of one sink's queue.
pub(crate) struct SinkQueue {
    name: String,
    sender: Sender<Item>,
    /// Kept so the channel outlives the worker, and leftovers can be counted.
    receiver: Receiver<Item>,
    shared: Arc<SinkShared>,
    overflow: Overflow,
}

/// Starts `sink`'s worker thread and returns its queue.
pub(crate) fn start<S: Sink>(
    sink: S,
    name: String,
    options: SinkOptions,
    writer: Arc<EnvelopeWriter>,
    encodes_alone: bool,
) -> Result<(SinkQueue, JoinHandle<()>), BuildError> {
    if options.max_queue_bytes == 0 || options.max_batch_events == 0 {
        return Err(BuildError::new(
            format!("sink `{name}` options"),
            "max_queue_bytes and max_batch_events must be at least 1",
        ));
    }
    let (sender, receiver): (Sender<Item>, Receiver<Item>) = crossbeam_channel::unbounded();
    let shared = Arc::new(SinkShared {
        counters: Arc::new(SinkCounters::with_health(SinkHealth::new(
            name.clone(),
            Arc::clone(&writer.diagnostics),
        ))),
        space: Mutex::new(()),
        space_freed: Condvar::new(),
        max_queue_bytes: options.max_queue_bytes as u64,
        congested: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
    });
    let worker = super::worker::spawn(
        sink,
        &name,
        receiver.clone(),
        Arc::clone(&shared),
        writer,
        options.max_batch_events,
        encodes_alone,
    )
    .map_err(|err| {
        BuildError::with_source(
            format!("sink `{name}`"),
            "could not start its worker thread",
            err,
        )
    })?;
    let queue = SinkQueue {
        name,
        sender,
        receiver,
        shared,
        overflow: options.overflow,
    };
    Ok((queue, worker))
}

impl SinkQueue {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn stats(&self) -> SinkStats {
        self.shared.counters.snapshot(&self.name)
    }

    pub(crate) fn pending(&self) -> u64 {
        self.shared.counters.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Counts an event this sink will not get.
    pub(crate) fn reject(&self, reason: DropReason) {
        self.shared.counters.emitted.fetch_add(1, Ordering::Relaxed);
        self.shared.counters.count_drop(reason, 1);
    }

    /// Queues `record`, or counts why not. Waits only under `Overflow::Block`.
    pub(crate) fn enqueue(&self, record: Arc<Record>, closed: &AtomicBool) {
        let counters = &self.shared.counters;
        let bytes = self.shared.accounted(&record);
        if !self.shared.try_reserve(bytes) {
            let reserved = match self.overflow {
                Overflow::DropNewest => false,
                Overflow::Block { timeout } => self.wait_for_space(bytes, timeout, closed),
            };
            if !reserved {
                let reason = match self.overflow {
                    _ if closed.load(Ordering::SeqCst) => DropReason::Shutdown,
                    Overflow::DropNewest => DropReason::QueueFull,
                    Overflow::Block { .. } => DropReason::BlockTimeout,
                };
                return self.reject(reason);
            }
        }
        counters.emitted.fetch_add(1, Ordering::Relaxed);
        counters.enqueued.fetch_add(1, Ordering::Relaxed);
        counters.pending.fetch_add(1, Ordering::Relaxed);
        // The channel lives as long as this queue, so sending cannot fail.
        let _ = self.sender.send(Item::Event(record));
        if self.stopped() {
            self.shared.drain_stopped(&self.receiver);
        }
    }

    fn wait_for_space(&self, bytes: u64, timeout: Duration, closed: &AtomicBool) -> bool {
        if self.shared.congested.load(Ordering::SeqCst) {
            return false;
        }
        let deadline = Instant::now() + timeout;
        let mut lock = self.shared.space.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.shared.try_reserve(bytes) {
                return true;
            }
            // While it waits, the thread frees its events the worker has written meanwhile.
            drop(lock);
            crate::pipeline::origin::free_returned();
            lock = self.shared.space.lock().unwrap_or_else(|p| p.into_inner());
            if self.shared.try_reserve(bytes) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.shared.congested.store(true, Ordering::SeqCst);
                return false;
            }
            if closed.load(Ordering::SeqCst) {
                return false;
            }
            lock = self
                .shared
                .space_freed
                .wait_timeout(lock, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes `emit!` calls blocked on this queue (at shutdown).
    pub(crate) fn wake_blocked(&self) {
        let _lock = self.shared.space.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.space_freed.notify_all();
    }

    /// Sends a control item behind the queued events; returns where its answer will come, or
    /// `None` if the worker has already stopped (nothing is left to wait for).
    pub(crate) fn send_control(
        &self,
        item: impl FnOnce(Sender<()>) -> Item,
    ) -> Option<Receiver<()>> {
        if self.stopped() {
            return None;
        }
        let (done, wait) = crossbeam_channel::bounded(1);
        let _ = self.sender.send(item(done));
        if self.stopped() {
            self.shared.drain_stopped(&self.receiver);
        }
        Some(wait)
    }
}
