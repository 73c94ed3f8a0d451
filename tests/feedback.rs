//! A sink that logs and emits from inside its own write neither recurses nor deadlocks
//! (SPEC §7.1): nothing from a sink's worker thread re-enters a pipeline. Alone in its binary
//! because it installs the global subscriber, which the workers' threads would otherwise use.

mod support;

use std::time::Duration;

use event_core::{emit, Batch, EventLayer, Sink, SinkError};
use event_sinks::MemorySink;
use support::sinks::SharedBuffer;
use support::*;
use tracing_subscriber::prelude::*;

/// Logs, and emits an event, every time it writes.
struct ChattySink {
    inner: MemorySink,
}

impl Sink for ChattySink {
    fn name(&self) -> String {
        "chatty".into()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        tracing::info!(events = batch.len(), "chatty sink writing a batch");
        emit!(CacheWarmed);
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
        "the sink's own emit! was not taken in"
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
    assert!(!fmt.contains("chatty sink writing a batch"), "{fmt}");
}
