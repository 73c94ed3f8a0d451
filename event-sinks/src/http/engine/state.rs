//! What the engine keeps under its state mutex: the open chunk, the queue of sealed chunks,
//! and the flags that steer sealing, spooling and replay.

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

pub(super) struct State {
    pub(super) open: Chunk,
    pub(super) open_since: Instant,
    pub(super) queue: VecDeque<Chunk>,
    /// Bytes of chunks in `queue` and in flight.
    pub(super) memory: usize,
    /// Memory chunks being sent.
    pub(super) in_flight: usize,
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
    /// Whether a chunk was set aside as a suspected poison batch since the last success: then
    /// the next chunk that exhausts its retries means the endpoints are down.
    pub(super) set_aside: bool,
    /// Chunks set aside after exhausting their retries, with `successes` at that moment.
    pub(super) suspects: HashMap<String, u64>,
}

impl State {
    pub(super) fn new(run: Uuid, spooling: bool) -> State {
        State {
            open: Chunk::new(run),
            open_since: Instant::now(),
            queue: VecDeque::new(),
            memory: 0,
            in_flight: 0,
            spooling,
            flush_requested: false,
            closing: false,
            stopped: false,
            paused_until: None,
            replay_not_before: None,
            set_aside: false,
            suspects: HashMap::new(),
        }
    }

    /// Whether every accepted event is delivered, spooled, dead-lettered or dropped (spool
    /// replays aside).
    pub(super) fn idle(&self) -> bool {
        self.open.events == 0 && self.queue.is_empty() && self.in_flight == 0
    }

    /// Events (or requests) still held.
    pub(super) fn held(&self) -> u64 {
        self.open.events + self.queue.iter().map(|c| c.events).sum::<u64>() + self.in_flight as u64
    }

    /// The endpoint took the chunk with `key`: nothing is set aside any more, and the chunk is
    /// no suspect.
    pub(super) fn taken(&mut self, key: &str) {
        self.set_aside = false;
        self.suspects.remove(key);
    }
}
