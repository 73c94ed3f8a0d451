//! Each sink's counters published through the `metrics` facade (cargo feature `metrics`).
//!
//! The counters stay where they are kept (the sink's stats); the sink's worker thread brings
//! the metrics up to them after every batch, flush and shutdown, and once a second while it
//! waits, so nothing is counted twice and `emit!` pays nothing for them. Counters are raised by
//! what changed since the last publish (`increment`, which every recorder supports; StatsD's
//! ignores `absolute`). The handles are registered with the recorder installed when the layer
//! is built.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Label, Unit};

use crate::stats::{DropReason, SinkCounters};

/// How often a waiting worker publishes what changed meanwhile (the HTTP sink settles
/// batches after its worker has handed them over).
pub(super) const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// The metrics, by name, with their unit and description: the names Vector gives its
/// components' own metrics, the label `component_id` the sink's name.
const COUNTERS: [(&str, Unit, &str); 6] = [
    (
        "component_received_events_total",
        Unit::Count,
        "Events offered to the sink (its stats' `emitted`).",
    ),
    (
        "component_sent_events_total",
        Unit::Count,
        "Events the sink delivered (`delivered`).",
    ),
    (
        "component_discarded_events_total",
        Unit::Count,
        "Events lost, by `reason`; `intentional` is \"true\" for drops the overflow policy chose.",
    ),
    (
        "component_dead_lettered_events_total",
        Unit::Count,
        "Events written to the sink's dead-letter file (`dead_lettered`).",
    ),
    (
        "component_recovered_events_total",
        Unit::Count,
        "Events an earlier run left in the spool, by `outcome` (\"sent\", \"dead_lettered\" or \"dropped\").",
    ),
    (
        "component_retried_requests_total",
        Unit::Count,
        "Attempts the sink repeated (`retried`), not losses.",
    ),
];

const GAUGES: [(&str, Unit, &str); 4] = [
    (
        "buffer_byte_size",
        Unit::Bytes,
        "Estimated bytes waiting in the sink's queue (`queue_bytes`).",
    ),
    (
        "buffer_max_byte_size",
        Unit::Bytes,
        "The bound of the sink's queue, in bytes.",
    ),
    (
        "component_spooled_events",
        Unit::Count,
        "Events this run put in the disk spool that are still there (`spooled`).",
    ),
    (
        "component_pending_events",
        Unit::Count,
        "Events accepted but not yet delivered, spooled, dead-lettered or dropped (`pending`).",
    ),
];

/// A counter and what was published of it; raised to the sink's count by the difference.
/// Used on the sink's worker thread only.
struct Raised {
    counter: Counter,
    published: Cell<u64>,
}

impl Raised {
    fn raise_to(&self, count: u64) {
        let published = self.published.get();
        if count > published {
            self.counter.increment(count - published);
            self.published.set(count);
        }
    }
}

/// One sink's metric handles.
pub(super) struct SinkMetrics {
    received: Raised,
    sent: Raised,
    discarded: [Raised; DropReason::ALL.len()],
    dead_lettered: Raised,
    recovered: Raised,
    recovered_dead_lettered: Raised,
    recovered_dropped: Raised,
    retried: Raised,
    queue_bytes: Gauge,
    /// Set with the others, for recorders that reset what they read.
    max_queue_bytes: (Gauge, f64),
    spooled: Gauge,
    pending: Gauge,
}

impl SinkMetrics {
    /// Registers the metrics of the sink `name`, whose queue holds at most `max_queue_bytes`.
    pub(super) fn register(name: &str, max_queue_bytes: u64) -> SinkMetrics {
        for (metric, unit, description) in COUNTERS {
            metrics::describe_counter!(metric, unit, description);
        }
        for (metric, unit, description) in GAUGES {
            metrics::describe_gauge!(metric, unit, description);
        }
        let sink = [
            Label::new("component_id", name.to_owned()),
            Label::from_static_parts("component_kind", "sink"),
        ];
        let with = |extra: &[Label]| -> Vec<Label> { sink.iter().chain(extra).cloned().collect() };
        let counter = |metric: &'static str, extra: &[Label]| Raised {
            counter: metrics::counter!(metric, with(extra)),
            published: Cell::new(0),
        };
        let gauge = |metric: &'static str| metrics::gauge!(metric, with(&[]));
        let [received, sent, discarded, dead_lettered, recovered, retried] = COUNTERS.map(|c| c.0);
        SinkMetrics {
            received: counter(received, &[]),
            sent: counter(sent, &[]),
            discarded: DropReason::ALL.map(|reason| {
                let intentional = if reason.is_intentional() {
                    "true"
                } else {
                    "false"
                };
                counter(
                    discarded,
                    &[
                        Label::from_static_parts("reason", reason.as_str()),
                        Label::from_static_parts("intentional", intentional),
                    ],
                )
            }),
            dead_lettered: counter(dead_lettered, &[]),
            recovered: counter(recovered, &[Label::from_static_parts("outcome", "sent")]),
            recovered_dead_lettered: counter(
                recovered,
                &[Label::from_static_parts("outcome", "dead_lettered")],
            ),
            recovered_dropped: counter(
                recovered,
                &[Label::from_static_parts("outcome", "dropped")],
            ),
            retried: counter(retried, &[]),
            queue_bytes: gauge("buffer_byte_size"),
            max_queue_bytes: (gauge("buffer_max_byte_size"), max_queue_bytes as f64),
            spooled: gauge("component_spooled_events"),
            pending: gauge("component_pending_events"),
        }
    }

    /// Brings every metric up to the sink's counters.
    pub(super) fn publish(&self, counters: &SinkCounters) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        self.received
            .raise_to(counters.emitted.load(Ordering::Relaxed));
        self.sent.raise_to(load(&counters.delivered));
        for reason in DropReason::ALL {
            self.discarded[reason as usize].raise_to(counters.dropped_for(reason));
        }
        self.dead_lettered.raise_to(load(&counters.dead_lettered));
        self.recovered.raise_to(load(&counters.recovered));
        self.recovered_dead_lettered
            .raise_to(load(&counters.recovered_dead_lettered));
        self.recovered_dropped
            .raise_to(load(&counters.recovered_dropped));
        self.retried.raise_to(load(&counters.retried));
        self.queue_bytes.set(load(&counters.queue_bytes) as f64);
        self.max_queue_bytes.0.set(self.max_queue_bytes.1);
        self.spooled.set(load(&counters.spooled) as f64);
        self.pending.set(load(&counters.pending) as f64);
    }
}
