//! Sinks for `event-core` (SPEC §7): where emitted events end up.
//!
//! - [`StdoutSink`]: NDJSON or human-readable lines on standard output.
//! - [`MemorySink`]: keeps events in memory, for your tests.
//!
//! Every sink implements [`event_core::Sink`] and nothing else; add them to a layer with
//! `EventLayer::builder().sink(..)`.

mod memory;
mod stdout;

pub use memory::MemorySink;
pub use stdout::{StdoutFormat, StdoutSink, StdoutSinkBuilder};
