//! What the engine keeps under its state mutex: the open chunk, the queue of sealed chunks,
//! the flags that steer sealing, spooling and replay, and the spool writes decided under the
//! lock but done after it is released.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use uuid::Uuid;

use super::super::chunk::Chunk;

/// Where a job's chunk came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Origin {
    Memory,
    SpoolHead,
}

/// A change to the spool, decided under the state lock and applied, in the order decided,
/// once it is released (see `Engine::write_spool`).
pub(super) enum SpoolOp {
    /// A chunk of this run: counted spooled once written, dropped if it cannot be.
    Append(Chunk),
    /// A part of the replayed head put back behind the others; already counted.
    Requeue(Chunk),
    /// Removes the replayed head. Queued after its requeued parts and dead-letter lines are
    /// written: a crash in between sends it twice, never loses it.
    PopHead,
}

pub(super) struct State {
    pub(super) open: Chunk,
    pub(super) open_since: Instant,
    pub(super) queue: VecDeque<Chunk>,
    /// Bytes of chunks in `queue` and in flight.
    pub(super) memory: usize,
    /// Memory chunks being sent.
    pub(super) in_flight: usize,
    /// The keys of the memory chunks being sent, with their counted events: what a shutdown
    /// that cannot wait for their answers counts dropped.
    pub(super) in_flight_chunks: HashMap<String, u64>,
    /// New chunks go to the spool (it holds records, or every endpoint is failing).
    pub(super) spooling: bool,
    pub(super) flush_requested: bool,
    pub(super) closing: bool,
    /// No batch is taken any more.
    pub(super) stopped: bool,
    /// Without a spool, after every endpoint failed: no new request before this.
    pub(super) paused_until: Option<Instant>,
    /// No spool replay before this.
    pub(super) replay_not_before: Option<Instant>,
    /// Chunks set aside as suspected poison batches since the last success. Up to
    /// `MAX_SET_ASIDE`, a chunk that exhausts its retries on answers is set aside too while
    /// the queue holds one not yet tried; past it, or with none, the endpoints are down.
    pub(super) set_aside: u32,
    /// Chunks set aside after exhausting their retries, with `successes` at that moment.
    pub(super) suspects: HashMap<String, u64>,
    /// Spool writes not yet taken by a writer, oldest first.
    pub(super) spool_ops: VecDeque<SpoolOp>,
    /// Spool and dead-letter writes decided but not yet done and counted. Their events are
    /// in none of the fields above, so flush and shutdown wait for these too.
    pub(super) writes_pending: usize,
}

/// The most chunks set aside as suspects between two successes (see `State::set_aside`).
pub(super) const MAX_SET_ASIDE: u32 = 4;

impl State {
    pub(super) fn new(run: Uuid, spooling: bool) -> State {
        State {
            open: Chunk::new(run),
            open_since: Instant::now(),
            queue: VecDeque::new(),
            memory: 0,
            in_flight: 0,
            in_flight_chunks: HashMap::new(),
            spooling,
            flush_requested: false,
            closing: false,
            stopped: false,
            paused_until: None,
            replay_not_before: None,
            set_aside: 0,
            suspects: HashMap::new(),
            spool_ops: VecDeque::new(),
            writes_pending: 0,
        }
    }

    /// Whether every accepted event is delivered, spooled, dead-lettered or dropped (spool
    /// replays aside).
    pub(super) fn idle(&self) -> bool {
        self.open.events == 0
            && self.queue.is_empty()
            && self.in_flight == 0
            && self.writes_pending == 0
    }

    /// Whether the engine stopped and wrote what it had left.
    pub(super) fn finished(&self) -> bool {
        self.stopped && self.writes_pending == 0
    }

    /// Events (or requests, or writes) still held.
    pub(super) fn held(&self) -> u64 {
        self.open.events
            + self.queue.iter().map(|c| c.events).sum::<u64>()
            + self.in_flight as u64
            + self.writes_pending as u64
    }

    /// Queues a spool write; whoever queues one calls `Engine::write_spool` once the lock is
    /// released. Only when the engine has a spool.
    pub(super) fn queue_spool(&mut self, op: SpoolOp) {
        self.spool_ops.push_back(op);
        self.writes_pending += 1;
    }

    /// The endpoint took the chunk with `key`: nothing is set aside any more, and the chunk is
    /// no suspect.
    pub(super) fn taken(&mut self, key: &str) {
        self.set_aside = 0;
        self.suspects.remove(key);
    }
}
