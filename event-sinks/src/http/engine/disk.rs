//! The engine's disk work: spool writes and reads, and dead-letter writes, each counted
//! through `Outcomes`.

use std::sync::atomic::Ordering;

use event_core::DropReason;

use super::super::chunk::Chunk;
use super::Engine;
use crate::spool::{PushError, Spool};

pub(crate) struct SpoolState {
    pub(crate) spool: Spool,
    /// Damaged stretches already reported.
    reported_corrupt: u64,
}

impl SpoolState {
    pub(crate) fn new(spool: Spool) -> Self {
        SpoolState {
            spool,
            reported_corrupt: 0,
        }
    }
}

impl Engine {
    /// Writes a chunk of this run to the spool and counts it spooled, or dropped.
    pub(super) fn spool_chunk(&self, chunk: &Chunk) {
        let Some(spool) = &self.spool else { return };
        let counted = chunk.counted();
        let result = spool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .spool
            .push(&chunk.to_record());
        match result {
            Ok(()) => self.outcomes.spooled(counted),
            Err(PushError::Full { max_bytes }) => {
                self.outcomes.dropped(DropReason::SpoolFull, counted);
                self.outcomes.error(format!(
                    "the spool is full ({max_bytes} bytes); events dropped"
                ));
            }
            Err(PushError::Io(err)) => {
                self.outcomes.dropped(DropReason::SinkError, counted);
                self.outcomes
                    .error(format!("writing the spool failed: {err}; events dropped"));
            }
        }
    }

    /// Puts the parts of the replayed head back behind the others, then removes the head.
    pub(super) fn requeue_and_pop(&self, requeue: &[Chunk]) {
        let Some(spool) = &self.spool else { return };
        let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
        // Written again before the original goes: a crash in between sends it twice, never
        // loses it.
        for chunk in requeue {
            if let Err(err) = spool.spool.push(&chunk.to_record()) {
                self.outcomes
                    .error(format!("requeueing in the spool failed: {err}"));
                if chunk.run == self.run {
                    let reason = match err {
                        PushError::Full { .. } => DropReason::SpoolFull,
                        PushError::Io(_) => DropReason::SinkError,
                    };
                    self.outcomes.unspooled(chunk.counted());
                    self.outcomes.dropped(reason, chunk.counted());
                }
            }
        }
        if let Err(err) = spool.spool.pop() {
            self.outcomes
                .error(format!("removing a replayed spool record failed: {err}"));
        }
    }

    /// The spool's oldest record as a chunk; unreadable records are skipped and counted.
    pub(super) fn spool_head(&self) -> Option<Chunk> {
        let spool = self.spool.as_ref()?;
        let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
        let chunk = loop {
            match spool.spool.peek() {
                Ok(Some(record)) => match Chunk::from_record(record) {
                    Some(chunk) => break Some(chunk),
                    None => {
                        self.outcomes.spool_corrupt(1);
                        if spool.spool.pop().is_err() {
                            break None;
                        }
                    }
                },
                Ok(None) => break None,
                Err(err) => {
                    self.outcomes
                        .error(format!("reading the spool failed: {err}"));
                    break None;
                }
            }
        };
        let skipped = spool.spool.skipped();
        let corrupt = skipped.torn_tails + skipped.corrupt_records + skipped.missing_segments;
        if corrupt > spool.reported_corrupt {
            self.outcomes
                .spool_corrupt(corrupt - spool.reported_corrupt);
            spool.reported_corrupt = corrupt;
        }
        chunk
    }

    /// Whether the spool holds a record behind its head.
    pub(super) fn spool_has_more(&self) -> bool {
        // The head is still in the spool; "more" means a record behind it. The spool reads a
        // segment at a time, so compare sizes: more bytes than this one record means more.
        self.spool.as_ref().is_some_and(|spool| {
            let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
            let head = spool
                .spool
                .peek()
                .ok()
                .flatten()
                .map_or(0, |r| r.len() as u64 + 12);
            spool.spool.bytes() > head
        })
    }

    pub(super) fn spool_is_empty(&self) -> bool {
        self.spool.as_ref().is_none_or(|spool| {
            spool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .spool
                .is_empty()
        })
    }

    /// Dead-letters this run's chunk, or counts it dropped (`sink_error`) when there is no
    /// dead-letter file or it cannot be written.
    pub(super) fn dead_letter_or_drop(
        &self,
        chunk: &Chunk,
        status: Option<u16>,
        reason: &str,
        answer: &str,
    ) {
        let counted = chunk.counted();
        if self.write_dead_letter(chunk, status, reason, answer) {
            self.outcomes.dead_lettered(counted);
        } else {
            self.outcomes.dropped(DropReason::SinkError, counted);
        }
    }

    pub(super) fn dead_letter_replayed(
        &self,
        chunk: &Chunk,
        status: Option<u16>,
        reason: &str,
        answer: &str,
        ours: bool,
    ) {
        let counted = chunk.counted();
        if ours {
            self.outcomes.unspooled(counted);
            self.dead_letter_or_drop(chunk, status, reason, answer);
        } else if self.write_dead_letter(chunk, status, reason, answer) {
            self.outcomes.recovered_dead_lettered(counted);
        }
    }

    /// A chunk the endpoint took while rejecting `rejected` of its records: the rest count
    /// delivered (or recovered, from an earlier run), the rejected share dead-lettered; the
    /// file gets the whole chunk, as the answer does not say which records it rejected.
    pub(super) fn partial(
        &self,
        chunk: &Chunk,
        status: u16,
        rejected: u64,
        (reason, answer): (&str, &str),
        ours: bool,
    ) {
        let counted = chunk.counted();
        let rejected = rejected.min(counted);
        let written = self.write_dead_letter(chunk, Some(status), reason, answer);
        if ours {
            self.outcomes.delivered(counted - rejected);
            if written {
                self.outcomes.dead_lettered(rejected);
            } else {
                self.outcomes.dropped(DropReason::SinkError, rejected);
            }
        } else {
            self.outcomes.recovered(counted - rejected);
            if written {
                self.outcomes.recovered_dead_lettered(rejected);
            }
        }
    }

    fn write_dead_letter(
        &self,
        chunk: &Chunk,
        status: Option<u16>,
        reason: &str,
        answer: &str,
    ) -> bool {
        let endpoint = &self.service.endpoints[self.active.load(Ordering::SeqCst)].shown;
        self.outcomes.error(format!("{endpoint}: {reason}"));
        let Some(file) = &self.dead_letter else {
            return false;
        };
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        match file.write(chunk, status, reason, answer, endpoint) {
            Ok(()) => true,
            Err(err) => {
                self.outcomes
                    .error(format!("writing the dead-letter file failed: {err}"));
                false
            }
        }
    }
}
