//! A chunk: the events of one request, as the envelopes' NDJSON lines, with what identifies
//! the request across retries, splits, the spool and restarts.

use uuid::Uuid;

use super::format::Unit;
use crate::spool::RecordHeader;

/// The events of one request.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    /// The request's `Idempotency-Key`: the same for every retry and replay of these events.
    pub(crate) key: String,
    /// The envelopes, each followed by `\n`.
    pub(crate) lines: Vec<u8>,
    /// How many envelopes.
    pub(crate) events: u64,
    /// Which of them (by index) are the pipeline's own reports, not counted in `emitted`.
    pub(crate) uncounted: Vec<u64>,
    /// The process run that emitted them: this run's are counted in its stats, an earlier
    /// run's (read from the spool) apart, as `recovered`.
    pub(crate) run: Uuid,
    /// Times it exhausted its retries while its endpoint answered (for poison detection).
    pub(crate) failures: u32,
    /// Judged to hold a poison event: its next delivery splits it until the events the
    /// endpoint refuses are found, so only they are dead-lettered.
    pub(crate) isolate: bool,
    /// Each event in the endpoint's format (rows, OTLP records), encoded when it arrived;
    /// `None` when an event came without one (read back from the spool, or a format that
    /// sends the lines), and the body is then written from the lines.
    units: Option<Vec<Unit>>,
}

impl Chunk {
    /// An empty chunk with a fresh key.
    pub(crate) fn new(run: Uuid) -> Chunk {
        Chunk {
            key: Uuid::new_v4().to_string(),
            lines: Vec::new(),
            events: 0,
            uncounted: Vec::new(),
            run,
            failures: 0,
            isolate: false,
            units: Some(Vec::new()),
        }
    }

    /// Appends one envelope, with its unit in the endpoint's format if it has one.
    pub(crate) fn push(&mut self, json: &[u8], counted: bool, unit: Option<Unit>) {
        match (&mut self.units, unit) {
            (Some(units), Some(unit)) => units.push(unit),
            (units, _) => *units = None,
        }
        self.lines.extend_from_slice(json);
        self.lines.push(b'\n');
        if !counted {
            self.uncounted.push(self.events);
        }
        self.events += 1;
    }

    /// The events' units, when every event has one.
    pub(crate) fn units(&self) -> Option<&[Unit]> {
        self.units
            .as_deref()
            .filter(|units| units.len() as u64 == self.events)
    }

    /// How many of its events count in the sink's `emitted`.
    pub(crate) fn counted(&self) -> u64 {
        self.events - self.uncounted.len() as u64
    }

    /// The envelopes, one per item, without their newlines.
    pub(crate) fn envelopes(&self) -> impl Iterator<Item = &[u8]> {
        self.lines
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
    }

    /// Splits in two halves by events, for a 413. Each half gets a key derived from this
    /// one, so a retried split sends the same keys again. `None` for a single event.
    pub(crate) fn split(&self) -> Option<(Chunk, Chunk)> {
        if self.events < 2 {
            return None;
        }
        let half = self.events / 2;
        let mut first = self.derived(".1");
        let mut second = self.derived(".2");
        let units = self.units();
        for (index, line) in self.envelopes().enumerate() {
            let target = if (index as u64) < half {
                &mut first
            } else {
                &mut second
            };
            let unit = units.and_then(|units| units.get(index)).cloned();
            target.push(line, !self.uncounted.contains(&(index as u64)), unit);
        }
        Some((first, second))
    }

    fn derived(&self, suffix: &str) -> Chunk {
        Chunk {
            key: format!("{}{suffix}", self.key),
            lines: Vec::new(),
            events: 0,
            uncounted: Vec::new(),
            run: self.run,
            failures: self.failures,
            isolate: false,
            units: Some(Vec::new()),
        }
    }

    /// The spool record: a header line, then the envelopes.
    pub(crate) fn to_record(&self) -> Vec<u8> {
        RecordHeader {
            v: 1,
            key: self.key.clone(),
            events: self.events,
            uncounted: self.uncounted.clone(),
            run: self.run,
            failures: self.failures,
            isolate: self.isolate,
        }
        .record(&self.lines)
    }

    /// Reads a spool record back; `None` if it is not one (a record that passed its CRC but
    /// was written by something else).
    pub(crate) fn from_record(record: &[u8]) -> Option<Chunk> {
        let (header, lines) = RecordHeader::read(record)?;
        Some(Chunk {
            key: header.key,
            lines: lines.to_vec(),
            events: header.events,
            uncounted: header.uncounted,
            run: header.run,
            failures: header.failures,
            isolate: header.isolate,
            units: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_splits_keep_derived_keys() {
        let run = Uuid::new_v4();
        let mut chunk = Chunk::new(run);
        chunk.push(br#"{"a":1}"#, true, None);
        chunk.push(br#"{"b":2}"#, false, None);
        chunk.push(br#"{"c":3}"#, true, None);
        let back = Chunk::from_record(&chunk.to_record()).unwrap();
        assert_eq!(back.key, chunk.key);
        assert_eq!(back.lines, chunk.lines);
        assert_eq!((back.events, back.counted(), back.run), (3, 2, run));
        assert!(!back.isolate);
        // A chunk marked to be isolated stays marked across a restart; its halves are not.
        chunk.isolate = true;
        assert!(Chunk::from_record(&chunk.to_record()).unwrap().isolate);
        assert!(!chunk.split().unwrap().0.isolate);
        chunk.isolate = false;

        let (first, second) = chunk.split().unwrap();
        assert_eq!(first.key, format!("{}.1", chunk.key));
        assert_eq!(second.key, format!("{}.2", chunk.key));
        assert_eq!((first.events, first.counted()), (1, 1));
        assert_eq!((second.events, second.counted()), (2, 1));
        assert_eq!(second.lines, b"{\"b\":2}\n{\"c\":3}\n");
        assert!(first.split().is_none());
        assert!(Chunk::from_record(b"not a record").is_none());
    }
}
