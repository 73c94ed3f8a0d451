//! `StdoutSink`: NDJSON or human-readable lines on standard output.

use std::io::{self, IsTerminal, Write};

use event_core::{Batch, Sink, SinkError};

use crate::encoder::pretty::PrettyLine;

/// How [`StdoutSink`] writes events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutFormat {
    /// One envelope per line, as JSON: for machines and log shippers.
    Ndjson,
    /// One readable line per event: time, level, name and version, context, then the treated
    /// fields. Coloured only when the output is a terminal.
    Pretty,
}

/// Writes events to standard output (or any writer), whole lines at a time: each batch is one
/// `write_all` under the stdout lock, so lines are never interleaved with other output. Control
/// characters and ANSI escapes inside values are escaped in both formats.
pub struct StdoutSink {
    name: String,
    format: StdoutFormat,
    colour: bool,
    out: Box<dyn Write + Send>,
    buffer: Vec<u8>,
}

impl StdoutSink {
    /// NDJSON to standard output.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Readable lines to standard output, coloured on a terminal.
    pub fn pretty() -> Self {
        Self::builder().format(StdoutFormat::Pretty).build()
    }

    /// Readable lines on a terminal, NDJSON otherwise (piped, redirected, in CI).
    pub fn auto() -> Self {
        let format = if io::stdout().is_terminal() {
            StdoutFormat::Pretty
        } else {
            StdoutFormat::Ndjson
        };
        Self::builder().format(format).build()
    }

    /// Configures a sink.
    pub fn builder() -> StdoutSinkBuilder {
        StdoutSinkBuilder {
            name: "stdout".into(),
            format: StdoutFormat::Ndjson,
            writer: None,
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`StdoutSink`].
pub struct StdoutSinkBuilder {
    name: String,
    format: StdoutFormat,
    writer: Option<Box<dyn Write + Send>>,
}

impl StdoutSinkBuilder {
    /// The sink's name in stats (default `stdout`); two sinks of a layer need different names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The format (default NDJSON).
    pub fn format(mut self, format: StdoutFormat) -> Self {
        self.format = format;
        self
    }

    /// Writes to `writer` instead of standard output (never coloured), e.g. for tests.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Some(Box::new(writer));
        self
    }

    /// The sink.
    pub fn build(self) -> StdoutSink {
        let (out, terminal): (Box<dyn Write + Send>, bool) = match self.writer {
            Some(writer) => (writer, false),
            None => (Box::new(io::stdout()), io::stdout().is_terminal()),
        };
        StdoutSink {
            name: self.name,
            format: self.format,
            colour: terminal && self.format == StdoutFormat::Pretty,
            out,
            buffer: Vec::with_capacity(64 << 10),
        }
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if let (StdoutFormat::Ndjson, Some(lines)) = (self.format, batch.ndjson()) {
            // The pipeline's lines as they are: one write, no copy.
            self.out.write_all(lines)?;
            self.out.flush()?;
            return Ok(());
        }
        self.buffer.clear();
        for event in batch.iter() {
            match self.format {
                StdoutFormat::Ndjson => self.buffer.extend_from_slice(event.json()),
                StdoutFormat::Pretty => {
                    let mut pretty = PrettyLine::new(self.colour);
                    event.envelope().visit(&mut pretty).map_err(|err| {
                        SinkError::with_source("an envelope could not be written as text", err)
                    })?;
                    let mut line = String::with_capacity(256);
                    pretty.finish(&mut line);
                    self.buffer.extend_from_slice(line.as_bytes());
                }
            }
            self.buffer.push(b'\n');
        }
        // One write of whole lines; `Stdout` holds its lock for the call.
        self.out.write_all(&self.buffer)?;
        self.out.flush()?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_core::envelope::StoredEnvelope;
    use serde_json::Value;

    /// The line for an envelope given as JSON (with an event id added).
    fn pretty_line(envelope: &Value, colour: bool, out: &mut String) {
        let mut envelope = envelope.clone();
        envelope["event_id"] = "0193a6f0-0000-7000-8000-000000000001".into();
        let line = serde_json::to_vec(&envelope).unwrap();
        let mut pretty = PrettyLine::new(colour);
        StoredEnvelope::parse(&line)
            .unwrap()
            .visit(&mut pretty)
            .unwrap();
        pretty.finish(out);
    }

    #[test]
    fn pretty_lines_escape_control_characters() {
        let envelope = serde_json::json!({
            "timestamp": "2026-11-21T10:30:00.123456Z",
            "event_name": "export_failed",
            "event_version": "1.0",
            "event_type": "error",
            "level": "ERROR",
            "request_id": "r\n1",
            "metadata": { "reason": "reset\nby peer \u{1b}[31m" },
        });
        let mut line = String::new();
        pretty_line(&envelope, false, &mut line);
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert_eq!(
            line,
            r#"2026-11-21T10:30:00.123456Z ERROR export_failed v1.0 error request_id="r\n1" | reason="reset\nby peer \u001b[31m""#
        );
    }

    #[test]
    fn pretty_lines_escape_del_and_c1_controls() {
        for c in '\u{7f}'..='\u{9f}' {
            let text = format!("a{c}b");
            let envelope = serde_json::json!({
                "timestamp": "2026-11-21T10:30:00.123456Z",
                "event_name": text,
                "event_version": "1.0",
                "event_type": "error",
                "level": "ERROR",
                "request_id": text,
                "metadata": { text.clone(): text, "list": [text, { text.clone(): 1 }] },
            });
            let mut line = String::new();
            pretty_line(&envelope, false, &mut line);
            assert!(!line.contains(c), "raw {c:?} in {line}");
            // Keys and head values as Rust escapes (ESC as `\u{1b}`), values as JSON ones (ESC
            // as `\u001b`), so each value still reads back as the original.
            let key = format!("a\\u{{{:x}}}b", u32::from(c));
            let json = serde_json::to_string(&text)
                .unwrap()
                .replace(c, &format!("\\u{:04x}", u32::from(c)));
            assert_eq!(
                line,
                format!(
                    "2026-11-21T10:30:00.123456Z ERROR {key} v1.0 error request_id={json} | \
                     {key}={json} list=[{json},{{{json}:1}}]"
                )
            );
            assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
        }
    }
}
