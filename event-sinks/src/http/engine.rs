//! The HTTP sink's engine: its own thread and tokio runtime, which seals chunks, sends them
//! (concurrently, retried, failed over), spools what cannot be sent, replays the spool, and
//! reports every event's fate through [`Outcomes`].
//!
//! The pipeline's worker thread hands batches to [`Engine::accept`], which appends their
//! envelopes to the open chunk and places sealed chunks: in memory while there is room and the
//! spool is empty, else in the spool (so the spool replays in order, before anything newer).
//! Without a spool, `accept` waits for room, which backs up into the pipeline's queue and its
//! overflow policy. The app's threads never wait on any of this.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use event_core::{Batch, DropReason, Outcomes};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue, CONTENT_ENCODING, CONTENT_TYPE,
};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::chunk::Chunk;
use super::dead_letter::DeadLetter;
use super::format::{gzip, HttpFormat};
use super::retry::{classify, classify_error, Retry, Verdict};
use crate::spool::{PushError, Spool};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Where requests go.
pub(crate) struct Endpoint {
    /// With the format's query added.
    pub(crate) url: reqwest::Url,
    /// For messages and the dead-letter file: no credentials, no query.
    pub(crate) shown: String,
}

/// Everything the engine needs, fixed at build time.
pub(crate) struct Config {
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) format: HttpFormat,
    pub(crate) gzip: bool,
    /// Extra headers; values marked sensitive.
    pub(crate) headers: HeaderMap,
    pub(crate) max_events: u64,
    pub(crate) max_bytes: usize,
    pub(crate) linger: Duration,
    pub(crate) concurrency: usize,
    pub(crate) retry: Retry,
    pub(crate) probe_interval: Duration,
    pub(crate) memory_bytes: usize,
    pub(crate) flush_timeout: Duration,
    pub(crate) client: reqwest::Client,
}

/// What the worker thread and the engine share.
pub(crate) struct Engine {
    config: Config,
    /// What every request carries: `config.headers`, then `Content-Type` and, when gzipping,
    /// `Content-Encoding`.
    headers: HeaderMap,
    outcomes: Outcomes,
    /// This process run: chunks carry it into the spool.
    run: Uuid,
    state: Mutex<State>,
    /// Signalled when memory is freed, the engine goes idle, or it stops.
    changed: Condvar,
    /// Wakes the engine.
    wake: tokio::sync::Notify,
    /// Locked after `state` when both are needed.
    spool: Option<Mutex<SpoolState>>,
    dead_letter: Option<Mutex<DeadLetter>>,
    /// Requests any endpoint accepted: a batch that exhausts its retries while this grows is
    /// poison, not a victim of an outage.
    successes: AtomicU64,
    /// The endpoint in use (index into `endpoints`).
    active: AtomicUsize,
    /// When the primary is next probed while a fallback is in use.
    next_probe: Mutex<Instant>,
    /// Set once, when the engine starts closing: backoffs end early.
    closing: tokio::sync::watch::Sender<bool>,
}

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

struct State {
    open: Chunk,
    open_since: Instant,
    queue: VecDeque<Chunk>,
    /// Bytes of chunks in `queue` and in flight.
    memory: usize,
    /// Memory chunks being sent.
    in_flight: usize,
    /// New chunks go to the spool (it holds records, or every endpoint is failing).
    spooling: bool,
    flush_requested: bool,
    closing: bool,
    stopped: bool,
    /// Without a spool, after every endpoint failed: no new request before this.
    paused_until: Option<Instant>,
    /// No spool replay before this.
    replay_not_before: Option<Instant>,
    /// Whether a chunk was set aside as a suspected poison batch since the last success: then
    /// the next chunk that exhausts its retries means the endpoints are down.
    set_aside: bool,
    /// Chunks set aside after exhausting their retries, with `successes` at that moment.
    suspects: HashMap<String, u64>,
}

/// Where a job's chunk came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    Memory,
    SpoolHead,
}

/// What became of a chunk (or a part of it, after a 413 split).
#[derive(Debug)]
enum Fate {
    Delivered,
    /// Taken, but the endpoint said it rejected `rejected` of the records (OTLP partial
    /// success).
    Partial {
        status: u16,
        rejected: u64,
        reason: String,
        /// The server's message.
        answer: String,
    },
    DeadLetter {
        status: Option<u16>,
        reason: String,
        answer: String,
    },
    /// Retries exhausted, no other request succeeded meanwhile.
    Exhausted {
        answered: bool,
    },
}

/// What every attempt at one chunk sends, built once: its retries and fail-overs share the
/// same bytes.
struct Payload {
    /// The chunk's `Idempotency-Key`, or why it cannot be one.
    key: Result<HeaderValue, InvalidHeaderValue>,
    body: Bytes,
}

/// A chunk's delivery: boxed, as a 413 split delivers the halves recursively.
type Delivery<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<(Chunk, Fate)>> + Send + 'a>>;

struct Done {
    origin: Origin,
    parts: Vec<(Chunk, Fate)>,
}

impl Engine {
    pub(crate) fn new(
        config: Config,
        outcomes: Outcomes,
        spool: Option<Spool>,
        dead_letter: Option<DeadLetter>,
    ) -> Arc<Engine> {
        let run = Uuid::new_v4();
        let spooling = spool.as_ref().is_some_and(|s| !s.is_empty());
        let mut headers = config.headers.clone();
        // Appended, not inserted, as the request builder did: a configured `Content-Type`
        // is sent beside the format's, not replaced.
        headers.append(
            CONTENT_TYPE,
            HeaderValue::from_static(config.format.content_type()),
        );
        if config.gzip {
            headers.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Arc::new(Engine {
            config,
            headers,
            outcomes,
            run,
            state: Mutex::new(State {
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
            }),
            changed: Condvar::new(),
            wake: tokio::sync::Notify::new(),
            spool: spool.map(|s| Mutex::new(SpoolState::new(s))),
            dead_letter: dead_letter.map(Mutex::new),
            successes: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            next_probe: Mutex::new(Instant::now()),
            closing: tokio::sync::watch::Sender::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the engine on the calling thread until it stops.
    pub(crate) fn run(self: Arc<Self>) {
        // Runs on a silenced thread (see `HttpSink::attach`).
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("event-http-blocking")
            // The blocking threads (encoding, DNS) stay silent too: whatever a dependency
            // logs there must not reach the app's subscriber, nor come back to us.
            .on_thread_start(event_core::silence_current_thread)
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                self.outcomes
                    .error(format!("the HTTP sink could not start its runtime: {err}"));
                self.stop_now();
                return;
            }
        };
        let engine = Arc::clone(&self);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(engine.main_loop());
        }));
        if result.is_err() {
            // Never leave the worker waiting for an engine that is gone.
            self.outcomes
                .error("the HTTP sink's engine panicked and stopped");
            self.stop_now();
        }
    }

    /// Takes a batch from the pipeline (on its worker thread).
    pub(crate) fn accept(&self, batch: &Batch<'_>) {
        batch.take_over();
        let mut state = self.lock();
        if state.stopped {
            let counted = batch.iter().filter(|e| e.is_counted()).count() as u64;
            self.outcomes.dropped(DropReason::Shutdown, counted);
            return;
        }
        for event in batch.iter() {
            let json = event.json();
            if state.open.events > 0
                && (state.open.events >= self.config.max_events
                    || state.open.lines.len() + json.len() + 1 > self.config.max_bytes)
            {
                let chunk = std::mem::replace(&mut state.open, Chunk::new(self.run));
                state = match self.place(state, chunk, true) {
                    Ok(state) => state,
                    // Closing while waiting for room (no spool): what cannot be kept is
                    // dead-lettered or dropped, counted.
                    Err((state, chunk)) => {
                        self.dead_letter_or_drop(
                            &chunk,
                            None,
                            "the sink shut down before an endpoint took these events",
                            "",
                        );
                        state
                    }
                };
            }
            if state.open.events == 0 {
                state.open_since = Instant::now();
            }
            state.open.push(json, event.is_counted());
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Puts a sealed chunk in memory or the spool. Without a spool and without room, waits
    /// for room if `may_wait`, else gives the chunk back.
    fn place<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        chunk: Chunk,
        may_wait: bool,
    ) -> Result<MutexGuard<'a, State>, (MutexGuard<'a, State>, Chunk)> {
        loop {
            let len = chunk.lines.len();
            let fits = state.memory == 0 || state.memory + len <= self.config.memory_bytes;
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
                        self.spool_chunk(&queued);
                    }
                }
                self.spool_chunk(&chunk);
                return Ok(state);
            }
            if !may_wait || state.closing || state.stopped {
                return Err((state, chunk));
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Writes a chunk of this run to the spool and counts it spooled, or dropped.
    fn spool_chunk(&self, chunk: &Chunk) {
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

    /// Waits until every accepted event is delivered, spooled, dead-lettered or dropped; at
    /// most the flush timeout. Returns how many events are still held.
    pub(crate) fn flush(&self) -> u64 {
        let deadline = Instant::now() + self.config.flush_timeout;
        let mut state = self.lock();
        state.flush_requested = true;
        self.wake.notify_one();
        loop {
            let idle = state.open.events == 0 && state.queue.is_empty() && state.in_flight == 0;
            let now = Instant::now();
            if idle || state.stopped || now >= deadline {
                state.flush_requested = false;
                let held = state.open.events
                    + state.queue.iter().map(|c| c.events).sum::<u64>()
                    + state.in_flight as u64;
                return if idle || state.stopped { 0 } else { held };
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
    /// `shutdown`). Waits at most the flush timeout.
    pub(crate) fn shutdown(&self) -> bool {
        let deadline = Instant::now() + self.config.flush_timeout;
        let mut state = self.lock();
        state.closing = true;
        self.closing.send_replace(true);
        self.wake.notify_one();
        self.changed.notify_all();
        while !state.stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    fn stop_now(&self) {
        let mut state = self.lock();
        let mut leftovers: Vec<Chunk> = state.queue.drain(..).collect();
        let open = std::mem::replace(&mut state.open, Chunk::new(self.run));
        if open.events > 0 {
            leftovers.push(open);
        }
        state.memory = 0;
        for chunk in &leftovers {
            if self.spool.is_some() {
                self.spool_chunk(chunk);
            } else {
                self.dead_letter_or_drop(
                    chunk,
                    None,
                    "the sink shut down before an endpoint took these events",
                    "",
                );
            }
        }
        state.stopped = true;
        drop(state);
        self.changed.notify_all();
    }

    async fn main_loop(self: Arc<Self>) {
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
            let due = state.open_since + self.config.linger;
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
                self.spool_chunk(&held);
            }
        }
        // Memory chunks, up to the concurrency.
        let paused = state.paused_until.filter(|&until| until > now);
        if let Some(until) = paused {
            soonest(until);
        }
        if paused.is_none() && !*replaying && !state.closing {
            while tasks.len() < self.config.concurrency {
                let Some(chunk) = state.queue.pop_front() else {
                    break;
                };
                state.in_flight += 1;
                self.spawn_delivery(tasks, chunk, Origin::Memory);
            }
        }
        // The spool, one record at a time (in order), once memory is empty.
        if tasks.is_empty() && state.queue.is_empty() && !state.closing {
            let wait = state.replay_not_before.filter(|&at| at > now);
            match (self.spool_head(), wait) {
                (Some(_), Some(at)) => soonest(at),
                (Some(chunk), None) => {
                    *replaying = true;
                    self.spawn_delivery(tasks, chunk, Origin::SpoolHead);
                }
                (None, _) => {
                    if state.spooling && self.spool_is_empty() {
                        state.spooling = false;
                    }
                }
            }
        }
        let idle = state.open.events == 0 && state.queue.is_empty() && state.in_flight == 0;
        drop(state);
        if idle {
            self.changed.notify_all();
        }
        Some(deadline)
    }

    fn spawn_delivery(self: &Arc<Self>, tasks: &mut JoinSet<Done>, chunk: Chunk, origin: Origin) {
        let engine = Arc::clone(self);
        tasks.spawn(async move {
            let parts = engine.deliver(chunk).await;
            Done { origin, parts }
        });
    }

    /// The spool's oldest record as a chunk; unreadable records are skipped and counted.
    fn spool_head(&self) -> Option<Chunk> {
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

    fn spool_is_empty(&self) -> bool {
        self.spool.as_ref().is_none_or(|spool| {
            spool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .spool
                .is_empty()
        })
    }

    /// Accounts for a finished job.
    fn settle(&self, done: Done) {
        let mut state = self.lock();
        let successes = self.successes.load(Ordering::SeqCst);
        match done.origin {
            Origin::Memory => {
                state.in_flight -= 1;
                for (mut chunk, fate) in done.parts {
                    state.memory -= chunk.lines.len();
                    let counted = chunk.counted();
                    match fate {
                        Fate::Delivered => {
                            taken(&mut state, &chunk.key);
                            self.outcomes.delivered(counted);
                        }
                        Fate::Partial {
                            status,
                            rejected,
                            reason,
                            answer,
                        } => {
                            taken(&mut state, &chunk.key);
                            self.partial(&chunk, status, rejected, (&reason, &answer), true);
                        }
                        Fate::DeadLetter {
                            status,
                            reason,
                            answer,
                        } => {
                            state.suspects.remove(&chunk.key);
                            self.dead_letter_or_drop(&chunk, status, &reason, &answer);
                        }
                        Fate::Exhausted { answered } => {
                            if let Some(reason) =
                                self.judge(&mut state, &chunk, answered, successes)
                            {
                                self.dead_letter_or_drop(&chunk, None, &reason, "");
                            } else if answered && !state.set_aside && !state.queue.is_empty() {
                                // The endpoint answers but refuses this one: it may be
                                // poison. Set it aside behind the others and see whether
                                // the endpoint takes them.
                                self.set_aside(&mut state, &mut chunk, successes);
                                state.memory += chunk.lines.len();
                                state.queue.push_back(chunk);
                            } else {
                                self.endpoints_down(&mut state, chunk);
                            }
                        }
                    }
                }
            }
            Origin::SpoolHead => self.settle_head(&mut state, done.parts, successes),
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Marks `chunk` a suspect: it goes behind the others, and if it exhausts its retries
    /// again after the endpoint took another request, it is poison.
    fn set_aside(&self, state: &mut State, chunk: &mut Chunk, successes: u64) {
        state.set_aside = true;
        chunk.failures += 1;
        state.suspects.insert(chunk.key.clone(), successes);
    }

    /// Whether an exhausted chunk is poison: it failed before, as a suspect, and the endpoint
    /// has taken other requests since. Returns the dead-letter reason.
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
                "poison batch: it exhausted its {} attempts twice while the endpoint accepted other batches",
                self.config.retry.max_attempts
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
            self.spool_chunk(&chunk);
            for chunk in std::mem::take(&mut state.queue) {
                state.memory -= chunk.lines.len();
                self.spool_chunk(&chunk);
            }
        } else {
            state.memory += chunk.lines.len();
            state.queue.push_front(chunk);
            state.paused_until = Some(Instant::now() + self.config.retry.max_backoff);
        }
    }

    /// Accounts for a replayed spool record.
    fn settle_head(&self, state: &mut State, parts: Vec<(Chunk, Fate)>, successes: u64) {
        let Some(spool) = &self.spool else { return };
        let whole = parts.len() == 1;
        let mut requeue = Vec::new();
        for (mut chunk, fate) in parts {
            let ours = chunk.run == self.run;
            let counted = chunk.counted();
            match fate {
                Fate::Delivered => {
                    taken(state, &chunk.key);
                    if ours {
                        self.outcomes.unspooled(counted);
                        self.outcomes.delivered(counted);
                    } else {
                        self.outcomes.recovered(counted);
                    }
                }
                Fate::Partial {
                    status,
                    rejected,
                    reason,
                    answer,
                } => {
                    taken(state, &chunk.key);
                    if ours {
                        self.outcomes.unspooled(counted);
                    }
                    self.partial(&chunk, status, rejected, (&reason, &answer), ours);
                }
                Fate::DeadLetter {
                    status,
                    reason,
                    answer,
                } => {
                    state.suspects.remove(&chunk.key);
                    self.dead_letter_replayed(&chunk, status, &reason, &answer, ours);
                }
                Fate::Exhausted { answered } => {
                    if let Some(reason) = self.judge(state, &chunk, answered, successes) {
                        self.dead_letter_replayed(&chunk, None, &reason, "", ours);
                    } else if answered && !state.set_aside && self.spool_has_more() {
                        // A suspect: behind the others (see `settle`).
                        self.set_aside(state, &mut chunk, successes);
                        requeue.push(chunk);
                    } else if whole {
                        // Every endpoint is failing: leave it first in line and wait.
                        state.replay_not_before =
                            Some(Instant::now() + self.config.retry.max_backoff);
                        return;
                    } else {
                        // Part of a split: behind the others, to keep the delivered part.
                        requeue.push(chunk);
                    }
                }
            }
        }
        let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
        // Written again before the original goes: a crash in between sends it twice, never
        // loses it.
        for chunk in &requeue {
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

    fn spool_has_more(&self) -> bool {
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

    fn dead_letter_replayed(
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
    fn partial(
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

    /// Dead-letters this run's chunk, or counts it dropped (`sink_error`) when there is no
    /// dead-letter file or it cannot be written.
    fn dead_letter_or_drop(&self, chunk: &Chunk, status: Option<u16>, reason: &str, answer: &str) {
        let counted = chunk.counted();
        if self.write_dead_letter(chunk, status, reason, answer) {
            self.outcomes.dead_lettered(counted);
        } else {
            self.outcomes.dropped(DropReason::SinkError, counted);
        }
    }

    fn write_dead_letter(
        &self,
        chunk: &Chunk,
        status: Option<u16>,
        reason: &str,
        answer: &str,
    ) -> bool {
        let endpoint = &self.config.endpoints[self.active.load(Ordering::SeqCst)].shown;
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

    /// Sends one chunk until it is delivered, dead-lettered, or out of attempts; a 413 splits
    /// it and sends the halves.
    fn deliver(self: &Arc<Self>, chunk: Chunk) -> Delivery<'_> {
        Box::pin(async move {
            // Encoding (OTLP above all) and gzip are the engine's heaviest work; on the
            // runtime's blocking threads they never hold up this thread's timers and
            // answers, and with `concurrency` > 1 they run side by side where there are
            // cores for it (on the 2-core bench machine the OTLP run is CPU-bound either
            // way, and measured the same within noise). A panic while encoding dead-letters
            // the batch instead of losing it.
            let shared = Arc::new(chunk);
            let job = {
                let engine = Arc::clone(self);
                let chunk = Arc::clone(&shared);
                move || engine.payload(&chunk)
            };
            let payload = tokio::task::spawn_blocking(job).await;
            let chunk = Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone());
            let payload = match payload {
                Ok(payload) => payload,
                Err(err) => {
                    let fate = Fate::DeadLetter {
                        status: None,
                        reason: format!("encoding the body failed ({err})"),
                        answer: String::new(),
                    };
                    return vec![(chunk, fate)];
                }
            };
            let successes_at_start = self.successes.load(Ordering::SeqCst);
            let endpoints = self.config.endpoints.len();
            let mut requests = 0u32;
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let mut retry_after: Option<Duration> = None;
                let mut answered_any = false;
                for index in self.round() {
                    if requests > 0 {
                        self.outcomes.retried();
                    }
                    requests += 1;
                    let verdict = self.send(index, &payload).await;
                    match verdict {
                        Verdict::Delivered => {
                            self.successes.fetch_add(1, Ordering::SeqCst);
                            self.active.store(index, Ordering::SeqCst);
                            return vec![(chunk, Fate::Delivered)];
                        }
                        Verdict::Partial {
                            status,
                            rejected,
                            message,
                        } => {
                            self.successes.fetch_add(1, Ordering::SeqCst);
                            self.active.store(index, Ordering::SeqCst);
                            let shown = &self.config.endpoints[index].shown;
                            if rejected == 0 {
                                self.outcomes
                                    .error(format!("{shown}: accepted with a warning: {message}"));
                                return vec![(chunk, Fate::Delivered)];
                            }
                            let reason = format!(
                                "OTLP partial success: the endpoint rejected {rejected} of {} log records \
                                 (it does not say which; the whole batch is here)",
                                chunk.events
                            );
                            return vec![(
                                chunk,
                                Fate::Partial {
                                    status,
                                    rejected,
                                    reason,
                                    answer: message,
                                },
                            )];
                        }
                        Verdict::Split => {
                            return match chunk.split() {
                                Some((first, second)) => {
                                    let mut parts = self.deliver(first).await;
                                    parts.extend(self.deliver(second).await);
                                    parts
                                }
                                None => vec![(
                                    chunk,
                                    Fate::DeadLetter {
                                        status: Some(413),
                                        reason: "HTTP 413 Payload Too Large for a single event"
                                            .into(),
                                        answer: String::new(),
                                    },
                                )],
                            };
                        }
                        Verdict::Permanent {
                            status,
                            reason,
                            answer,
                        } => {
                            let fate = Fate::DeadLetter {
                                status: Some(status),
                                reason,
                                answer,
                            };
                            return vec![(chunk, fate)];
                        }
                        Verdict::Redirect { status, reason } => {
                            // No answer kept: a redirect's body tends to repeat the
                            // `Location` with the credentials `reason` leaves out.
                            let fate = Fate::DeadLetter {
                                status: Some(status),
                                reason,
                                answer: String::new(),
                            };
                            return vec![(chunk, fate)];
                        }
                        Verdict::Retry {
                            answered,
                            retry_after: asked,
                            reason,
                        } => {
                            answered_any |= answered;
                            retry_after = retry_after.max(asked);
                            self.outcomes
                                .error(format!("{}: {reason}", self.config.endpoints[index].shown));
                            if index == 0 && endpoints > 1 {
                                *self.next_probe.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Instant::now() + self.config.probe_interval;
                            }
                        }
                    }
                }
                let closing = self.lock().closing;
                if closing || attempt >= self.config.retry.max_attempts {
                    if !closing
                        && answered_any
                        && self.successes.load(Ordering::SeqCst) > successes_at_start
                    {
                        // Others got through while this one kept failing: poison.
                        let reason = format!(
                            "poison batch: {} attempts failed while the endpoint accepted other batches",
                            attempt
                        );
                        let fate = Fate::DeadLetter {
                            status: None,
                            reason,
                            answer: String::new(),
                        };
                        return vec![(chunk, fate)];
                    }
                    return vec![(
                        chunk,
                        Fate::Exhausted {
                            answered: answered_any,
                        },
                    )];
                }
                let wait = self.config.retry.backoff(attempt, retry_after);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.closing() => {}
                }
            }
        })
    }

    /// Encodes `chunk` (gzipped if configured) once, for all its attempts.
    fn payload(&self, chunk: &Chunk) -> Payload {
        let body = self.config.format.encode(chunk);
        let body = if self.config.gzip { gzip(&body) } else { body };
        Payload {
            key: HeaderValue::from_str(&chunk.key),
            body: Bytes::from(body),
        }
    }

    /// Resolves when the engine starts closing.
    async fn closing(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|&closing| closing).await;
    }

    /// The endpoints to try in one attempt: the active one and those after it, wrapping; the
    /// primary first when a fallback is active and a probe is due.
    fn round(&self) -> Vec<usize> {
        let count = self.config.endpoints.len();
        let active = self.active.load(Ordering::SeqCst);
        let mut order: Vec<usize> = (0..count).map(|i| (active + i) % count).collect();
        if active != 0 {
            let mut next_probe = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
            if Instant::now() >= *next_probe {
                *next_probe = Instant::now() + self.config.probe_interval;
                order.retain(|&i| i != 0);
                order.insert(0, 0);
            }
        }
        order
    }

    /// One request; reads the whole answer.
    async fn send(&self, index: usize, payload: &Payload) -> Verdict {
        let endpoint = &self.config.endpoints[index];
        let key = match &payload.key {
            Ok(key) => key.clone(),
            // A key no header can carry (only a foreign spool record has one): the same
            // verdict as when the request builder refused it.
            Err(err) => {
                return Verdict::Retry {
                    answered: false,
                    retry_after: None,
                    reason: format!("connection failed: {err}"),
                }
            }
        };
        // A request owns its header map, so each one gets a clone of the prebuilt map: that
        // cannot be avoided with reqwest, but it copies no header bytes (names and values are
        // static or reference-counted) and parses nothing again.
        let mut headers = self.headers.clone();
        headers.append(IDEMPOTENCY_KEY, key);
        let mut request = reqwest::Request::new(reqwest::Method::POST, endpoint.url.clone());
        *request.headers_mut() = headers;
        // Shares the chunk's body: no copy per attempt.
        *request.body_mut() = Some(payload.body.clone().into());
        let response = match self.config.client.execute(request).await {
            Ok(response) => response,
            Err(err) => return classify_error(&err),
        };
        let status = response.status();
        let verdict = classify(status, response.headers(), &endpoint.url, SystemTime::now());
        match response.bytes().await {
            Ok(text) => match verdict {
                Verdict::Delivered => match self.config.format.partial_success(&text) {
                    Some((rejected, message)) => Verdict::Partial {
                        status: status.as_u16(),
                        rejected,
                        message,
                    },
                    None => Verdict::Delivered,
                },
                Verdict::Permanent { status, reason, .. } => Verdict::Permanent {
                    status,
                    reason,
                    answer: String::from_utf8_lossy(&text[..text.len().min(512)])
                        .trim()
                        .to_owned(),
                },
                verdict => verdict,
            },
            // The answer broke off: whether the endpoint kept the batch is unknown, so send
            // it again (same key, same bytes).
            Err(err) => classify_error(&err),
        }
    }
}

/// The endpoint took the chunk with `key`: nothing is set aside any more, and the chunk is no
/// suspect.
fn taken(state: &mut State, key: &str) {
    state.set_aside = false;
    state.suspects.remove(key);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
