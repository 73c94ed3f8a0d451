//! `StdoutSink`: NDJSON or human-readable lines on standard output.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use event_core::{Batch, Sink, SinkError};
use serde_json::Value;

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
        self.buffer.clear();
        for event in batch.iter() {
            match self.format {
                StdoutFormat::Ndjson => self.buffer.extend_from_slice(event.json()),
                StdoutFormat::Pretty => {
                    let envelope: Value = serde_json::from_slice(event.json()).map_err(|err| {
                        SinkError::with_source("an envelope is not valid JSON", err)
                    })?;
                    let mut line = String::with_capacity(256);
                    pretty_line(&envelope, self.colour, &mut line);
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

/// Keys shown in the line's head rather than among the other fields.
const HEAD_KEYS: [&str; 8] = [
    "timestamp",
    "event_id",
    "event_name",
    "event_type",
    "event_version",
    "level",
    "metadata",
    "source",
];

/// `2026-11-21T10:30:00.123456Z  WARN user_login_attempt v1.1 security request_id="r1" | ip="…"`
fn pretty_line(envelope: &Value, colour: bool, out: &mut String) {
    let text = |key: &str| envelope.get(key).and_then(Value::as_str).unwrap_or("");
    let level = text("level");
    let (on, off) = match (colour, level) {
        (false, _) => ("", ""),
        (true, "ERROR") => ("\x1b[31m", "\x1b[0m"),
        (true, "WARN") => ("\x1b[33m", "\x1b[0m"),
        (true, "INFO") => ("\x1b[32m", "\x1b[0m"),
        (true, _) => ("\x1b[2m", "\x1b[0m"),
    };
    let _ = write!(
        out,
        "{} {on}{:>5}{off} {} v{} {}",
        escaped(text("timestamp")),
        escaped(level),
        escaped(text("event_name")),
        escaped(text("event_version")),
        escaped(text("event_type")),
    );
    if let Some(object) = envelope.as_object() {
        for (key, value) in object {
            if !HEAD_KEYS.contains(&key.as_str()) {
                let _ = write!(out, " {}=", escaped(key));
                push_json(out, value);
            }
        }
    }
    out.push_str(" |");
    if let Some(fields) = envelope.get("metadata").and_then(Value::as_object) {
        for (key, value) in fields {
            let _ = write!(out, " {}=", escaped(key));
            push_json(out, value);
        }
    }
}

/// Appends `value` as JSON, DEL and C1 controls escaped as in every envelope.
fn push_json(out: &mut String, value: &Value) {
    let mut json = Vec::new();
    // Writing a JSON value into a `Vec` cannot fail, and JSON text is UTF-8.
    let _ = event_core::write_json(&mut json, value);
    out.push_str(&String::from_utf8_lossy(&json));
}

/// `text` with control characters (newlines, ANSI escapes) escaped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
