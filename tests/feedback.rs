//! A sink that logs and emits from inside its own write, from `spawn_blocking` tasks and from
//! a thread of its own neither recurses nor deadlocks: nothing a sink does re-enters a
//! pipeline or reaches the app's subscriber. Alone in its binary because it installs the
//! global subscriber, which every thread without a default of its own uses.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use event_core::{emit, Batch, EventLayer, Sink, SinkError};
use event_sinks::MemorySink;
use support::sinks::SharedBuffer;
use support::*;
use tracing_subscriber::prelude::*;

/// Logs, and emits an event, every time it writes: on the worker, in a `spawn_blocking` task,
/// and on a thread of its own that it started with `event_core::spawn_silenced`.
struct ChattySink {
    inner: MemorySink,
    /// The sink's own thread: takes a batch size, answers once it has logged and emitted.
    own_thread: Option<(mpsc::Sender<usize>, mpsc::Receiver<()>)>,
}

impl Sink for ChattySink {
    fn name(&self) -> String {
        "chatty".into()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        tracing::info!(events = batch.len(), "chatty sink writing a batch");
        emit!(CacheWarmed);
        let events = batch.len();
        tokio::task::spawn_blocking(move || {
            tracing::info!(events, "chatty sink in spawn_blocking");
            emit!(CacheWarmed);
        })
        .await
        .map_err(|err| SinkError::new(err.to_string()))?;
        let (work, done) = self.own_thread.get_or_insert_with(|| {
            let (work, receiver) = mpsc::channel::<usize>();
            let (answer, done) = mpsc::channel();
            event_core::spawn_silenced("chatty-own-thread", move || {
                for events in receiver {
                    tracing::info!(events, "chatty sink on its own thread");
                    emit!(CacheWarmed);
                    answer.send(()).unwrap();
                }
            })
            .unwrap();
            (work, done)
        });
        work.send(events).unwrap();
        done.recv().unwrap();
        self.inner.write_batch(batch).await
    }
}

#[test]
fn sink_internals_never_reenter_the_pipeline() {
    let memory = MemorySink::new();
    let fmt = SharedBuffer::default();
    let (layer, guard) = EventLayer::builder()
        .sink(ChattySink {
            inner: memory.clone(),
            own_thread: None,
        })
        .build()
        .unwrap();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(fmt.clone()))
        .with(layer)
        .init();

    for _ in 0..1_000 {
        emit!(login_attempt());
    }
    let report = guard.flush(Duration::from_secs(30));
    assert!(report.is_complete(), "{report:?}");
    let stats = guard.stats();
    assert_eq!(
        stats.emitted, 1_000,
        "an emit! of the sink's was taken in: {stats:?}"
    );
    assert_eq!(stats.sinks[0].delivered, 1_000);
    assert_eq!(memory.len(), 1_000);
    assert!(memory
        .events()
        .iter()
        .all(|e| e["event_name"] == "user_login_attempt"));
    // The application's own events still reach the fmt layer; the sink's chatter does not.
    let fmt = fmt.text();
    assert!(fmt.contains("user_login_attempt"));
    assert!(!fmt.contains("chatty sink"), "{fmt}");
    assert!(!fmt.contains("cache_warmed"), "{fmt}");
}
