//! Sinks for `event-core` (SPEC §7): where emitted events end up.
//!
//! - [`StdoutSink`]: NDJSON or human-readable lines on standard output.
//! - [`FileSink`]: NDJSON files, rotated by size and interval, gzipped, with retention.
//! - [`HttpSink`]: batches POSTed to HTTP endpoints, retried, failed over, spooled to disk.
//! - [`MemorySink`]: keeps events in memory, for your tests.
//!
//! Every sink implements [`event_core::Sink`] and nothing else; add them to a layer with
//! `EventLayer::builder().sink(..)`. [`init_stdout`] sets everything up in one call.

mod clock;
mod file;
mod http;
mod init;
mod memory;
mod spool;
mod stdout;

pub use clock::{Clock, ManualClock, SystemClock};
pub use file::{FileSink, FileSinkBuilder, Fsync};
pub use http::{HttpFormat, HttpSink, HttpSinkBuilder, Retry};
pub use init::init_stdout;
pub use memory::MemorySink;
pub use stdout::{StdoutFormat, StdoutSink, StdoutSinkBuilder};
