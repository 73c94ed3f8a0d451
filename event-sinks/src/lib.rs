//! Sinks for `event-core`: where emitted events end up.
//!
//! - [`StdoutSink`]: NDJSON or human-readable lines on standard output.
//! - [`FileSink`]: NDJSON files, rotated by size and interval, gzipped (cargo feature `gzip`,
//!   on by default), with retention.
//! - `HttpSink` (cargo feature `http`; OTLP formats with `otlp`): batches POSTed to HTTP
//!   endpoints, retried, failed over, spooled to disk.
//! - `KafkaSink` (cargo feature `kafka`): one Kafka message per event, through librdkafka,
//!   spooled to disk while the brokers are unreachable.
//! - [`MemorySink`]: keeps events in memory, for your tests.
//!
//! Every sink implements [`event_core::Sink`] and nothing else; add them to a layer with
//! `EventLayer::builder().sink(..)`. [`init_stdout`] sets everything up in one call.
//!
//! # Cargo features
//! | feature | default | what it adds | what it compiles |
//! |---|---|---|---|
//! | `gzip` | on | `FileSink::gzip(true)` | flate2 (pure Rust) |
//! | `http` | off | `HttpSink`, `HttpFormat`, `Retry` (implies `gzip`) | reqwest, hyper, rustls |
//! | `otlp` | off | `HttpFormat::OtlpProtobuf`, `HttpFormat::OtlpJson` (implies `http`) | opentelemetry-proto, prost |
//! | `kafka` | off | `KafkaSink`, and `rdkafka` re-exported | librdkafka from source (needs a C compiler and make) |
//!
//! With `default-features = false`, `StdoutSink`, `FileSink` and `MemorySink` need nothing
//! beyond `event-core`.

#[cfg(any(feature = "http", feature = "kafka"))]
mod claim;
mod clock;
#[cfg(any(feature = "http", feature = "kafka"))]
mod dead_letter;
mod encoder;
mod file;
#[cfg(feature = "http")]
pub(crate) mod http;
mod init;
#[cfg(feature = "kafka")]
mod kafka;
mod memory;
#[cfg(any(feature = "http", feature = "kafka"))]
mod spool;
mod stdout;

pub use clock::{Clock, ManualClock, SystemClock};
pub use file::{FileSink, FileSinkBuilder, Fsync};
#[cfg(feature = "http")]
pub use http::{HttpFormat, HttpSink, HttpSinkBuilder, Retry};
pub use init::init_stdout;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaSink, KafkaSinkBuilder};
pub use memory::MemorySink;
/// The `rdkafka` crate `KafkaSink` is built on, at the same version: its `MockCluster` (an
/// in-process Kafka cluster for your tests) and its consumers, without a second librdkafka
/// build.
#[cfg(feature = "kafka")]
pub use rdkafka;
pub use stdout::{StdoutFormat, StdoutSink, StdoutSinkBuilder};

/// The workspace README's code blocks, compiled and run as this crate's doctests (which have
/// every sink), so every snippet a user copies works as shown.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
