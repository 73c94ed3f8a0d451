//! Request bodies: the chunk's envelopes in the endpoint's format, gzipped or not.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use event_core::envelope::{EnvelopeVisitor, StoredEnvelope};
use event_core::RenderError;

use super::chunk::Chunk;
#[cfg(feature = "otlp")]
use super::otlp::Encoding;
use crate::encoder::clickhouse;
#[cfg(feature = "otlp")]
use crate::encoder::otlp;

/// What the HTTP sink sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpFormat {
    /// One envelope per line (`application/x-ndjson`). The default.
    #[default]
    Ndjson,
    /// One JSON array of envelopes (`application/json`).
    JsonArray,
    /// OTLP/HTTP logs in binary protobuf (`application/x-protobuf`): one `LogRecord` per
    /// event, written from the typed event with prost (the mapping is in the README). An
    /// endpoint URL without a path gets `/v1/logs`. A partial success in the answer is never
    /// retried: the rejected records count dead-lettered (dropped, `sink_error`, without a
    /// dead-letter file), the rest delivered. Needs the cargo feature `otlp`.
    #[cfg(feature = "otlp")]
    OtlpProtobuf,
    /// OTLP/HTTP logs in OTLP/JSON (`application/json`): as [`OtlpProtobuf`](Self::OtlpProtobuf),
    /// with trace and span ids as hex strings and 64-bit integers as strings. Needs the cargo
    /// feature `otlp`.
    #[cfg(feature = "otlp")]
    OtlpJson,
    /// ClickHouse's HTTP interface: `INSERT INTO <table> FORMAT JSONEachRow` with
    /// `input_format_skip_unknown_fields=1`. Top-level scalars become columns; nested objects
    /// and arrays (`metadata`, `source`, ...) are sent as JSON strings, which every server
    /// version can store in a `String` column. See the README for a `CREATE TABLE`.
    ClickHouse {
        /// The table, as `name` or `database.name` (letters, digits, `_`).
        table: String,
    },
}

impl HttpFormat {
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            HttpFormat::Ndjson | HttpFormat::ClickHouse { .. } => "application/x-ndjson",
            HttpFormat::JsonArray => "application/json",
            #[cfg(feature = "otlp")]
            HttpFormat::OtlpJson => "application/json",
            #[cfg(feature = "otlp")]
            HttpFormat::OtlpProtobuf => "application/x-protobuf",
        }
    }

    /// The OTLP encoding, for formats whose answers carry an OTLP export response.
    #[cfg(feature = "otlp")]
    fn otlp(&self) -> Option<Encoding> {
        match self {
            HttpFormat::OtlpProtobuf => Some(Encoding::Protobuf),
            HttpFormat::OtlpJson => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The path an endpoint URL without one gets.
    pub(crate) fn default_path(&self) -> Option<&'static str> {
        #[cfg(feature = "otlp")]
        if self.otlp().is_some() {
            return Some("/v1/logs");
        }
        None
    }

    /// For OTLP formats, what a 2xx answer says the endpoint rejected: the count and the
    /// server's message. `None` for a full success and for every other format.
    pub(crate) fn partial_success(&self, answer: &[u8]) -> Option<(u64, String)> {
        #[cfg(feature = "otlp")]
        if let Some(encoding) = self.otlp() {
            return super::otlp::partial_success(answer, encoding);
        }
        let _ = answer;
        None
    }

    /// Checks the format's own settings; the message says what is wrong.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let HttpFormat::ClickHouse { table } = self {
            let valid = !table.is_empty()
                && table.split('.').count() <= 2
                && table.split('.').all(|part| {
                    part.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(format!(
                    "ClickHouse table `{table}` is not a plain name: use `table` or `database.table` \
                     with letters, digits and `_`"
                ));
            }
        }
        Ok(())
    }

    /// The query string the format adds to every endpoint URL.
    pub(crate) fn query(&self) -> Option<Vec<(&'static str, String)>> {
        match self {
            HttpFormat::ClickHouse { table } => Some(vec![
                ("query", format!("INSERT INTO {table} FORMAT JSONEachRow")),
                ("input_format_skip_unknown_fields", "1".to_owned()),
            ]),
            _ => None,
        }
    }

    /// The body for `chunk`, uncompressed: from the units its events were encoded into when
    /// they arrived, or, for events read back from the spool, from their lines.
    pub(crate) fn encode(&self, chunk: &Chunk) -> Vec<u8> {
        match self {
            HttpFormat::Ndjson => chunk.lines.clone(),
            HttpFormat::JsonArray => {
                let mut body = Vec::with_capacity(chunk.lines.len() + 2);
                body.push(b'[');
                for (index, envelope) in chunk.envelopes().enumerate() {
                    if index > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(envelope);
                }
                body.push(b']');
                body
            }
            #[cfg(feature = "otlp")]
            HttpFormat::OtlpProtobuf | HttpFormat::OtlpJson => {
                let replayed;
                let units = match chunk.units() {
                    Some(units) => units,
                    None => {
                        replayed = self.replay(chunk);
                        &replayed
                    }
                };
                let records: Vec<&otlp::OtlpRecord> = units
                    .iter()
                    .filter_map(|unit| match unit {
                        Unit::Otlp(record) => Some(record),
                        Unit::Row(_) => None,
                    })
                    .collect();
                if *self == HttpFormat::OtlpJson {
                    otlp::encode_json(&records)
                } else {
                    otlp::encode_protobuf(&records)
                }
            }
            HttpFormat::ClickHouse { .. } => {
                let replayed;
                let units = match chunk.units() {
                    Some(units) => units,
                    None => {
                        replayed = self.replay(chunk);
                        &replayed
                    }
                };
                let mut body = Vec::with_capacity(chunk.lines.len() + chunk.lines.len() / 8);
                for unit in units {
                    if let Some(row) = unit.row() {
                        body.extend_from_slice(row);
                    }
                }
                body
            }
        }
    }

    /// The units of events that arrived without them (lines read back from the spool),
    /// replayed from their lines through the same encoder.
    fn replay(&self, chunk: &Chunk) -> Vec<Unit> {
        let mut encoder = UnitEncoder::new(self.clone());
        chunk
            .envelopes()
            .map(|line| match StoredEnvelope::parse(line) {
                Ok(stored) => encoder
                    .encode(|visitor| stored.visit(visitor))
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Unit::unreadable(self, line)),
                Err(_) => Unit::unreadable(self, line),
            })
            .collect()
    }
}

/// One event in a format other than NDJSON, encoded when it arrived, while its typed
/// envelope was at hand.
#[derive(Clone, Debug)]
pub(crate) enum Unit {
    /// A ClickHouse row and its newline.
    Row(Vec<u8>),
    /// An OTLP log record and its resource.
    #[cfg(feature = "otlp")]
    Otlp(otlp::OtlpRecord),
}

impl Unit {
    fn row(&self) -> Option<&[u8]> {
        match self {
            Unit::Row(row) => Some(row),
            #[cfg(feature = "otlp")]
            Unit::Otlp(_) => None,
        }
    }

    /// What a line that is not an envelope becomes: it still travels, for the server to
    /// judge (as a row) or as the record's body (OTLP).
    fn unreadable(format: &HttpFormat, line: &[u8]) -> Unit {
        match format {
            #[cfg(feature = "otlp")]
            HttpFormat::OtlpProtobuf | HttpFormat::OtlpJson => {
                Unit::Otlp(otlp::OtlpRecord::unreadable(line))
            }
            _ => {
                let mut row = line.to_vec();
                row.push(b'\n');
                Unit::Row(row)
            }
        }
    }
}

/// Encodes events into their [`Unit`]s, one at a time, keeping what consecutive events
/// share (an OTLP resource).
pub(crate) struct UnitEncoder {
    format: HttpFormat,
    #[cfg(feature = "otlp")]
    otlp: otlp::OtlpEncoder,
}

impl UnitEncoder {
    pub(crate) fn new(format: HttpFormat) -> Self {
        UnitEncoder {
            format,
            #[cfg(feature = "otlp")]
            otlp: otlp::OtlpEncoder::default(),
        }
    }

    /// The unit of the envelope that `visit` walks; `None` for the formats whose body is
    /// the lines themselves (NDJSON, JSON array).
    pub(crate) fn encode(
        &mut self,
        visit: impl FnOnce(&mut dyn EnvelopeVisitor) -> Result<(), RenderError>,
    ) -> Result<Option<Unit>, RenderError> {
        match self.format {
            HttpFormat::Ndjson | HttpFormat::JsonArray => Ok(None),
            HttpFormat::ClickHouse { .. } => {
                let mut row = clickhouse::Row::default();
                visit(&mut row)?;
                let mut bytes = Vec::with_capacity(512);
                row.finish(&mut bytes);
                Ok(Some(Unit::Row(bytes)))
            }
            #[cfg(feature = "otlp")]
            HttpFormat::OtlpProtobuf | HttpFormat::OtlpJson => {
                let mut visitor = self.otlp.visitor();
                visit(&mut visitor)?;
                Ok(Some(Unit::Otlp(visitor.finish())))
            }
        }
    }
}

/// Gzips `body` at level 1: JSON still shrinks several times over, at a fraction of the
/// default level's CPU. The header carries no timestamp, so the same body always compresses
/// to the same bytes (retries and replays send identical bodies).
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("compressing into a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    /// `body` with the head keys an envelope always has, as one line.
    fn envelope(mut body: serde_json::Value) -> Vec<u8> {
        for (key, value) in [
            ("timestamp", "2026-11-21T10:30:00.123456Z"),
            ("event_id", "0193a6f0-0000-7000-8000-000000000001"),
            ("event_name", "a_b"),
            ("event_type", "business"),
            ("event_version", "1.0"),
            ("level", "INFO"),
        ] {
            if body.get(key).is_none() {
                body[key] = value.into();
            }
        }
        serde_json::to_vec(&body).unwrap()
    }

    fn chunk() -> Chunk {
        let mut chunk = Chunk::new(Uuid::new_v4());
        let first = envelope(serde_json::json!({"metadata":{"x":1},"n":2}));
        let second = envelope(serde_json::json!({"source":{"file":"f"},"tags":[1]}));
        chunk.push(&first, true, None);
        chunk.push(&second, true, None);
        chunk
    }

    #[test]
    fn clickhouse_rows_escape_del_and_c1_controls() {
        for c in '\u{7f}'..='\u{9f}' {
            // As a re-encoded envelope would look to serde_json: these characters raw.
            let envelope = envelope(serde_json::json!({
                "event_name": "a_b",
                "service": format!("s{c}"),
                "metadata": { "note": format!("x{c}y") },
            }));
            let mut chunk = Chunk::new(Uuid::new_v4());
            chunk.push(&envelope, true, None);
            let row = HttpFormat::ClickHouse { table: "t".into() }.encode(&chunk);
            let row = String::from_utf8(row).unwrap();
            assert!(!row.contains(c), "raw {c:?} in {row}");
            assert!(row.contains(&format!("s\\u{:04x}", u32::from(c))), "{row}");
            let back: serde_json::Value = serde_json::from_str(row.trim_end()).unwrap();
            assert_eq!(back["service"], format!("s{c}"));
            // What the column stores: still escaped, and the original once parsed.
            let column = back["metadata"].as_str().unwrap();
            assert!(!column.contains(c), "raw {c:?} in the column {column}");
            let metadata: serde_json::Value = serde_json::from_str(column).unwrap();
            assert_eq!(metadata["note"], format!("x{c}y"));
        }
    }

    #[test]
    fn formats_write_what_their_receivers_read() {
        let chunk = chunk();
        assert_eq!(HttpFormat::Ndjson.encode(&chunk), chunk.lines);
        let array: serde_json::Value =
            serde_json::from_slice(&HttpFormat::JsonArray.encode(&chunk)).unwrap();
        assert_eq!(array.as_array().unwrap().len(), 2);
        let rows = HttpFormat::ClickHouse { table: "t".into() }.encode(&chunk);
        let rows: Vec<serde_json::Value> = rows
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(rows[0]["metadata"], serde_json::json!(r#"{"x":1}"#));
        assert_eq!(rows[0]["n"], serde_json::json!(2));
        assert_eq!(rows[1]["source"], serde_json::json!(r#"{"file":"f"}"#));
        assert_eq!(rows[1]["tags"], serde_json::json!("[1]"));
    }

    #[test]
    fn gzip_is_deterministic() {
        let body = HttpFormat::Ndjson.encode(&chunk());
        assert_eq!(gzip(&body), gzip(&body));
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&gzip(&body)[..]),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, body);
    }

    #[test]
    fn clickhouse_table_names_are_checked() {
        for ok in ["events", "db.events", "_t1"] {
            assert!(
                HttpFormat::ClickHouse { table: ok.into() }
                    .validate()
                    .is_ok(),
                "{ok}"
            );
        }
        for bad in ["", "a b", "x;DROP TABLE y", "a.b.c", "1t", "db."] {
            assert!(
                HttpFormat::ClickHouse { table: bad.into() }
                    .validate()
                    .is_err(),
                "{bad}"
            );
        }
    }
}
