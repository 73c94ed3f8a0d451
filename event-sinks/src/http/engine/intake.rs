//! The worker thread's side of the engine: batches come in and are packed into chunks, sealed
//! chunks are placed in memory or the spool, and flush and shutdown wait for the engine.

use std::sync::MutexGuard;
use std::time::Instant;

use event_core::{Batch, DropReason, RenderError};

use super::super::chunk::Chunk;
use super::super::format::Unit;
use super::disk::Refused;
use super::state::{SpoolOp, State};
use super::Engine;

impl Engine {
    /// Takes a batch from the pipeline (on its worker thread), with each event's unit in the
    /// endpoint's format (or why it could not be encoded).
    pub(crate) fn accept(&self, batch: &Batch<'_>, units: Vec<Result<Option<Unit>, RenderError>>) {
        batch.take_over();
        let mut refused = Vec::new();
        let mut state = self.lock();
        if state.stopped {
            let counted = batch.iter().filter(|e| e.is_counted()).count() as u64;
            self.outcomes.dropped(DropReason::Shutdown, counted);
            return;
        }
        debug_assert_eq!(units.len(), batch.len(), "one unit per event");
        for (event, unit) in batch.iter().zip(units) {
            let unit = match unit {
                Ok(unit) => unit,
                Err(err) => {
                    if event.is_counted() {
                        self.outcomes.dropped(DropReason::SerializeError, 1);
                    }
                    // The user's own error message may quote a value: not in the stats.
                    let (event, field) = match err {
                        RenderError::Serialize { event, field, .. }
                        | RenderError::Panicked { event, field } => (event, field),
                    };
                    self.outcomes.error(format!(
                        "field `{field}` of event `{event}` could not be encoded for the \
                         endpoint's format; the event was dropped"
                    ));
                    continue;
                }
            };
            let json = event.json();
            if state.open.events > 0
                && (state.open.events >= self.limits.max_events
                    || state.open.lines.len() + json.len() + 1 > self.limits.max_bytes)
            {
                let chunk = std::mem::replace(&mut state.open, Chunk::new(self.run));
                state = match self.place(state, chunk, true) {
                    Ok(state) => state,
                    // Closing while waiting for room (no spool): what cannot be kept is
                    // dead-lettered or dropped, counted.
                    Err((mut state, chunk)) => {
                        state.writes_pending += 1;
                        refused.push(Refused::at_shutdown(chunk));
                        state
                    }
                };
            }
            if state.open.events == 0 {
                state.open_since = Instant::now();
            }
            state.open.push(json, event.is_counted(), unit);
        }
        let spool_writes = !state.spool_ops.is_empty();
        drop(state);
        // The writes this batch decided, done with the lock released: the engine's thread
        // goes on meanwhile.
        if spool_writes {
            self.write_spool();
        }
        self.write_refused(refused);
        self.wake.notify_one();
    }

    /// Puts a sealed chunk in memory or (queued for `write_spool`, which the caller runs once
    /// the lock is released) the spool. Without a spool and without room, waits for room if
    /// `may_wait`, else gives the chunk back.
    // The chunk comes back only when closing without room: moved by value, not boxed, as
    // boxing would allocate on every call for that rare case.
    #[allow(clippy::result_large_err)]
    pub(super) fn place<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        chunk: Chunk,
        may_wait: bool,
    ) -> Result<MutexGuard<'a, State>, (MutexGuard<'a, State>, Chunk)> {
        loop {
            let len = chunk.lines.len();
            let fits = state.memory == 0 || state.memory + len <= self.limits.memory_bytes;
            if !state.spooling && fits {
                state.memory += len;
                state.queue.push_back(chunk);
                self.wake.notify_one();
                return Ok(state);
            }
            if self.spool.is_some() {
                if !state.spooling {
                    // Memory is full: what waits there is older than this chunk, so it goes
                    // to the spool first. Only chunks in flight stay in memory.
                    state.spooling = true;
                    for queued in std::mem::take(&mut state.queue) {
                        state.memory -= queued.lines.len();
                        state.queue_spool(SpoolOp::Append(queued));
                    }
                }
                state.queue_spool(SpoolOp::Append(chunk));
                return Ok(state);
            }
            if !may_wait || state.closing || state.stopped {
                return Err((state, chunk));
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until every accepted event is delivered, spooled, dead-lettered or dropped; at
    /// most the flush timeout. Returns how many events are still held.
    pub(crate) fn flush(&self) -> u64 {
        let deadline = self.deadline();
        let mut state = self.lock();
        state.flush_requested = true;
        self.wake.notify_one();
        loop {
            let done = state.idle() || state.finished();
            let now = Instant::now();
            if done || now >= deadline {
                state.flush_requested = false;
                return if done { 0 } else { state.held() };
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Stops the engine: requests in flight end after their current attempt, and what is
    /// left in memory goes to the spool (or the dead-letter file, or is dropped with reason
    /// `shutdown`). Waits at most the flush timeout (or the pipeline's deadline, if sooner);
    /// then the requests still in flight are abandoned, their events counted dropped
    /// (`shutdown`). Returns `None` when it finished in time, or how many memory requests
    /// were abandoned (a spool record in flight stays in the spool).
    pub(crate) fn shutdown(&self) -> Option<usize> {
        let deadline = self.deadline();
        let mut state = self.lock();
        state.closing = true;
        self.closing.send_replace(true);
        self.wake.notify_one();
        self.changed.notify_all();
        while !state.finished() {
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                return Some(self.abandon());
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        None
    }

    /// When a flush or shutdown must be done: after the flush timeout, or by the pipeline's
    /// own deadline (the application's timeout) if that comes sooner.
    fn deadline(&self) -> Instant {
        let own = Instant::now() + self.limits.flush_timeout;
        self.outcomes
            .deadline()
            .map_or(own, |pipeline| pipeline.min(own))
    }
}
