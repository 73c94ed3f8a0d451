//! The engine's loop on its own thread: seals lingering chunks, starts deliveries from memory
//! (up to the concurrency) or from the spool (one record at a time, in order), settles them as
//! they finish, and stops once closing.

use std::sync::Arc;
use std::time::Instant;

use event_core::DropReason;
use tokio::task::JoinSet;

use super::super::chunk::Chunk;
use super::disk::Refused;
use super::settle::Done;
use super::state::{Origin, SpoolOp};
use super::Engine;

impl Engine {
    pub(super) async fn main_loop(self: Arc<Self>) {
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut replaying = false;
        loop {
            let Some(deadline) = self.plan(&mut tasks, &mut replaying) else {
                self.stop_now();
                return;
            };
            tokio::select! {
                () = self.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(done) = done {
                        if done.origin == Origin::SpoolHead {
                            replaying = false;
                        }
                        self.settle(done);
                    } else {
                        // A delivery task panicked: its chunk's events stay pending, and
                        // the stats say why.
                        self.outcomes.error("an HTTP delivery task panicked");
                        replaying = false;
                    }
                }
                () = sleep_until(deadline) => {}
            }
        }
    }

    /// Seals a lingering chunk and starts what can start; returns when to look again
    /// (`Some(None)`: when woken), or `None` when the engine should stop.
    fn plan(
        self: &Arc<Self>,
        tasks: &mut JoinSet<Done>,
        replaying: &mut bool,
    ) -> Option<Option<Instant>> {
        let now = Instant::now();
        let mut deadline: Option<Instant> = None;
        let mut soonest = |at: Instant| {
            deadline = Some(deadline.map_or(at, |d: Instant| d.min(at)));
        };
        let mut state = self.lock();
        if state.closing && tasks.is_empty() {
            return None;
        }
        // Seal the open chunk once it has lingered (or a flush or shutdown asks).
        if state.open.events > 0 {
            let due = state.open_since + self.limits.linger;
            if due <= now || state.flush_requested || state.closing {
                let chunk = std::mem::replace(&mut state.open, Chunk::new(self.run));
                state = match self.place(state, chunk, false) {
                    Ok(state) => state,
                    Err((mut state, chunk)) => {
                        // No room (no spool): keep it open until memory frees.
                        state.open = chunk;
                        state
                    }
                };
            } else {
                soonest(due);
            }
        }
        // A flush or shutdown does not wait out a pause: with a spool, what is held goes
        // there (behind newer chunks: the one case where the spool's order is not emission
        // order).
        let held = state.paused_until.is_some_and(|until| until > now);
        if held && (state.flush_requested || state.closing) && self.spool.is_some() {
            for held in std::mem::take(&mut state.queue) {
                state.memory -= held.lines.len();
                state.spooling = true;
                state.queue_spool(SpoolOp::Append(held));
            }
        }
        // Memory chunks, up to the concurrency.
        let paused = state.paused_until.filter(|&until| until > now);
        if let Some(until) = paused {
            soonest(until);
        }
        if paused.is_none() && !*replaying && !state.closing {
            while tasks.len() < self.limits.concurrency {
                let Some(chunk) = state.queue.pop_front() else {
                    break;
                };
                state.in_flight += 1;
                state
                    .in_flight_chunks
                    .insert(chunk.key.clone(), chunk.counted());
                self.spawn_delivery(tasks, chunk, Origin::Memory);
            }
        }
        // The spool, one record at a time (in order), once memory is empty.
        let replay = tasks.is_empty() && state.queue.is_empty() && !state.closing;
        let replay_wait = state.replay_not_before.filter(|&at| at > now);
        let spool_writes = !state.spool_ops.is_empty();
        drop(state);
        if spool_writes {
            self.write_spool();
        }
        if replay {
            // Read with the state lock released; the head stays in the spool until settled.
            match (self.spool_head(), replay_wait) {
                (Some(_), Some(at)) => soonest(at),
                (Some(chunk), None) => {
                    let state = self.lock();
                    // Checked again, as the lock was released meanwhile: a replay that may
                    // not start now waits in the spool for the next look.
                    if !state.closing && state.queue.is_empty() {
                        *replaying = true;
                        self.spawn_delivery(tasks, chunk, Origin::SpoolHead);
                    }
                }
                (None, _) => {}
            }
        }
        if self.lock().idle() {
            self.changed.notify_all();
        }
        Some(deadline)
    }

    fn spawn_delivery(self: &Arc<Self>, tasks: &mut JoinSet<Done>, chunk: Chunk, origin: Origin) {
        let engine = Arc::clone(self);
        tasks.spawn(async move {
            let key = chunk.key.clone();
            let parts = engine.deliver(chunk).await;
            Done { origin, key, parts }
        });
    }

    /// At the shutdown's deadline, with requests still in flight: their events are counted
    /// dropped (`shutdown`), as their answers come too late to count, and what waits in
    /// memory goes where [`Engine::stop_now`] puts it. Returns how many requests were
    /// abandoned.
    pub(super) fn abandon(&self) -> usize {
        let mut state = self.lock();
        let abandoned: Vec<(String, u64)> = state.in_flight_chunks.drain().collect();
        state.in_flight = 0;
        drop(state);
        for (_, counted) in &abandoned {
            self.outcomes.dropped(DropReason::Shutdown, *counted);
        }
        self.stop_now();
        abandoned.len()
    }

    /// Stops at once: what is left in memory goes to the spool, or the dead-letter file, or
    /// is dropped; no batch is taken from now on.
    pub(super) fn stop_now(&self) {
        let mut state = self.lock();
        let mut leftovers: Vec<Chunk> = state.queue.drain(..).collect();
        let open = std::mem::replace(&mut state.open, Chunk::new(self.run));
        if open.events > 0 {
            leftovers.push(open);
        }
        state.memory = 0;
        let mut refused = Vec::new();
        for chunk in leftovers {
            if self.spool.is_some() {
                state.queue_spool(SpoolOp::Append(chunk));
            } else {
                state.writes_pending += 1;
                refused.push(Refused::at_shutdown(chunk));
            }
        }
        // Set before the writes, so that no batch lands in a chunk nobody seals; shutdown
        // waits for the writes too (`State::finished`).
        state.stopped = true;
        let spool_writes = !state.spool_ops.is_empty();
        drop(state);
        if spool_writes {
            self.write_spool();
        }
        self.write_refused(refused);
        self.changed.notify_all();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
