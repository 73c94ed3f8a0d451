//! `EventGuard`: flush, stats and shutdown of a layer's pipeline, kept by the application
//! since the layer itself moves into the subscriber.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::pipeline::{FlushReport, Pipeline};
use crate::Stats;

/// Controls the pipeline of the `EventLayer` it was built with. Dropping it shuts the pipeline
/// down (waiting at most the layer's `shutdown_timeout`), so keep it alive as long as events
/// should flow: in `main`, `let _guard = ...;` (not `let _ = ...;`).
#[must_use = "dropping the guard shuts the event pipeline down at once"]
pub struct EventGuard {
    pipeline: Arc<Pipeline>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    shutdown_timeout: Duration,
    /// The first shutdown's report, returned by any later call.
    shut_down: Mutex<Option<FlushReport>>,
}

impl EventGuard {
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        workers: Vec<JoinHandle<()>>,
        shutdown_timeout: Duration,
    ) -> Self {
        EventGuard {
            pipeline,
            workers: Mutex::new(workers),
            shutdown_timeout,
            shut_down: Mutex::new(None),
        }
    }

    /// Waits, at most `timeout`, until every event emitted before the call is delivered,
    /// dead-lettered, spooled or counted as dropped, and every sink has flushed. The report
    /// says whether that happened and what is still pending; it returns within the timeout even
    /// when a sink is stuck.
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        self.pipeline.flush(Instant::now() + timeout)
    }

    /// The counters, now.
    pub fn stats(&self) -> Stats {
        self.pipeline.stats()
    }

    /// Stops accepting events (later ones are counted as dropped with reason `shutdown`),
    /// delivers what is queued, flushes and stops every sink, waiting at most `timeout`.
    /// Sinks that did not finish are abandoned and reported. Calling it again does nothing
    /// more than report.
    pub fn shutdown(&self, timeout: Duration) -> FlushReport {
        let mut shut_down = self.shut_down.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(report) = &*shut_down {
            return report.clone();
        }
        let report = self.pipeline.shutdown(Instant::now() + timeout);
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let (finished, running): (Vec<_>, Vec<_>) =
            workers.drain(..).partition(|worker| worker.is_finished());
        for worker in finished {
            let _ = worker.join();
        }
        // A stuck sink's thread is left behind rather than waited for; its pending events
        // stay pending in the stats.
        *workers = running;
        *shut_down = Some(report.clone());
        report
    }
}

impl Drop for EventGuard {
    fn drop(&mut self) {
        let _ = self.shutdown(self.shutdown_timeout);
    }
}

impl std::fmt::Debug for EventGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventGuard")
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}
