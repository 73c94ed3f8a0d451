//! Counters: what happened to every event, per sink and overall. Each event given to a sink
//! ends up counted once, as delivered, dead-lettered, spooled or dropped with a reason, so no
//! loss goes unreported ([`SinkStats::is_conserved`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::diagnostics::SinkHealth;

/// Why an event did not reach a sink.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DropReason {
    /// The sink's queue was full under [`Overflow::DropNewest`](crate::Overflow::DropNewest).
    QueueFull,
    /// The queue stayed full for the whole [`Overflow::Block`](crate::Overflow::Block) timeout.
    BlockTimeout,
    /// The event alone is larger than the sink's whole queue.
    TooLarge,
    /// Emitted after the pipeline was shut down.
    Shutdown,
    /// A field's own `Serialize` or `Display` failed or panicked.
    SerializeError,
    /// The sink returned an error for the batch.
    SinkError,
    /// The sink panicked while writing the batch.
    SinkPanic,
    /// The sink's endpoints were failing and its disk spool was full (HTTP sink).
    SpoolFull,
    /// The events were refused for good and the dead-letter file had reached its size bound
    /// (HTTP sink).
    DeadLetterFull,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 9] = [
        DropReason::QueueFull,
        DropReason::BlockTimeout,
        DropReason::TooLarge,
        DropReason::Shutdown,
        DropReason::SerializeError,
        DropReason::SinkError,
        DropReason::SinkPanic,
        DropReason::SpoolFull,
        DropReason::DeadLetterFull,
    ];

    /// `"queue_full"`, `"block_timeout"`, `"too_large"`, `"shutdown"`, `"serialize_error"`,
    /// `"sink_error"`, `"sink_panic"`, `"spool_full"`, `"dead_letter_full"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::BlockTimeout => "block_timeout",
            DropReason::TooLarge => "too_large",
            DropReason::Shutdown => "shutdown",
            DropReason::SerializeError => "serialize_error",
            DropReason::SinkError => "sink_error",
            DropReason::SinkPanic => "sink_panic",
            DropReason::SpoolFull => "spool_full",
            DropReason::DeadLetterFull => "dead_letter_full",
        }
    }
}

impl DropReason {
    /// Whether the application chose this loss: its overflow policy dropped the event
    /// (`queue_full`, `block_timeout`). Every other reason is a failure to fix. Published as
    /// the `intentional` label of the `metrics` feature's discarded-events counter.
    pub const fn is_intentional(self) -> bool {
        matches!(self, DropReason::QueueFull | DropReason::BlockTimeout)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a layer's counters, from [`EventGuard::stats`](crate::EventGuard::stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events this layer received from `emit!`.
    pub emitted: u64,
    /// Events whose own `Serialize`/`Display` failed or panicked (each sink also counts them
    /// as dropped with reason `serialize_error`).
    pub serialize_errors: u64,
    /// Hashed values written `"[REDACTED]"` because the layer has no hash key.
    pub hash_key_missing: u64,
    /// The last serialize error, naming the event and field (never a value).
    pub last_serialize_error: Option<String>,
    /// Per sink, in the order they were added.
    pub sinks: Vec<SinkStats>,
}

impl Stats {
    /// The stats of the sink named `name`.
    pub fn sink(&self, name: &str) -> Option<&SinkStats> {
        self.sinks.iter().find(|sink| sink.name == name)
    }
}

/// What happened to the events that reached one sink.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Events offered to this sink.
    pub emitted: u64,
    /// Events accepted into its queue.
    pub enqueued: u64,
    /// Events the sink reported written.
    pub delivered: u64,
    /// Events lost, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Attempts the sink repeated (not losses).
    pub retried: u64,
    /// Events this run put in a disk spool that are still there, waiting for delivery. An
    /// event replayed from the spool leaves this count for `delivered` or `dead_lettered`.
    pub spooled: u64,
    /// Events written to a dead-letter file.
    pub dead_lettered: u64,
    /// Events an earlier run left in the spool that this run delivered. They are not part of
    /// this run's `emitted`, so they are counted apart.
    pub recovered: u64,
    /// Events an earlier run left in the spool that this run dead-lettered.
    pub recovered_dead_lettered: u64,
    /// Events an earlier run left in the spool that this run had to drop: refused by the
    /// endpoint, with no dead-letter file to take them (none configured, full, or failing).
    pub recovered_dropped: u64,
    /// Damaged stretches of the spool skipped on reading (torn tails, corrupt records, missing
    /// segments). Their events cannot be counted, so they are counted here, once per stretch.
    pub spool_corrupt: u64,
    /// Estimated bytes waiting in the queue (each event counted as its record, the event, and
    /// its type's last envelope size).
    pub queue_bytes: u64,
    /// Events accepted but not yet settled: queued, or held by a sink that has not yet
    /// delivered, spooled, dead-lettered or dropped them.
    pub pending: u64,
    /// `events_dropped` reports written into this sink.
    pub drop_reports: u64,
    /// The sink's last error message.
    pub last_error: Option<String>,
}

impl SinkStats {
    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Whether every event offered is accounted for: `emitted == delivered + dead_lettered +
    /// spooled + dropped`. Holds once the pipeline is quiet (after a complete flush).
    pub fn is_conserved(&self) -> bool {
        self.emitted == self.delivered + self.dead_lettered + self.spooled + self.dropped_total()
    }
}

/// The live counters of one sink.
#[derive(Default)]
pub(crate) struct SinkCounters {
    pub(crate) emitted: Sharded,
    pub(crate) enqueued: Sharded,
    pub(crate) delivered: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) retried: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) recovered_dead_lettered: AtomicU64,
    pub(crate) recovered_dropped: AtomicU64,
    pub(crate) spool_corrupt: AtomicU64,
    pub(crate) queue_bytes: AtomicU64,
    // One counter, not `Sharded`: callers add to it and workers take away, and a sum of slots
    // read while events move could go below zero.
    pub(crate) pending: AtomicU64,
    pub(crate) drop_reports: AtomicU64,
    /// Drops not yet reported in-band, by reason.
    unreported: [AtomicU64; DropReason::ALL.len()],
    pub(crate) last_error: Mutex<Option<String>>,
    /// When the flush or shutdown the worker is in must be done (see `Outcomes::deadline`).
    pub(crate) deadline: Mutex<Option<Instant>>,
    /// Says when the sink starts failing and recovers.
    health: Option<SinkHealth>,
}

impl SinkCounters {
    /// The counters of a sink whose failures and recoveries `health` reports.
    pub(crate) fn with_health(health: SinkHealth) -> Self {
        SinkCounters {
            health: Some(health),
            ..SinkCounters::default()
        }
    }

    /// `events` reached the sink's destination.
    pub(crate) fn count_delivered(&self, events: u64) {
        self.delivered.fetch_add(events, Ordering::Relaxed);
        if let (Some(health), true) = (&self.health, events > 0) {
            health.delivered();
        }
    }

    pub(crate) fn count_drop(&self, reason: DropReason, count: u64) {
        self.dropped[reason as usize].fetch_add(count, Ordering::Relaxed);
        self.unreported[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    /// Events dropped for `reason`.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Takes the drops not yet reported, by reason.
    pub(crate) fn take_unreported(&self) -> BTreeMap<DropReason, u64> {
        DropReason::ALL
            .iter()
            .filter_map(|&reason| {
                let count = self.unreported[reason as usize].swap(0, Ordering::Relaxed);
                (count > 0).then_some((reason, count))
            })
            .collect()
    }

    /// Puts back drops whose report could not be written.
    pub(crate) fn restore_unreported(&self, counts: &BTreeMap<DropReason, u64>) {
        for (&reason, &count) in counts {
            self.unreported[reason as usize].fetch_add(count, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_last_error(&self, message: String) {
        if let Some(health) = &self.health {
            health.error();
        }
        self.set_last_warning(message);
    }

    /// Sets `last_error` without marking the sink failing.
    pub(crate) fn set_last_warning(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }

    pub(crate) fn snapshot(&self, name: &str) -> SinkStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SinkStats {
            name: name.to_owned(),
            emitted: self.emitted.load(Ordering::Relaxed),
            enqueued: self.enqueued.load(Ordering::Relaxed),
            delivered: load(&self.delivered),
            dropped: DropReason::ALL
                .iter()
                .filter_map(|&reason| {
                    let count = load(&self.dropped[reason as usize]);
                    (count > 0).then_some((reason, count))
                })
                .collect(),
            retried: load(&self.retried),
            spooled: load(&self.spooled),
            dead_lettered: load(&self.dead_lettered),
            recovered: load(&self.recovered),
            recovered_dead_lettered: load(&self.recovered_dead_lettered),
            recovered_dropped: load(&self.recovered_dropped),
            spool_corrupt: load(&self.spool_corrupt),
            queue_bytes: load(&self.queue_bytes),
            pending: load(&self.pending),
            drop_reports: load(&self.drop_reports),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// The live counters of a layer, beside its sinks'.
#[derive(Default)]
pub(crate) struct LayerCounters {
    pub(crate) emitted: Sharded,
    pub(crate) serialize_errors: AtomicU64,
    pub(crate) hash_key_missing: AtomicU64,
    pub(crate) last_serialize_error: Mutex<Option<String>>,
}

/// A counter that every emitting thread adds to: [`SHARDS`] slots, each on its own cache line,
/// threads spread over them, summed when read.
///
/// One `AtomicU64` for all of them made each `emit!` of one thread take the counter's cache
/// line from the core of another, several times per event (the layer's and each sink's
/// `emitted` and `enqueued`). For counters that only grow, or that each thread takes back on
/// its own slot (submissions in progress): a sum of slots is then never below the true value
/// at the first load, nor above it at the last.
#[derive(Default)]
pub(crate) struct Sharded([Slot; SHARDS]);

/// How many slots a [`Sharded`] counter has.
const SHARDS: usize = 8;

/// One slot, alone on its cache line (two lines: adjacent lines are fetched in pairs).
#[derive(Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

/// Which slot this thread adds to.
fn shard() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl Sharded {
    /// Adds `value` (on this thread's slot).
    pub(crate) fn fetch_add(&self, value: u64, order: Ordering) {
        self.0[shard()].0.fetch_add(value, order);
    }

    /// Subtracts `value` from this thread's slot; the sum stays right even when the slot goes
    /// below zero (wrapping), once the matching adds are in.
    pub(crate) fn fetch_sub(&self, value: u64, order: Ordering) {
        self.0[shard()].0.fetch_sub(value, order);
    }

    /// The sum of every slot.
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, slot| sum.wrapping_add(slot.0.load(order)))
    }
}

#[cfg(test)]
mod sharded_tests {
    use super::*;

    #[test]
    fn a_sharded_counter_sums_every_threads_adds_and_subtractions() {
        let counter = Sharded::default();
        std::thread::scope(|scope| {
            for _ in 0..2 * SHARDS {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.fetch_add(3, Ordering::Relaxed);
                    }
                });
                // Takes away what others added: its own slot goes below zero.
                scope.spawn(|| counter.fetch_sub(1000, Ordering::Relaxed));
            }
        });
        assert_eq!(counter.load(Ordering::Relaxed), (2 * SHARDS * 2000) as u64);
    }
}
