//! Accounting for a finished delivery: what each part's fate means for the state (memory,
//! suspects, pauses, spooling), poison detection, and the spool and dead-letter hand-offs,
//! decided under the state lock and written after it is released.

use std::sync::atomic::Ordering;
use std::time::Instant;

use event_core::DropReason;

use super::super::chunk::Chunk;
use super::delivery::Fate;
use super::disk::Refused;
use super::state::{Origin, SpoolOp, State, MAX_SET_ASIDE};
use super::Engine;

/// What a part's fate leaves to do, the same wherever the part came from.
enum Verdict {
    Delivered(Chunk),
    Refused(Refused),
    /// It exhausted its attempts and is not poison (yet).
    Exhausted {
        chunk: Chunk,
        answered: bool,
    },
    /// Judged to hold poison: to be sent again, split until the poison events are found.
    Isolate(Chunk),
}

/// A finished delivery job.
pub(super) struct Done {
    pub(super) origin: Origin,
    /// The key of the chunk the job was given (its parts may have keys derived from it).
    pub(super) key: String,
    pub(super) parts: Vec<(Chunk, Fate)>,
}

/// What a replayed spool record leaves to do once its dead letters are written.
enum HeadAfter {
    /// It stays first in line, to be tried again.
    Stays,
    /// Its parts to put back behind the others, then it goes.
    Remove { requeue: Vec<Chunk> },
}

impl Engine {
    /// Accounts for a finished job.
    pub(super) fn settle(&self, done: Done) {
        // Read before the state lock, as the spool's mutex is never taken under it. Only a
        // record's suspect needs it, and what other threads do meanwhile only ever adds to it.
        let spool_has_more = done.origin == Origin::SpoolHead
            && done
                .parts
                .iter()
                .any(|(_, fate)| matches!(fate, Fate::Exhausted { answered: true }))
            && self.spool_has_more();
        let mut refused = Vec::new();
        let mut state = self.lock();
        if done.origin == Origin::Memory && state.in_flight_chunks.remove(&done.key).is_none() {
            // Abandoned at shutdown, and counted dropped then.
            return;
        }
        let successes = self.successes.load(Ordering::SeqCst);
        let head_after = match done.origin {
            Origin::Memory => {
                self.settle_memory(&mut state, done.parts, successes, &mut refused);
                None
            }
            Origin::SpoolHead => Some(self.settle_head(
                &mut state,
                done.parts,
                successes,
                spool_has_more,
                &mut refused,
            )),
        };
        state.writes_pending += refused.len();
        let spool_writes = !state.spool_ops.is_empty();
        drop(state);
        // Dead letters first: a replayed record leaves the spool only once they are written.
        self.write_refused(refused);
        if let Some(HeadAfter::Remove { requeue }) = head_after {
            let mut state = self.lock();
            // Written again before the original goes: a crash in between sends it twice,
            // never loses it.
            for chunk in requeue {
                state.queue_spool(SpoolOp::Requeue(chunk));
            }
            state.queue_spool(SpoolOp::PopHead);
            drop(state);
            self.write_spool();
        } else if spool_writes {
            self.write_spool();
        }
        self.changed.notify_all();
    }

    /// Accounts for the parts of a chunk from memory.
    fn settle_memory(
        &self,
        state: &mut State,
        parts: Vec<(Chunk, Fate)>,
        successes: u64,
        refused: &mut Vec<Refused>,
    ) {
        state.in_flight -= 1;
        for (chunk, fate) in parts {
            state.memory -= chunk.lines.len();
            match self.verdict(state, chunk, fate, Origin::Memory, successes) {
                Verdict::Delivered(chunk) => self.outcomes.delivered(chunk.counted()),
                Verdict::Refused(part) => refused.push(part),
                Verdict::Isolate(chunk) => {
                    state.memory += chunk.lines.len();
                    state.queue.push_front(chunk);
                }
                Verdict::Exhausted {
                    mut chunk,
                    answered,
                } => {
                    let untried = state
                        .queue
                        .iter()
                        .any(|queued| !state.suspects.contains_key(&queued.key));
                    if answered && state.set_aside < MAX_SET_ASIDE && untried {
                        // The endpoint answers but refuses this one: it may be poison. Set it
                        // aside behind the others and see whether the endpoint takes them.
                        set_aside(state, &mut chunk, successes);
                        state.memory += chunk.lines.len();
                        state.queue.push_back(chunk);
                    } else {
                        self.endpoints_down(state, chunk);
                    }
                }
            }
        }
    }

    /// Accounts for the parts of a replayed spool record.
    fn settle_head(
        &self,
        state: &mut State,
        parts: Vec<(Chunk, Fate)>,
        successes: u64,
        spool_has_more: bool,
        refused: &mut Vec<Refused>,
    ) -> HeadAfter {
        let whole = parts.len() == 1;
        let mut requeue = Vec::new();
        for (chunk, fate) in parts {
            match self.verdict(state, chunk, fate, Origin::SpoolHead, successes) {
                Verdict::Delivered(chunk) => {
                    let counted = chunk.counted();
                    if chunk.run == self.run {
                        self.outcomes.unspooled(counted);
                        self.outcomes.delivered(counted);
                    } else {
                        self.outcomes.recovered(counted);
                    }
                }
                Verdict::Refused(part) => refused.push(part),
                // Written again with its mark, behind the others.
                Verdict::Isolate(chunk) => requeue.push(chunk),
                Verdict::Exhausted {
                    mut chunk,
                    answered,
                } => {
                    if answered && state.set_aside == 0 && spool_has_more {
                        // A suspect: behind the others (see `settle_memory`).
                        set_aside(state, &mut chunk, successes);
                        requeue.push(chunk);
                    } else if whole {
                        // Every endpoint is failing: leave it first in line and wait.
                        state.replay_not_before =
                            Some(Instant::now() + self.limits.retry.max_backoff);
                        return HeadAfter::Stays;
                    } else {
                        // Part of a split: behind the others, to keep the delivered part.
                        requeue.push(chunk);
                    }
                }
            }
        }
        HeadAfter::Remove { requeue }
    }

    /// What `fate` means for `chunk`, wherever it came from: the state's bookkeeping of its
    /// key, and whether it was delivered, goes to the dead-letter file, or is left to its
    /// origin's rules for a chunk that exhausted its attempts.
    fn verdict(
        &self,
        state: &mut State,
        chunk: Chunk,
        fate: Fate,
        origin: Origin,
        successes: u64,
    ) -> Verdict {
        let refused = |chunk, status, reason, answer, rejected| {
            Verdict::Refused(Refused {
                chunk,
                status,
                reason,
                answer,
                origin,
                rejected,
                unwritten: DropReason::SinkError,
            })
        };
        match fate {
            Fate::Delivered => {
                state.taken(&chunk.key);
                Verdict::Delivered(chunk)
            }
            Fate::Partial {
                status,
                rejected,
                reason,
                answer,
            } => {
                state.taken(&chunk.key);
                refused(chunk, Some(status), reason, answer, Some(rejected))
            }
            Fate::DeadLetter {
                status,
                reason,
                answer,
            } => {
                state.suspects.remove(&chunk.key);
                refused(chunk, status, reason, answer, None)
            }
            Fate::Exhausted { answered } => match self.judge(state, &chunk, answered, successes) {
                Some(reason) if chunk.events == 1 => {
                    refused(chunk, None, reason, String::new(), None)
                }
                Some(_) => {
                    let mut chunk = chunk;
                    chunk.isolate = true;
                    Verdict::Isolate(chunk)
                }
                None => Verdict::Exhausted { chunk, answered },
            },
        }
    }

    /// Whether an exhausted chunk holds poison: it failed before, as a suspect, and the
    /// endpoint has taken other requests since. Returns the dead-letter reason (used as it
    /// is for a single event; a larger chunk is sent again to find its poison events).
    fn judge(
        &self,
        state: &mut State,
        chunk: &Chunk,
        answered: bool,
        successes: u64,
    ) -> Option<String> {
        let since = state.suspects.get(&chunk.key).copied()?;
        if answered && successes > since {
            state.suspects.remove(&chunk.key);
            Some(format!(
                "poison event: it exhausted its {} attempts twice while the endpoint accepted other batches",
                self.limits.retry.max_attempts
            ))
        } else {
            None
        }
    }

    /// Every endpoint failed this chunk: spool it and everything in memory (in order), or,
    /// without a spool (or when newer chunks are in the spool already, as memory filled while
    /// it was in flight), keep it first in line and pause.
    fn endpoints_down(&self, state: &mut State, chunk: Chunk) {
        if self.spool.is_some() && !state.spooling {
            state.spooling = true;
            state.queue_spool(SpoolOp::Append(chunk));
            for chunk in std::mem::take(&mut state.queue) {
                state.memory -= chunk.lines.len();
                state.queue_spool(SpoolOp::Append(chunk));
            }
        } else {
            state.memory += chunk.lines.len();
            state.queue.push_front(chunk);
            state.paused_until = Some(Instant::now() + self.limits.retry.max_backoff);
        }
    }
}

/// Marks `chunk` a suspect: it goes behind the others, and if it exhausts its retries again
/// after the endpoint took another request, it is poison.
fn set_aside(state: &mut State, chunk: &mut Chunk, successes: u64) {
    state.set_aside += 1;
    chunk.failures += 1;
    state.suspects.insert(chunk.key.clone(), successes);
}
