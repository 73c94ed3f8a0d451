//! The HTTP sink's engine: its own thread and tokio runtime, which seals chunks, sends them
//! (concurrently, retried, failed over), spools what cannot be sent, replays the spool, and
//! reports every event's fate through [`Outcomes`].
//!
//! The pipeline's worker thread hands batches to [`Engine::accept`], which appends their
//! envelopes to the open chunk and places sealed chunks: in memory while there is room and the
//! spool is empty, else in the spool (so the spool replays in order, before anything newer).
//! Without a spool, `accept` waits for room, which backs up into the pipeline's queue and its
//! overflow policy. The app's threads never wait on any of this.
//!
//! Both threads share one state behind a mutex, and neither does disk I/O while holding it:
//! spool and dead-letter writes are decided under it and done after it is released.
//!
//! - `state`: what the mutex guards.
//! - `intake`: the worker's side (accept, flush, shutdown).
//! - `scheduler`: the engine's loop.
//! - `delivery`: one chunk's attempts, retries and 413 split, over `service`'s requests.
//! - `settle`: what a finished delivery means, handing work to `disk`.
//! - `disk`: the spool and dead-letter I/O.

mod delivery;
mod disk;
mod intake;
mod scheduler;
mod service;
mod settle;
mod state;

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use event_core::Outcomes;
use reqwest::header::HeaderMap;
use uuid::Uuid;

use super::format::HttpFormat;
use super::retry::Retry;
use crate::dead_letter::DeadLetter;
use crate::spool::Spool;
use disk::SpoolState;
pub(crate) use service::Endpoint;
use service::Service;
use state::State;

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

/// The settings of packing, retrying and waiting (the rest of [`Config`] is the service's).
struct Limits {
    max_events: u64,
    max_bytes: usize,
    linger: Duration,
    concurrency: usize,
    retry: Retry,
    probe_interval: Duration,
    memory_bytes: usize,
    flush_timeout: Duration,
}

/// What the worker thread and the engine share.
pub(crate) struct Engine {
    service: Service,
    limits: Limits,
    outcomes: Outcomes,
    /// This process run: chunks carry it into the spool.
    run: Uuid,
    /// Never held during I/O, nor while taking `spool` (which is locked first when both are
    /// needed).
    state: Mutex<State>,
    /// Signalled when memory is freed, writes are done, the engine goes idle, or it stops.
    changed: Condvar,
    /// Wakes the engine.
    wake: tokio::sync::Notify,
    /// Held during the spool's own I/O.
    spool: Option<Mutex<SpoolState>>,
    /// Held during the file's own I/O, with no other lock.
    dead_letter: Option<Mutex<DeadLetter>>,
    /// Requests any endpoint accepted: a batch that exhausts its retries while this grows
    /// holds poison, not a victim of an outage.
    successes: AtomicU64,
    /// The endpoint in use (index into `endpoints`).
    active: AtomicUsize,
    /// When the primary is next probed while a fallback is in use.
    next_probe: Mutex<Instant>,
    /// Set once, when the engine starts closing: backoffs end early.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Engine {
    pub(crate) fn new(
        config: Config,
        outcomes: Outcomes,
        spool: Option<Spool>,
        dead_letter: Option<DeadLetter>,
    ) -> Arc<Engine> {
        let Config {
            endpoints,
            format,
            gzip,
            headers,
            max_events,
            max_bytes,
            linger,
            concurrency,
            retry,
            probe_interval,
            memory_bytes,
            flush_timeout,
            client,
        } = config;
        let run = Uuid::new_v4();
        let spooling = spool.as_ref().is_some_and(|s| !s.is_empty());
        Arc::new(Engine {
            service: Service::new(client, endpoints, format, gzip, headers),
            limits: Limits {
                max_events,
                max_bytes,
                linger,
                concurrency,
                retry,
                probe_interval,
                memory_bytes,
                flush_timeout,
            },
            outcomes,
            run,
            state: Mutex::new(State::new(run, spooling)),
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
}
