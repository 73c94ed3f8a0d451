//! `HttpSink`'s OTLP/HTTP formats: the bodies decode with the
//! `opentelemetry-proto` types into one `LogRecord` per event whose name, time, severity, ids,
//! resource and attributes say exactly what the envelope says; partial successes are counted,
//! never retried.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use event_core::{emit, Event, EventGuard, EventLayer, SinkStats};
use event_sinks::{HttpFormat, HttpSink, MemorySink, Retry};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{json, Value};
use support::http_server::{Fault, FaultServer};
use support::ImportError;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

/// A card payment was declined.
#[derive(Event)]
#[event(kind = "security", version = 2)]
struct PaymentDeclined {
    /// Its number, in emission order.
    n: u64,
    /// Signed, and large.
    amount_cents: i64,
    /// A float.
    ratio: f64,
    /// A bool.
    retried: bool,
    /// A string.
    currency: String,
    /// An array.
    tags: Vec<String>,
    /// Never to be seen outside.
    #[event(redact)]
    card: String,
    /// Absent when `None`.
    note: Option<String>,
}

const CANARY: &str = "4111-canary-1111";

/// Emits `count` events inside a span with trace context, to `sink` and to a `MemorySink`
/// that keeps the envelopes as emitted.
fn emit_through(sink: HttpSink, count: u64) -> (EventGuard, Vec<Value>) {
    let memory = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .service("checkout")
        .service_version("1.4.2")
        .environment("prod")
        .host("web-1")
        .sink(sink)
        .sink(memory.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            request_id = "req-1"
        );
        let _entered = span.enter();
        for n in 0..count {
            emit!(PaymentDeclined {
                n,
                amount_cents: -9_007_199_254_740_993 - n as i64,
                ratio: 0.25 + n as f64,
                retried: n % 2 == 0,
                currency: "EUR".into(),
                tags: vec!["a".into(), format!("t{n}")],
                card: CANARY.into(),
                note: (n % 3 == 0).then(|| "first".to_owned()),
            });
        }
    });
    assert!(guard.flush(FLUSH).is_complete());
    (guard, memory.events())
}

fn sink(url: &str, format: HttpFormat) -> event_sinks::HttpSinkBuilder {
    HttpSink::builder(url)
        .format(format)
        .max_events(40)
        .linger(Duration::from_millis(5))
        .retry(Retry {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(1),
        })
}

fn stats(guard: &EventGuard) -> SinkStats {
    let stats = guard.stats().sink("http").unwrap().clone();
    assert!(stats.is_conserved(), "conservation broken: {stats:?}");
    assert_eq!(stats.pending, 0, "{stats:?}");
    stats
}

/// An OTLP value as the JSON the envelope holds.
fn json_of(value: &AnyValue) -> Value {
    match value.value.as_ref().expect("a set value") {
        Any::StringValue(s) => json!(s),
        Any::BoolValue(b) => json!(b),
        Any::IntValue(i) => json!(i),
        Any::DoubleValue(d) => json!(d),
        Any::ArrayValue(items) => Value::Array(items.values.iter().map(json_of).collect()),
        Any::KvlistValue(list) => Value::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), json_of(kv.value.as_ref().unwrap())))
                .collect(),
        ),
        other => panic!("only JSON-like values are written, not {other:?}"),
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, Value> {
    let map: BTreeMap<String, Value> = list
        .iter()
        .map(|kv| (kv.key.clone(), json_of(kv.value.as_ref().unwrap())))
        .collect();
    assert_eq!(map.len(), list.len(), "attribute keys are unique");
    map
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Checks every record against the envelope with its `event_id`, field by field.
fn assert_records_match(requests: &[ExportLogsServiceRequest], emitted: &[Value]) {
    let mut records: BTreeMap<String, (BTreeMap<String, Value>, &LogRecord)> = BTreeMap::new();
    for request in requests {
        for resource_logs in &request.resource_logs {
            let resource = attributes(&resource_logs.resource.as_ref().unwrap().attributes);
            assert_eq!(
                resource,
                BTreeMap::from([
                    ("service.name".to_owned(), json!("checkout")),
                    ("service.version".to_owned(), json!("1.4.2")),
                    ("deployment.environment.name".to_owned(), json!("prod")),
                    ("host.name".to_owned(), json!("web-1")),
                ])
            );
            for record in resource_logs
                .scope_logs
                .iter()
                .flat_map(|scope| &scope.log_records)
            {
                let attrs = attributes(&record.attributes);
                let id = attrs["event_id"].as_str().unwrap().to_owned();
                assert!(
                    records.insert(id, (attrs, record)).is_none(),
                    "one record per event"
                );
            }
        }
    }
    assert_eq!(records.len(), emitted.len());
    for envelope in emitted {
        let (attrs, record) = &records[envelope["event_id"].as_str().unwrap()];
        assert_eq!(record.event_name, envelope["event_name"].as_str().unwrap());
        assert_eq!(record.event_name, "payment_declined");
        let at = humantime::parse_rfc3339(envelope["timestamp"].as_str().unwrap()).unwrap();
        let nanos = at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert_eq!(record.time_unix_nano, nanos);
        assert_eq!(record.observed_time_unix_nano, nanos);
        assert_eq!(record.severity_text, envelope["level"].as_str().unwrap());
        assert_eq!(record.severity_number, 13, "WARN is SEVERITY_NUMBER_WARN");
        assert_eq!(record.trace_id, hex(envelope["trace_id"].as_str().unwrap()));
        assert_eq!(record.span_id, hex(envelope["span_id"].as_str().unwrap()));
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.span_id.len(), 8);
        // Every other envelope key is an attribute, nested objects flattened, metadata
        // fields under their own names.
        let mut expected = BTreeMap::new();
        for (key, value) in envelope.as_object().unwrap() {
            match key.as_str() {
                "timestamp" | "event_name" | "level" | "trace_id" | "span_id" | "service"
                | "service_version" | "environment" | "host" => {}
                "metadata" => expected.extend(
                    value
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                ),
                _ => match value {
                    Value::Object(inner) => expected
                        .extend(inner.iter().map(|(k, v)| (format!("{key}.{k}"), v.clone()))),
                    _ => {
                        expected.insert(key.clone(), value.clone());
                    }
                },
            }
        }
        assert_eq!(attrs, &expected);
        for key in [
            "request_id",
            "event_type",
            "event_version",
            "source.line",
            "n",
        ] {
            assert!(attrs.contains_key(key), "{key} is carried");
        }
        assert!(!format!("{attrs:?}").contains(CANARY));
    }
}

#[test]
fn otlp_protobuf_decodes_into_the_records_that_were_emitted() {
    let server = FaultServer::start();
    let url = format!("http://{}", server.addr);
    let (guard, emitted) = emit_through(sink(&url, HttpFormat::OtlpProtobuf).build().unwrap(), 100);
    let stats = stats(&guard);
    assert_eq!(stats.delivered, 100);
    let requests = server.requests();
    assert!(requests.len() >= 3, "batches of at most 40");
    let decoded: Vec<ExportLogsServiceRequest> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/v1/logs", "a URL without a path gets /v1/logs");
            assert_eq!(r.content_type, "application/x-protobuf");
            assert!(!r.body.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
            ExportLogsServiceRequest::decode(&r.body[..]).expect("an OTLP protobuf body")
        })
        .collect();
    assert_records_match(&decoded, &emitted);
}

#[test]
fn otlp_json_writes_hex_ids_and_string_integers_and_decodes_exactly() {
    let server = FaultServer::start();
    let url = format!("{}/otel/v1/logs", server.url());
    let (guard, emitted) = emit_through(sink(&url, HttpFormat::OtlpJson).build().unwrap(), 100);
    assert_eq!(stats(&guard).delivered, 100);
    let requests = server.requests();
    let mut decoded = Vec::new();
    for request in &requests {
        assert_eq!(request.path, "/ingest/otel/v1/logs", "a given path is kept");
        assert_eq!(request.content_type, "application/json");
        // As the OTLP JSON mapping says: ids are lowercase hex, not base64; 64-bit integers
        // (times, int values) are strings.
        let raw: Value = serde_json::from_slice(&request.body).unwrap();
        for record in raw["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .unwrap()
        {
            assert_eq!(record["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(record["spanId"], "00f067aa0ba902b7");
            assert!(record["timeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .is_ok());
            assert_eq!(record["timeUnixNano"], record["observedTimeUnixNano"]);
            assert_eq!(record["severityNumber"], 13, "enums are numbers");
            assert_eq!(record["severityText"], "WARN");
            assert!(record.get("body").is_none(), "unset fields are left out");
            assert_eq!(record["eventName"], "payment_declined");
            let amount = record["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|kv| kv["key"] == "amount_cents")
                .unwrap();
            // Beyond what a JSON number read as a double keeps exactly.
            let amount: i64 = amount["value"]["intValue"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(amount < -(1 << 53), "{amount}");
        }
        decoded.push(
            serde_json::from_slice::<ExportLogsServiceRequest>(&request.body)
                .expect("the opentelemetry-proto JSON decoder reads it"),
        );
    }
    assert_records_match(&decoded, &emitted);
}

fn answer(rejected: i64, message: &str) -> Vec<u8> {
    ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: message.into(),
        }),
    }
    .encode_to_vec()
}

fn dead_letters(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_partial_success_counts_the_rejected_records_dead_lettered_and_is_not_retried() {
    // Protobuf: 2 of 10 rejected.
    let server = FaultServer::start();
    server.script([Fault::Answer(
        200,
        "application/x-protobuf",
        answer(2, "2 records too large"),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    // Batches of exactly 10: a long linger, so a pause while emitting cannot seal one early.
    let built = sink(&server.url(), HttpFormat::OtlpProtobuf)
        .max_events(10)
        .linger(Duration::from_secs(60))
        .dead_letter(&dead)
        .build()
        .unwrap();
    let (guard, _) = emit_through(built, 10);
    let counted = stats(&guard);
    assert_eq!(server.requests().len(), 1, "never retried");
    assert_eq!(
        (counted.delivered, counted.dead_lettered, counted.retried),
        (8, 2, 0)
    );
    let lines = dead_letters(&dead);
    assert_eq!(
        lines.len(),
        10,
        "the whole batch, as the answer does not say which"
    );
    assert_eq!(lines[0]["status"], 200);
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(reason.contains("rejected 2 of 10"), "{reason}");
    assert_eq!(lines[0]["answer"], "2 records too large");

    // OTLP/JSON, as the Collector writes it (int64 as a string): all rejected; then a
    // warning only, which is a full success.
    let server = FaultServer::start();
    server.script([
        Fault::Answer(
            200,
            "application/json",
            br#"{"partialSuccess":{"rejectedLogRecords":"10","errorMessage":"no"}}"#.to_vec(),
        ),
        Fault::Answer(
            200,
            "application/json",
            br#"{"partialSuccess":{"errorMessage":"slow down"}}"#.to_vec(),
        ),
    ]);
    // A file of its own: the first sink still holds its dead-letter file.
    let built = sink(&server.url(), HttpFormat::OtlpJson)
        .max_events(10)
        .linger(Duration::from_secs(60))
        .concurrency(1)
        .dead_letter(dir.path().join("dead-json.ndjson"))
        .build()
        .unwrap();
    let (guard, _) = emit_through(built, 20);
    let counted = stats(&guard);
    assert_eq!(server.requests().len(), 2);
    assert_eq!((counted.delivered, counted.dead_lettered), (10, 10));
    assert!(counted.last_error.unwrap().contains("slow down"));
}

#[test]
fn a_warning_in_a_full_success_is_shown_but_never_says_the_sink_is_failing() {
    let server = FaultServer::start();
    server.script([Fault::Answer(
        200,
        "application/x-protobuf",
        answer(0, "slow down"),
    )]);
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heard = std::sync::Arc::clone(&told);
    let built = sink(&server.url(), HttpFormat::OtlpProtobuf)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder()
        .sink(built)
        .on_diagnostic(move |d| heard.lock().unwrap().push(d.kind()))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(PaymentDeclined {
            n: 0,
            amount_cents: 1,
            ratio: 0.5,
            retried: false,
            currency: "EUR".into(),
            tags: vec![],
            card: CANARY.into(),
            note: None,
        });
    });
    assert!(guard.flush(Duration::from_secs(30)).is_complete());
    let counted = stats(&guard);
    assert_eq!((counted.delivered, counted.retried), (1, 0));
    assert!(counted.last_error.unwrap().contains("slow down"));
    assert!(
        told.lock().unwrap().is_empty(),
        "{:?}",
        told.lock().unwrap()
    );
}

/// An import failed.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailed {
    job: u32,
    #[event(error)]
    error: ImportError,
}

/// An import failed; its messages may quote the user's data. Undoing it failed too.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailedQuietly {
    #[event(error(redact_message))]
    error: ImportError,
    #[event(error)]
    rollback_error: std::io::Error,
}

fn import_error() -> ImportError {
    ImportError(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such file: /home/canary/contacts.csv",
    ))
}

#[test]
fn error_fields_become_the_exception_attributes() {
    for format in [HttpFormat::OtlpProtobuf, HttpFormat::OtlpJson] {
        let server = FaultServer::start();
        let memory = MemorySink::new();
        let (layer, guard) = EventLayer::builder()
            .sink(sink(&server.url(), format.clone()).build().unwrap())
            .sink(memory.clone())
            .build()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            emit!(ImportFailed {
                job: 7,
                error: import_error(),
            });
            emit!(ImportFailedQuietly {
                error: import_error(),
                rollback_error: std::io::Error::other("rollback: disk full"),
            });
        });
        assert!(guard.flush(FLUSH).is_complete());
        assert_eq!(stats(&guard).delivered, 2);
        let mut records = Vec::new();
        for request in server.requests() {
            let decoded = match format {
                HttpFormat::OtlpProtobuf => ExportLogsServiceRequest::decode(&request.body[..])
                    .expect("an OTLP protobuf body"),
                _ => serde_json::from_slice(&request.body).expect("an OTLP/JSON body"),
            };
            for resource_logs in decoded.resource_logs {
                for scope in resource_logs.scope_logs {
                    records.extend(scope.log_records);
                }
            }
        }
        assert_eq!(records.len(), 2, "{format:?}");
        let loud = attributes(&records[0].attributes);
        assert_eq!(records[0].event_name, "import_failed");
        assert_eq!(records[0].severity_text, "ERROR");
        assert_eq!(loud["exception.type"], std::any::type_name::<ImportError>());
        assert_eq!(loud["exception.message"], "import of contacts.csv failed");
        assert_eq!(
            loud["exception.chain"],
            json!(["no such file: /home/canary/contacts.csv"])
        );
        assert_eq!(loud["job"], 7);
        assert!(!loud.contains_key("error"), "written once, as exception.*");
        // The envelope the other sinks write holds the same error, under its key.
        let envelope = &memory.events()[0]["metadata"]["error"];
        assert_eq!(envelope["type"], loud["exception.type"]);
        assert_eq!(envelope["message"], loud["exception.message"]);
        assert_eq!(envelope["chain"], loud["exception.chain"]);

        let quiet = attributes(&records[1].attributes);
        assert_eq!(
            quiet["exception.type"],
            std::any::type_name::<ImportError>()
        );
        assert!(!quiet.contains_key("exception.message"));
        assert_eq!(quiet["exception.chain"], json!(["std::io::error::Error"]));
        assert!(!format!("{quiet:?}").contains("canary"));
        // The first error field is the exception; another is an attribute of its own.
        assert_eq!(
            quiet["rollback_error"],
            json!({"type": "std::io::error::Error", "message": "rollback: disk full", "chain": []})
        );
        let keys: Vec<&str> = quiet
            .keys()
            .map(String::as_str)
            .filter(|key| !key.starts_with("source."))
            .collect();
        assert_eq!(
            keys,
            [
                "event_id",
                "event_type",
                "event_version",
                "exception.chain",
                "exception.type",
                "rollback_error"
            ]
        );
    }
}
