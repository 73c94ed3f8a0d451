//! Sinks for `event-core`: `StdoutSink`, `FileSink`, `HttpSink`, `MemorySink` (SPEC §7).
//! They arrive with the pipeline; this crate has no public items yet.
