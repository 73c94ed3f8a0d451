//! `MemorySink` (SPEC §7.5): keeps every event, for tests.

use std::sync::{Arc, Mutex};

use event_core::{Batch, Sink, SinkError};

/// Keeps every event it receives, parsed, in memory. Clones share the same events, so keep a
/// clone to inspect what a layer delivered:
///
/// ```
/// let sink = event_sinks::MemorySink::new();
/// let (layer, guard) = event_core::EventLayer::builder().sink(sink.clone()).build()?;
/// # drop(layer);
/// // ... emit! events under a subscriber with `layer`, then:
/// guard.flush(std::time::Duration::from_secs(1));
/// assert!(sink.events().is_empty());
/// # Ok::<(), event_core::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MemorySink {
    name: String,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink::named("memory")
    }
}

impl MemorySink {
    /// A sink named `memory`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink with its own name (sinks of one layer need different names).
    pub fn named(name: impl Into<String>) -> Self {
        MemorySink {
            name: name.into(),
            events: Arc::default(),
        }
    }

    /// Every envelope received so far, in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lock().clone()
    }

    /// How many envelopes were received.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none were received.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every envelope received so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<serde_json::Value>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sink for MemorySink {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let parsed = batch
            .iter()
            .map(|event| serde_json::from_slice(event.json()))
            .collect::<Result<Vec<serde_json::Value>, _>>()
            .map_err(|err| SinkError::with_source("an envelope is not valid JSON", err))?;
        self.lock().extend(parsed);
        Ok(())
    }
}
