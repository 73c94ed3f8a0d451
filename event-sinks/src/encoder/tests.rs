//! The encoders against the wire files: the bodies and lines written for a fixture of
//! envelopes (every value shape, treatments, resource, context, `http` and `geo`, two
//! layers) must stay byte for byte what they were; and an event visited as typed parts
//! must encode exactly as its NDJSON line replayed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use event_core::envelope::StoredEnvelope;
use event_core::{emit, Batch, Event, EventLayer, Sink, SinkError};
use serde::Serialize;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

use super::pretty::PrettyLine;
use crate::http::chunk::Chunk;
use crate::http::format::{HttpFormat, UnitEncoder};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(format!("{GOLDEN}/{name}")).unwrap_or_else(|err| panic!("{name}: {err}"))
}

fn formats() -> Vec<(&'static str, HttpFormat)> {
    vec![
        ("body.ndjson", HttpFormat::Ndjson),
        ("body.json", HttpFormat::JsonArray),
        (
            "body.clickhouse.ndjson",
            HttpFormat::ClickHouse { table: "t".into() },
        ),
        ("body.otlp.pb", HttpFormat::OtlpProtobuf),
        ("body.otlp.json", HttpFormat::OtlpJson),
    ]
}

fn pretty(visit: impl FnOnce(&mut PrettyLine), colour: bool) -> String {
    let mut line = PrettyLine::new(colour);
    visit(&mut line);
    let mut text = String::new();
    line.finish(&mut text);
    text
}

#[test]
fn stored_envelopes_encode_to_the_wire_files() {
    let fixture = golden("envelopes.ndjson");
    let lines: Vec<&[u8]> = fixture
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    for (name, format) in formats() {
        let mut chunk = Chunk::new(Uuid::new_v4());
        for line in &lines {
            chunk.push(line, true, None);
        }
        // Replayed from the lines, as after a restart.
        assert!(
            format.encode(&chunk) == golden(name),
            "{name} differs (replayed)"
        );
        // Encoded as each event arrived.
        let mut units = UnitEncoder::new(format.clone());
        let mut encoded = Chunk::new(Uuid::new_v4());
        for line in &lines {
            let stored = StoredEnvelope::parse(line).unwrap();
            let unit = units.encode(|visitor| stored.visit(visitor)).unwrap();
            encoded.push(line, true, unit);
        }
        assert!(
            format.encode(&encoded) == golden(name),
            "{name} differs (units)"
        );
    }
    for (name, colour) in [("pretty.txt", false), ("pretty.colour.txt", true)] {
        let mut text = String::new();
        for line in &lines {
            let stored = StoredEnvelope::parse(line).unwrap();
            text += &pretty(|p| stored.visit(p).unwrap(), colour);
            text.push('\n');
        }
        assert_eq!(text.as_bytes(), golden(name), "{name}");
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct Inner {
    zeta: u8,
    alpha: &'static str,
    middle: Vec<Option<i32>>,
}

#[derive(Serialize, schemars::JsonSchema)]
enum Shape {
    Dot,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Pair(i8, i8),
}

/// Every kind of value a payload can hold (the fixture's own event).
#[derive(Event)]
#[event(kind = "business", version = "2.3")]
struct ValueZoo {
    user_id: String,
    text: String,
    small: u8,
    negative: i64,
    big: u64,
    huge: u128,
    very_negative: i128,
    ratio: f64,
    single: f32,
    not_a_number: f64,
    yes: bool,
    absent: Option<String>,
    present: Option<u16>,
    list: Vec<u32>,
    map: BTreeMap<String, i32>,
    int_keys: BTreeMap<u32, &'static str>,
    inner: Inner,
    shapes: Vec<Shape>,
    pair: (i32, String),
    letter: char,
    unit: (),
    #[event(redact)]
    password: String,
    #[event(mask)]
    card: String,
    #[event(hash)]
    email: String,
    host: String,
    event_id: String,
}

/// JSON text kept as it is (`serde_json`'s `RawValue`).
#[derive(Serialize)]
struct Raw(Box<serde_json::value::RawValue>);

impl schemars::JsonSchema for Raw {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Raw".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({})
    }
}

/// An event carrying raw JSON.
#[derive(Event)]
#[event(kind = "system_event")]
struct RawCarried {
    raw: Raw,
}

/// A plain one.
#[derive(Event)]
#[event(kind = "system_event")]
struct CacheWarmed {
    entries: u64,
    session_id: Option<String>,
}

fn zoo() -> ValueZoo {
    ValueZoo {
        user_id: "u-42".into(),
        text: "quote \" backslash \\ newline \n del \u{7f} c1 \u{85} esc \u{1b}[31m é 😀".into(),
        small: 7,
        negative: -9_000_000_000,
        big: u64::MAX,
        huge: u128::MAX,
        very_negative: i128::MIN,
        ratio: 0.1,
        single: 0.1,
        not_a_number: f64::NAN,
        yes: true,
        absent: None,
        present: Some(443),
        list: vec![1, 2, 3],
        map: BTreeMap::from([("b".into(), 2), ("a".into(), -1)]),
        int_keys: BTreeMap::from([(10, "ten"), (2, "two")]),
        inner: Inner {
            zeta: 1,
            alpha: "first",
            middle: vec![Some(1), None],
        },
        shapes: vec![
            Shape::Dot,
            Shape::Circle(1.5),
            Shape::Rect { w: 2, h: 3 },
            Shape::Pair(-1, 1),
        ],
        pair: (5, "five".into()),
        letter: 'λ',
        unit: (),
        password: "hunter2".into(),
        card: "4111111111111111".into(),
        email: "ada@example.com".into(),
        host: "payload-host".into(),
        event_id: "shadow".into(),
    }
}

/// Maps in maps, `levels` deep (the deepest shape for OTLP, 3 messages a level).
#[derive(schemars::JsonSchema)]
struct Maps(u32);

impl Serialize for Maps {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.0 == 0 {
            return serializer.serialize_str("bottom");
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("in", &Maps(self.0 - 1))?;
        map.end()
    }
}

/// A value as deep as any event may hold.
#[derive(Event)]
#[event(kind = "business")]
struct DeepDocument {
    doc: Maps,
}

/// An error with a source.
#[derive(Debug)]
struct Wrapped(std::io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sync of \"ledger\" failed")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error field, written in full: OTLP writes it as `exception.*`, from the typed event
/// and, through the catalog, from its line replayed.
#[derive(Event)]
#[event(kind = "error")]
struct SyncFailed {
    attempt: u32,
    #[event(error)]
    error: Wrapped,
    /// A second error: an attribute of its own in OTLP.
    #[event(error)]
    cleanup: Option<std::io::Error>,
}

/// An error field with its messages redacted.
#[derive(Event)]
#[event(kind = "error")]
struct SyncFailedQuietly {
    #[event(error(redact_message))]
    error: Box<dyn std::error::Error + Send + Sync>,
}

/// For each event: every format's body and both pretty lines, from the typed envelope and
/// from its line replayed; they must be equal.
#[derive(Clone, Default)]
struct Compare {
    checked: Arc<Mutex<Vec<String>>>,
}

impl Sink for Compare {
    fn name(&self) -> String {
        "compare".into()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        for event in batch.iter() {
            let stored = StoredEnvelope::parse(event.json()).expect("a line of ours");
            for (name, format) in formats() {
                let mut typed = UnitEncoder::new(format.clone());
                let mut typed_chunk = Chunk::new(Uuid::new_v4());
                let unit = typed
                    .encode(|visitor| event.envelope().visit(visitor))
                    .expect("the typed envelope encodes");
                typed_chunk.push(event.json(), true, unit);
                let mut replayed = Chunk::new(Uuid::new_v4());
                replayed.push(event.json(), true, None);
                assert!(
                    format.encode(&typed_chunk) == format.encode(&replayed),
                    "{name} of {} differs typed and replayed",
                    event.name()
                );
            }
            for colour in [false, true] {
                assert_eq!(
                    pretty(|p| event.envelope().visit(p).unwrap(), colour),
                    pretty(|p| stored.visit(p).unwrap(), colour)
                );
            }
            self.checked.lock().unwrap().push(event.name().to_owned());
        }
        Ok(())
    }
}

#[test]
fn typed_envelopes_encode_as_their_lines_replayed() {
    let sink = Compare::default();
    let (layer, guard) = EventLayer::builder()
        .service("checkout")
        .service_version("1.4.2")
        .environment("prod")
        .region("eu-west-1")
        .host("web-1")
        .hash_key("k1", b"an example key of at least 32 bytes!")
        .context_field("tenant")
        .sink(sink.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(zoo());
        let request = tracing::span!(
            target: "event_core::http", tracing::Level::INFO, "http_request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", span_id = "00f067aa0ba902b7",
            request_id = "r-1", tenant = "acme",
            http.method = "POST", http.route = "/login", http.status = 401u64,
            http.client_ip = "203.0.113.0", http.user_agent = "curl/8 \u{1b}[2J",
            http.latency_ms = 12.5f64,
            geo.country_iso_code = "DE", geo.city = "Berlin", geo.time_zone = "Europe/Berlin"
        );
        request.in_scope(|| {
            emit!(zoo());
            emit!(
                level = tracing::Level::ERROR,
                CacheWarmed {
                    entries: 0,
                    session_id: Some("s-9".into())
                }
            );
        });
        let odd = tracing::info_span!(
            "job",
            trace_id = "req-42",
            span_id = "00f067aa0ba902b7",
            user_id = 17u64
        );
        odd.in_scope(|| {
            emit!(CacheWarmed {
                entries: 3,
                session_id: None
            })
        });
        let raw = serde_json::value::RawValue::from_string(r#"{"b":[1,2.5],"a":null}"#.into());
        emit!(RawCarried {
            raw: Raw(raw.unwrap())
        });
        emit!(SyncFailed {
            attempt: 2,
            error: Wrapped(std::io::Error::other("connection reset")),
            cleanup: Some(std::io::Error::other("lock file left behind")),
        });
        emit!(SyncFailedQuietly {
            error: Box::new(Wrapped(std::io::Error::other("connection reset"))),
        });
        // Every format takes a value at the nesting bound, without panicking.
        emit!(DeepDocument {
            doc: Maps(event_core::MAX_NESTING as u32)
        });
    });
    assert!(guard
        .flush(std::time::Duration::from_secs(10))
        .is_complete());
    let checked = sink.checked.lock().unwrap().clone();
    assert_eq!(
        checked,
        [
            "value_zoo",
            "value_zoo",
            "cache_warmed",
            "cache_warmed",
            "raw_carried",
            "sync_failed",
            "sync_failed_quietly",
            "deep_document"
        ]
    );
    let stats = guard.stats();
    assert_eq!(stats.sinks[0].delivered, 8, "{stats:?}");
}
