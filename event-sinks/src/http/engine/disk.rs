//! The engine's disk work: spool writes and reads, and dead-letter writes, each done with the
//! state mutex released (the spool and the dead-letter file are each behind a mutex of their
//! own, held during their own I/O only), then counted through `Outcomes`.

use std::sync::atomic::Ordering;

use event_core::DropReason;

use super::super::chunk::Chunk;
use super::state::{Origin, SpoolOp};
use super::Engine;
use crate::dead_letter::DeadLetterError;
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

/// A chunk (or part) that goes to the dead-letter file, decided under the state lock and
/// written after it (see [`Engine::write_refused`]).
pub(super) struct Refused {
    pub(super) chunk: Chunk,
    pub(super) status: Option<u16>,
    pub(super) reason: String,
    pub(super) answer: String,
    /// A replayed spool record's events are unspooled first, or, from an earlier run,
    /// counted apart.
    pub(super) origin: Origin,
    /// OTLP partial success: only this many were refused, the rest were delivered.
    pub(super) rejected: Option<u64>,
    /// Why its events are dropped if there is no dead-letter file, or it cannot be written.
    pub(super) unwritten: DropReason,
}

impl Refused {
    /// A chunk of this run that no endpoint took before the sink shut down.
    pub(super) fn at_shutdown(chunk: Chunk) -> Refused {
        Refused {
            chunk,
            status: None,
            reason: "the sink shut down before an endpoint took these events".into(),
            answer: String::new(),
            origin: Origin::Memory,
            rejected: None,
            unwritten: DropReason::Shutdown,
        }
    }
}

/// Counts `count` writes done when dropped, unwinding included, so that flush and shutdown
/// never wait for a write that will not happen.
struct WritesDone<'a> {
    engine: &'a Engine,
    count: usize,
}

impl Drop for WritesDone<'_> {
    fn drop(&mut self) {
        self.engine.lock().writes_pending -= self.count;
        self.engine.changed.notify_all();
    }
}

impl Engine {
    /// Applies the spool writes queued in the state, in the order they were queued. The
    /// spool's mutex, held from the first to the last, keeps that order across threads, and
    /// makes every write queued before this call done when it returns. The state mutex is
    /// taken only briefly, to take the queue, never during I/O.
    pub(super) fn write_spool(&self) {
        let Some(spool) = &self.spool else { return };
        let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let ops = std::mem::take(&mut self.lock().spool_ops);
            if ops.is_empty() {
                return;
            }
            let _done = WritesDone {
                engine: self,
                count: ops.len(),
            };
            for op in ops {
                self.apply(&mut spool, op);
            }
        }
    }

    fn apply(&self, spool: &mut SpoolState, op: SpoolOp) {
        match op {
            SpoolOp::Append(chunk) => {
                let counted = chunk.counted();
                match spool.spool.push(&chunk.to_record()) {
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
            SpoolOp::Requeue(chunk) => {
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
                    } else {
                        // An earlier run's: not in this run's `emitted`, but not lost uncounted.
                        self.outcomes.recovered_dropped(chunk.counted());
                    }
                }
            }
            SpoolOp::PopHead => {
                if let Err(err) = spool.spool.pop() {
                    self.outcomes
                        .error(format!("removing a replayed spool record failed: {err}"));
                }
            }
        }
    }

    /// The spool's oldest record as a chunk; unreadable records are skipped and counted.
    /// Without one, spooling ends, unless a write is on its way to the spool.
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
        if chunk.is_none() {
            // Under the spool's mutex no write is half done, and none queued means none is
            // coming that this decision would put behind newer chunks.
            let mut state = self.lock();
            if state.spooling && state.spool_ops.is_empty() && spool.spool.is_empty() {
                state.spooling = false;
            }
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

    /// Writes refused chunks to the dead-letter file and counts them; each was counted in
    /// `writes_pending` when it was decided. Called with the state mutex released.
    pub(super) fn write_refused(&self, refused: Vec<Refused>) {
        if refused.is_empty() {
            return;
        }
        let _done = WritesDone {
            engine: self,
            count: refused.len(),
        };
        for refused in refused {
            self.record_refused(refused);
        }
    }

    /// Dead-letters one refused chunk and counts it: this run's events dead-lettered, or
    /// dropped (`sink_error`) when there is no dead-letter file or it cannot be written; an
    /// earlier run's as recovered (sent, dead-lettered or dropped). The file gets the whole
    /// chunk even after a partial success, as the answer does not say which records were
    /// rejected.
    fn record_refused(&self, refused: Refused) {
        let Refused {
            chunk,
            status,
            reason,
            answer,
            origin,
            rejected,
            unwritten,
        } = refused;
        let counted = chunk.counted();
        let ours = origin == Origin::Memory || chunk.run == self.run;
        if origin == Origin::SpoolHead && ours {
            self.outcomes.unspooled(counted);
        }
        let unwritten = self.write_dead_letter(&chunk, status, &reason, &answer, unwritten);
        let refused = rejected.map_or(counted, |rejected| rejected.min(counted));
        if ours {
            if rejected.is_some() {
                self.outcomes.delivered(counted - refused);
            }
            match unwritten {
                None => self.outcomes.dead_lettered(refused),
                Some(reason) => self.outcomes.dropped(reason, refused),
            }
        } else {
            if rejected.is_some() {
                self.outcomes.recovered(counted - refused);
            }
            match unwritten {
                None => self.outcomes.recovered_dead_lettered(refused),
                Some(_) => self.outcomes.recovered_dropped(refused),
            }
        }
    }

    fn write_dead_letter(
        &self,
        chunk: &Chunk,
        status: Option<u16>,
        reason: &str,
        answer: &str,
        unwritten: DropReason,
    ) -> Option<DropReason> {
        let endpoint = &self.service.endpoints[self.active.load(Ordering::SeqCst)].shown;
        self.outcomes.error(format!("{endpoint}: {reason}"));
        let Some(file) = &self.dead_letter else {
            return Some(unwritten);
        };
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        let why = Why {
            status,
            reason,
            answer,
            endpoint,
            idempotency_key: &chunk.key,
        };
        match file.write(chunk.envelopes(), &why) {
            Ok(()) => None,
            Err(DeadLetterError::Full) => {
                self.outcomes
                    .error("the dead-letter file reached its size bound (dead_letter_max_bytes)");
                Some(DropReason::DeadLetterFull)
            }
            Err(DeadLetterError::Io(err)) => {
                self.outcomes
                    .error(format!("writing the dead-letter file failed: {err}"));
                Some(unwritten)
            }
        }
    }
}

/// Why an HTTP endpoint's events were dead-lettered: the fields of their dead-letter lines.
#[derive(serde::Serialize)]
struct Why<'a> {
    /// The HTTP status, when the endpoint answered.
    status: Option<u16>,
    reason: &'a str,
    /// The start of the server's answer, if it said anything.
    #[serde(skip_serializing_if = "str::is_empty")]
    answer: &'a str,
    /// The endpoint, without credentials or query.
    endpoint: &'a str,
    idempotency_key: &'a str,
}
