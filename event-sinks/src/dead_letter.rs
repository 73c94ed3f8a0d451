//! The dead-letter file of the HTTP and Kafka sinks: events their destination will never take,
//! one JSON line each, with why.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

/// An append-only NDJSON file, created `0600`, of at most `max_bytes`.
pub(crate) struct DeadLetter {
    file: File,
    max_bytes: u64,
}

/// Why events could not be dead-lettered.
pub(crate) enum DeadLetterError {
    /// They would take the file past its size bound.
    Full,
    /// Writing failed (a full disk): the file is cut back to its last whole line.
    Io(io::Error),
}

impl From<io::Error> for DeadLetterError {
    fn from(err: io::Error) -> Self {
        DeadLetterError::Io(err)
    }
}

/// One line of the file: when, why (the sink's own fields, such as the HTTP status or the
/// Kafka error), and the event's envelope as it was.
#[derive(Serialize)]
struct Line<'a, W: Serialize> {
    dead_lettered_at: &'a str,
    #[serde(flatten)]
    why: &'a W,
    event: &'a serde_json::value::RawValue,
}

impl DeadLetter {
    pub(crate) fn open(path: &Path, max_bytes: u64) -> io::Result<DeadLetter> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        crate::claim::claim(&file, path)?;
        Ok(DeadLetter { file, max_bytes })
    }

    /// Appends every one of `envelopes`, each with the fields of `why` (an object), durably,
    /// or none of them: a failed append is cut back, so the file never keeps a torn line that
    /// the next append would merge into its own.
    pub(crate) fn write<'e, W: Serialize>(
        &mut self,
        envelopes: impl IntoIterator<Item = &'e [u8]>,
        why: &W,
    ) -> Result<(), DeadLetterError> {
        let at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
        let mut out = Vec::new();
        for envelope in envelopes {
            let text = std::str::from_utf8(envelope).map_err(io::Error::other)?;
            let event: &serde_json::value::RawValue =
                serde_json::from_str(text).map_err(io::Error::other)?;
            let line = Line {
                dead_lettered_at: &at,
                why,
                event,
            };
            event_core::write_json(&mut out, &line).map_err(io::Error::other)?;
            out.push(b'\n');
        }
        let len = self.file.metadata()?.len();
        if len + out.len() as u64 > self.max_bytes {
            return Err(DeadLetterError::Full);
        }
        let written = self
            .file
            .write_all(&out)
            .and_then(|()| self.file.sync_data());
        if let Err(err) = written {
            // Appends go to the end: cut back to where this one began.
            return Err(match self.file.set_len(len) {
                Ok(()) => DeadLetterError::Io(err),
                Err(cut) => DeadLetterError::Io(io::Error::other(format!(
                    "{err}; cutting the torn line back failed too: {cut}"
                ))),
            });
        }
        Ok(())
    }
}
