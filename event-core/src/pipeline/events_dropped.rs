//! The pipeline's in-band report of lost events: written into the sink that lost them, so
//! whoever reads that output sees the gap and its reasons, not only whoever reads the counters.

use std::collections::BTreeMap;

use crate::stats::DropReason;

/// Events were lost on the way to this sink. Written into the sink itself, in-band, as soon
/// as its queue has room again; the counts are those since the previous report.
#[derive(crate::Event)]
#[event(kind = "system_event", crate = "crate")]
pub struct EventsDropped {
    /// How many events were lost.
    pub dropped: u64,
    /// How many for each reason (`queue_full`, `block_timeout`, `shutdown`, ...).
    pub reasons: BTreeMap<String, u64>,
}

impl EventsDropped {
    pub(crate) fn new(lost: &BTreeMap<DropReason, u64>) -> Self {
        EventsDropped {
            dropped: lost.values().sum(),
            reasons: lost
                .iter()
                .map(|(reason, count)| (reason.as_str().to_owned(), *count))
                .collect(),
        }
    }
}
