//! `MemorySink`: keeps every event in memory, as the line a file would hold, for tests.

use std::sync::{Arc, Mutex};

use event_core::{Batch, Sink, SinkError};

/// Keeps every event it receives in memory, as the line a file would hold. Clones share the same events, so keep a
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
    lines: Arc<Mutex<Vec<String>>>,
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
            lines: Arc::default(),
        }
    }

    /// Every envelope received so far, in order, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lock()
            .iter()
            .map(|line| serde_json::from_str(line).expect("checked when received"))
            .collect()
    }

    /// Every envelope received so far, in order, exactly as written (one line of JSON each).
    pub fn lines(&self) -> Vec<String> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sink for MemorySink {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut lines = Vec::with_capacity(batch.len());
        for event in batch.iter() {
            serde_json::from_slice::<serde::de::IgnoredAny>(event.json())
                .map_err(|err| SinkError::with_source("an envelope is not valid JSON", err))?;
            let line = String::from_utf8(event.json().to_vec())
                .map_err(|err| SinkError::with_source("an envelope is not UTF-8", err))?;
            lines.push(line);
        }
        self.lock().extend(lines);
        Ok(())
    }
}
