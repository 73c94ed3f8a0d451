//! OTLP/HTTP logs: one `LogRecord` per envelope, built with the
//! `opentelemetry-proto` types, encoded as protobuf or as OTLP/JSON.
//!
//! The mapping (also in the README):
//! - `timestamp` → `time_unix_nano` and `observed_time_unix_nano` (the pipeline observed the
//!   event when it was emitted; a fixed value keeps retried bodies byte-identical);
//! - `event_name` → `event_name`; `level` → `severity_number` and `severity_text`;
//! - `trace_id` (32 hex digits) / `span_id` (16 hex digits) → the record's id bytes; ids in any
//!   other shape stay attributes, as strings;
//! - `service`, `service_version`, `environment`, `region`, `host` → the resource attributes
//!   `service.name`, `service.version`, `deployment.environment.name`, `cloud.region`,
//!   `host.name`; consecutive events with the same values share one `ResourceLogs`;
//! - every other envelope key → an attribute of the same name, nested objects flattened with
//!   `.` (`source.file`, `http.route`);
//! - `metadata` fields → attributes under their own names (`metadata.<name>` when the name is
//!   already taken by an envelope attribute); objects become `kvlist_value`, arrays
//!   `array_value`, integers `int_value` (above `i64::MAX`: `string_value`, exact).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

/// Envelope keys that describe the emitting service, with their resource attribute names
/// (OpenTelemetry semantic conventions).
const RESOURCE_KEYS: [(&str, &str); 5] = [
    ("service", "service.name"),
    ("service_version", "service.version"),
    ("environment", "deployment.environment.name"),
    ("region", "cloud.region"),
    ("host", "host.name"),
];

/// The export request for a batch of envelopes.
pub(crate) fn request<'a>(envelopes: impl Iterator<Item = &'a [u8]>) -> ExportLogsServiceRequest {
    let mut groups: Vec<(Vec<KeyValue>, Vec<LogRecord>)> = Vec::new();
    for envelope in envelopes {
        let (resource, record) = match serde_json::from_slice::<Envelope>(envelope) {
            Ok(mut envelope) => {
                let resource = RESOURCE_KEYS
                    .iter()
                    .filter_map(|&(key, name)| {
                        Some(key_value(name, take_value(&mut envelope.fields, key)?))
                    })
                    .collect();
                (resource, log_record(envelope))
            }
            // Envelopes are JSON objects; should one not be, it still travels, as the body.
            Err(_) => (
                Vec::new(),
                LogRecord {
                    body: Some(string(String::from_utf8_lossy(envelope).into_owned())),
                    ..LogRecord::default()
                },
            ),
        };
        match groups.last_mut() {
            Some((attributes, records)) if *attributes == resource => records.push(record),
            _ => groups.push((resource, vec![record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(attributes, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes,
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: env!("CARGO_PKG_NAME").into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..InstrumentationScope::default()
                    }),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// An envelope's members in their order, `metadata`'s apart, so attributes come in the
/// envelope's order and metadata fields in their struct's (a `serde_json::Map` would sort
/// them by name).
#[derive(Default)]
struct Envelope {
    fields: Vec<(String, Value)>,
    metadata: Vec<(String, Value)>,
}

impl<'de> serde::Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Envelope, D::Error> {
        deserializer.deserialize_map(Members { top_level: true })
    }
}

/// Reads an object's members; at the top level, `metadata`'s members are read too.
struct Members {
    top_level: bool,
}

impl<'de> serde::de::Visitor<'de> for Members {
    type Value = Envelope;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope::default();
        envelope.fields.reserve(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<String>()? {
            if self.top_level && key == "metadata" {
                envelope.metadata = map.next_value_seed(Members { top_level: false })?.fields;
            } else {
                envelope.fields.push((key, map.next_value()?));
            }
        }
        Ok(envelope)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Members {
    type Value = Envelope;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Envelope, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// How OTLP travels: binary protobuf, or OTLP/JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

/// The body for a batch: binary protobuf, or OTLP/JSON (ids as hex, 64-bit integers as
/// strings, as the OTLP specification's JSON mapping says).
pub(crate) fn encode<'a>(envelopes: impl Iterator<Item = &'a [u8]>, encoding: Encoding) -> Vec<u8> {
    let request = request(envelopes);
    if encoding == Encoding::Json {
        let mut value = serde_json::to_value(&request).expect("an OTLP request always serializes");
        drop_empty(&mut value);
        let mut body = Vec::new();
        event_core::write_json(&mut body, &value).expect("a JSON value always serializes");
        body
    } else {
        request.encode_to_vec()
    }
}

/// Removes what the crate's serde writes for unset fields but a strict reader may refuse:
/// `"body": null` and empty `traceId` / `spanId` (an absent field is the spec's way to say
/// "not set").
fn drop_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, value| {
                !(value.is_null() || (matches!(key.as_str(), "traceId" | "spanId") && value == ""))
            });
            map.values_mut().for_each(drop_empty);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

/// What a 2xx answer says it rejected: `(rejected_log_records, error_message)` when the
/// answer carries a partial success with either set. An answer that does not decode is
/// taken as full success, which is what a plain `200 OK` means.
pub(crate) fn partial_success(answer: &[u8], encoding: Encoding) -> Option<(u64, String)> {
    if answer.is_empty() {
        return None;
    }
    let (rejected, message) = if encoding == Encoding::Json {
        json_partial_success(answer)?
    } else {
        let partial = ExportLogsServiceResponse::decode(answer)
            .ok()?
            .partial_success?;
        (partial.rejected_log_records, partial.error_message)
    };
    let rejected = u64::try_from(rejected).unwrap_or(0);
    (rejected > 0 || !message.is_empty()).then(|| (rejected, clip(message)))
}

/// The server's message, at most 512 bytes of it: it goes into `last_error` and onto every
/// line of the dead-letter file.
fn clip(mut message: String) -> String {
    if message.len() > 512 {
        let mut end = 512;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

/// Reads an OTLP/JSON export response by hand: the crate's serde derive wants
/// `rejectedLogRecords` as a JSON number, but the OTLP JSON mapping writes 64-bit integers as
/// strings (`"rejectedLogRecords":"2"`, what the Collector sends), so it would miss every
/// partial success. Both spellings of the keys and both forms of the number are read.
fn json_partial_success(answer: &[u8]) -> Option<(i64, String)> {
    let response: Value = serde_json::from_slice(answer).ok()?;
    let partial = response
        .get("partialSuccess")
        .or_else(|| response.get("partial_success"))?;
    let rejected = match partial
        .get("rejectedLogRecords")
        .or_else(|| partial.get("rejected_log_records"))
    {
        Some(Value::String(text)) => text.parse().ok()?,
        Some(Value::Number(number)) => number.as_i64()?,
        _ => 0,
    };
    let message = partial
        .get("errorMessage")
        .or_else(|| partial.get("error_message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((rejected, message))
}

fn log_record(envelope: Envelope) -> LogRecord {
    let Envelope {
        mut fields,
        metadata,
    } = envelope;
    let mut record = LogRecord::default();
    if let Some(nanos) = take(&mut fields, "timestamp", unix_nanos) {
        record.time_unix_nano = nanos;
        record.observed_time_unix_nano = nanos;
    }
    if let Some(name) = take(&mut fields, "event_name", |name| Some(name.to_owned())) {
        record.event_name = name;
    }
    if let Some(level) = take(&mut fields, "level", |level| Some(level.to_owned())) {
        record.severity_number = severity(&level) as i32;
        record.severity_text = level;
    }
    if let Some(id) = take(&mut fields, "trace_id", hex_id::<16>) {
        record.trace_id = id;
        // A span id means something only with its trace's id (OTLP: SHOULD come together).
        if let Some(id) = take(&mut fields, "span_id", hex_id::<8>) {
            record.span_id = id;
        }
    }
    let attributes = &mut record.attributes;
    attributes.reserve(fields.len() + metadata.len() + 4);
    for (key, value) in fields {
        match value {
            Value::Object(inner) => {
                for (name, value) in inner {
                    attributes.push(key_value(format!("{key}.{name}"), value));
                }
            }
            value => attributes.push(key_value(key, value)),
        }
    }
    let envelope_attributes = attributes.len();
    for (name, value) in metadata {
        let key = if attributes[..envelope_attributes]
            .iter()
            .any(|kv| kv.key == name)
        {
            format!("metadata.{name}")
        } else {
            name
        };
        attributes.push(key_value(key, value));
    }
    record
}

/// Removes and returns the member `key`.
fn take_value(fields: &mut Vec<(String, Value)>, key: &str) -> Option<Value> {
    let at = fields.iter().position(|(k, _)| k == key)?;
    Some(fields.remove(at).1)
}

/// Removes `key` when it is a string that `parse` accepts; otherwise it stays (and becomes an
/// attribute).
fn take<T>(
    fields: &mut Vec<(String, Value)>,
    key: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let at = fields.iter().position(|(k, _)| k == key)?;
    let parsed = parse(fields[at].1.as_str()?)?;
    fields.remove(at);
    Some(parsed)
}

fn unix_nanos(timestamp: &str) -> Option<u64> {
    let at: SystemTime = humantime::parse_rfc3339(timestamp).ok()?;
    u64::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()
}

/// An id of `N` bytes written as `2N` hex digits, not all zero (OTLP's "invalid" id).
fn hex_id<const N: usize>(text: &str) -> Option<Vec<u8>> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = (0..N)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    bytes.iter().any(|&b| b != 0).then_some(bytes)
}

fn severity(level: &str) -> SeverityNumber {
    match level {
        "TRACE" => SeverityNumber::Trace,
        "DEBUG" => SeverityNumber::Debug,
        "INFO" => SeverityNumber::Info,
        "WARN" => SeverityNumber::Warn,
        "ERROR" => SeverityNumber::Error,
        _ => SeverityNumber::Unspecified,
    }
}

fn key_value(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(any_value(value)),
        ..KeyValue::default()
    }
}

fn string(text: String) -> AnyValue {
    AnyValue {
        value: Some(Any::StringValue(text)),
    }
}

fn any_value(value: Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(Any::BoolValue(b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Any::IntValue(i),
            // Above i64::MAX: a double would round it; the digits stay exact.
            (None, Some(u)) => Any::StringValue(u.to_string()),
            (None, None) => Any::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => return string(s),
        Value::Array(items) => Some(Any::ArrayValue(ArrayValue {
            values: items.into_iter().map(any_value).collect(),
        })),
        Value::Object(map) => Some(Any::KvlistValue(KeyValueList {
            values: map.into_iter().map(|(k, v)| key_value(k, v)).collect(),
        })),
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVELOPE: &str = r#"{"timestamp":"2026-11-21T10:30:00.123456Z","event_id":"0193a6f0-0000-7000-8000-000000000001","event_name":"user_login","event_type":"security","event_version":"1.1","level":"WARN","service":"checkout","environment":"prod","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_id":"u1","source":{"module":"app","line":7},"metadata":{"attempts":3,"big":18446744073709551615,"ok":false,"event_id":"shadow","tags":["a"],"ratio":0.5}}"#;

    #[test]
    fn otlp_json_escapes_del_and_c1_controls() {
        for c in '\u{7f}'..='\u{9f}' {
            let envelope = serde_json::to_vec(&serde_json::json!({
                "timestamp": "2026-11-21T10:30:00.123456Z",
                "event_name": "user_login",
                "service": format!("s{c}"),
                "metadata": { "note": format!("x{c}y") },
            }))
            .unwrap();
            let body = encode(std::iter::once(&envelope[..]), Encoding::Json);
            let body = String::from_utf8(body).unwrap();
            assert!(!body.contains(c), "raw {c:?} in {body}");
            assert!(
                body.contains(&format!("x\\u{:04x}y", u32::from(c))),
                "{body}"
            );
            let request: ExportLogsServiceRequest = serde_json::from_str(&body).unwrap();
            let record = &request.resource_logs[0].scope_logs[0].log_records[0];
            assert_eq!(
                attribute(&record.attributes, "note"),
                &Any::StringValue(format!("x{c}y"))
            );
        }
    }

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> &'a Any {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .unwrap_or_else(|| panic!("no attribute {key}"))
    }

    #[test]
    fn an_envelope_becomes_one_log_record() {
        let request = request(std::iter::once(ENVELOPE.as_bytes()));
        let resource = &request.resource_logs[0];
        let resource_attributes = &resource.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attribute(resource_attributes, "service.name"),
            &Any::StringValue("checkout".into())
        );
        assert_eq!(
            attribute(resource_attributes, "deployment.environment.name"),
            &Any::StringValue("prod".into())
        );
        let record = &resource.scope_logs[0].log_records[0];
        assert_eq!(record.event_name, "user_login");
        assert_eq!(record.time_unix_nano, 1_795_257_000_123_456_000);
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(
            record.span_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        let attributes = &record.attributes;
        assert_eq!(
            attribute(attributes, "event_id"),
            &Any::StringValue("0193a6f0-0000-7000-8000-000000000001".into())
        );
        assert_eq!(
            attribute(attributes, "metadata.event_id"),
            &Any::StringValue("shadow".into())
        );
        assert_eq!(attribute(attributes, "source.line"), &Any::IntValue(7));
        assert_eq!(attribute(attributes, "attempts"), &Any::IntValue(3));
        assert_eq!(
            attribute(attributes, "big"),
            &Any::StringValue("18446744073709551615".into())
        );
        assert_eq!(attribute(attributes, "ratio"), &Any::DoubleValue(0.5));
        assert!(attributes
            .iter()
            .all(|kv| kv.key != "trace_id" && kv.key != "timestamp" && kv.key != "service"));
    }

    #[test]
    fn ids_in_other_shapes_stay_attributes() {
        let request = request(std::iter::once(
            &br#"{"trace_id":"req-42","span_id":"00f067aa0ba902b7"}"#[..],
        ));
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert!(record.trace_id.is_empty() && record.span_id.is_empty());
        assert_eq!(
            attribute(&record.attributes, "trace_id"),
            &Any::StringValue("req-42".into())
        );
        assert_eq!(
            attribute(&record.attributes, "span_id"),
            &Any::StringValue("00f067aa0ba902b7".into()),
            "no span id without a trace id"
        );
        for bad in ["+f", "0000", "zz"] {
            assert_eq!(hex_id::<2>(bad), None, "{bad}");
        }
        assert_eq!(hex_id::<2>("0A0b"), Some(vec![0x0a, 0x0b]));
    }

    #[test]
    fn partial_success_is_read_from_either_encoding() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
        let response = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "bad".into(),
            }),
        };
        let expected = Some((2, "bad".to_owned()));
        assert_eq!(
            partial_success(&response.encode_to_vec(), Encoding::Protobuf),
            expected
        );
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#;
        assert_eq!(partial_success(json, Encoding::Json), expected);
        let json = br#"{"partial_success":{"rejected_log_records":2,"error_message":"bad"}}"#;
        assert_eq!(partial_success(json, Encoding::Json), expected);
        let warning = br#"{"partialSuccess":{"errorMessage":"slow down"}}"#;
        assert_eq!(
            partial_success(warning, Encoding::Json),
            Some((0, "slow down".to_owned()))
        );
        assert_eq!(partial_success(b"", Encoding::Json), None);
        assert_eq!(partial_success(b"{}", Encoding::Json), None);
        assert_eq!(partial_success(b"OK", Encoding::Json), None);
    }
}
