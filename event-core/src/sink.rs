//! The `Sink` trait (SPEC §7.6): where a pipeline delivers encoded events, a batch at a time.

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use tracing_core::Level;
use uuid::Uuid;

/// A destination for events: stdout, a file, an HTTP endpoint, your own.
///
/// Each sink runs on its own worker thread with its own queue, so a slow or stuck sink delays
/// no other sink and never the code that emits. The methods are `async`: the worker drives them
/// on a current-thread tokio runtime, so a sink may use tokio's timers and I/O. The futures need
/// not be `Send`. A panic in a sink is caught and counted; the worker goes on.
///
/// See `examples/custom_sink.rs` for a complete sink.
///
/// ```
/// use event_core::{Batch, Sink, SinkError};
///
/// /// Counts events and lines, for illustration.
/// #[derive(Default)]
/// struct Counting {
///     events: usize,
///     bytes: usize,
/// }
///
/// impl Sink for Counting {
///     fn name(&self) -> String {
///         "counting".into()
///     }
///
///     async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         for event in batch.iter() {
///             self.events += 1;
///             self.bytes += event.json().len() + 1;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// The sink's name in [`Stats`](crate::Stats) and reports. Sinks of one layer should have
    /// different names.
    fn name(&self) -> String;

    /// Delivers a batch. `Ok` counts every event of the batch as delivered; `Err` counts them
    /// dropped with reason `sink_error` (a sink that retries does so before returning).
    fn write_batch(&mut self, batch: &Batch<'_>) -> impl Future<Output = Result<(), SinkError>>;

    /// Makes everything written so far durable (fsync, send buffered data). Called by
    /// `EventGuard::flush` and before `shutdown`.
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> {
        async { Ok(()) }
    }

    /// Releases resources; called once, after the last `flush`.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), SinkError>> {
        async { Ok(()) }
    }
}

/// Events for a sink, in emission order.
pub struct Batch<'a> {
    events: &'a [BatchEvent<'a>],
}

impl<'a> Batch<'a> {
    pub(crate) fn new(events: &'a [BatchEvent<'a>]) -> Self {
        Batch { events }
    }

    /// The events.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &BatchEvent<'a>> {
        self.events.iter()
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// One event of a [`Batch`]: its envelope as one line of JSON, and what sinks commonly need
/// without parsing it.
#[derive(Clone, Copy)]
pub struct BatchEvent<'a> {
    pub(crate) json: &'a [u8],
    pub(crate) name: &'static str,
    pub(crate) level: Level,
    pub(crate) timestamp: SystemTime,
    pub(crate) event_id: Uuid,
}

impl<'a> BatchEvent<'a> {
    /// The envelope (SPEC §5): one JSON object, one line, no trailing newline. Control
    /// characters inside values are escaped, so it never contains a raw newline.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }
    /// The event name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The event's level.
    pub fn level(&self) -> Level {
        self.level
    }
    /// When it was emitted.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }
    /// Its id (UUIDv7), the same in every sink and across retries.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }
}

impl fmt::Debug for BatchEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The line holds only treated values, but keep Debug short.
        f.debug_struct("BatchEvent")
            .field("name", &self.name)
            .field("event_id", &self.event_id)
            .field("bytes", &self.json.len())
            .finish()
    }
}

/// A sink's failure to deliver. Its message appears in `Stats`; it must not contain event
/// values or credentials.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and its cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SinkError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl From<std::io::Error> for SinkError {
    fn from(err: std::io::Error) -> Self {
        SinkError::with_source(err.to_string(), err)
    }
}
