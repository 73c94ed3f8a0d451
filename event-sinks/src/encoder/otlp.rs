//! OTLP log records: one `LogRecord` per envelope, built with the `opentelemetry-proto`
//! types from the envelope's typed parts, and the export request of a batch of them, as
//! binary protobuf or OTLP/JSON.
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
//! - every other envelope key → an attribute of the same name, objects flattened with `.`
//!   (`source.file`, `http.route`, members sorted);
//! - `metadata` fields → attributes under their own names (`metadata.<name>` when the name is
//!   already taken by an envelope attribute); objects become `kvlist_value`, arrays
//!   `array_value`, integers `int_value` (above `i64::MAX`: `string_value`, exact).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use event_core::envelope::{
    EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey, EVENT_ID, EVENT_TYPE,
    EVENT_VERSION,
};
use event_core::CORRELATION_FIELDS;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};

/// One event as OTLP carries it: its resource's attributes and its log record.
#[derive(Clone, Debug)]
pub(crate) struct OtlpRecord {
    pub(crate) resource: Arc<Vec<KeyValue>>,
    pub(crate) record: LogRecord,
}

impl OtlpRecord {
    /// A line that is not an envelope still travels, as the body.
    pub(crate) fn unreadable(line: &[u8]) -> OtlpRecord {
        OtlpRecord {
            resource: Arc::default(),
            record: LogRecord {
                body: Some(string(String::from_utf8_lossy(line).into_owned())),
                ..LogRecord::default()
            },
        }
    }
}

/// The resource attribute of a resource key (OpenTelemetry semantic conventions).
fn resource_name(key: ResourceKey) -> &'static str {
    match key {
        ResourceKey::Service => "service.name",
        ResourceKey::ServiceVersion => "service.version",
        ResourceKey::Environment => "deployment.environment.name",
        ResourceKey::Region => "cloud.region",
        _ => "host.name",
    }
}

/// Builds [`OtlpRecord`]s, one envelope at a time, sharing one resource attribute list
/// between consecutive events of the same resource (every event of a layer).
#[derive(Default)]
pub(crate) struct OtlpEncoder {
    last_resource: Arc<Vec<KeyValue>>,
}

impl OtlpEncoder {
    /// A visitor for the next envelope; [`RecordVisitor::finish`] gives its record.
    pub(crate) fn visitor(&mut self) -> RecordVisitor<'_> {
        RecordVisitor {
            encoder: self,
            resource_len: 0,
            fresh_resource: None,
            record: LogRecord::default(),
            object: None,
            envelope_attributes: 0,
        }
    }
}

/// Visits one envelope into a log record.
pub(crate) struct RecordVisitor<'e> {
    encoder: &'e mut OtlpEncoder,
    /// How many resource fields were visited.
    resource_len: usize,
    /// The resource, once it differs from the last one.
    fresh_resource: Option<Vec<KeyValue>>,
    record: LogRecord,
    /// The object being visited, and its members (sorted, as they are flattened).
    object: Option<(EnvelopeObject, Map<String, Value>)>,
    /// How many attributes come from the envelope rather than `metadata`.
    envelope_attributes: usize,
}

impl RecordVisitor<'_> {
    pub(crate) fn finish(self) -> OtlpRecord {
        let encoder = self.encoder;
        let resource = match self.fresh_resource {
            Some(fresh) => Arc::new(fresh),
            None if self.resource_len == encoder.last_resource.len() => {
                Arc::clone(&encoder.last_resource)
            }
            None => Arc::new(encoder.last_resource[..self.resource_len].to_vec()),
        };
        encoder.last_resource = Arc::clone(&resource);
        OtlpRecord {
            resource,
            record: self.record,
        }
    }

    fn attribute(&mut self, key: String, value: AnyValue) {
        self.record.attributes.push(KeyValue {
            key,
            value: Some(value),
            ..KeyValue::default()
        });
    }

    fn top_level(&mut self, key: &str, value: &FieldValue<'_>) -> Result<(), serde_json::Error> {
        let [trace_id, span_id, ..] = CORRELATION_FIELDS;
        if key == trace_id {
            if let Some(id) = value.as_str().and_then(hex_id::<16>) {
                self.record.trace_id = id;
                return Ok(());
            }
        } else if key == span_id && !self.record.trace_id.is_empty() {
            // A span id means something only with its trace's id (OTLP: SHOULD come together).
            if let Some(id) = value.as_str().and_then(hex_id::<8>) {
                self.record.span_id = id;
                return Ok(());
            }
        }
        match value.as_str() {
            Some(text) => self.attribute(key.to_owned(), string(text.to_owned())),
            None => match value.to_json_value()? {
                Value::Object(members) => self.flatten(key, members),
                value => self.attribute(key.to_owned(), any_value(value)),
            },
        }
        Ok(())
    }

    fn flatten(&mut self, key: &str, members: Map<String, Value>) {
        for (name, value) in members {
            self.attribute(format!("{key}.{name}"), any_value(value));
        }
    }
}

impl EnvelopeVisitor for RecordVisitor<'_> {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        let nanos = unix_nanos(head.timestamp);
        self.record.time_unix_nano = nanos;
        self.record.observed_time_unix_nano = nanos;
        self.record.event_name = head.name.to_owned();
        self.record.severity_number = severity(head.level.as_str()) as i32;
        self.record.severity_text = head.level.as_str().to_owned();
        self.record.attributes.reserve(24);
        self.attribute(EVENT_ID.to_owned(), string(head.event_id.to_string()));
        self.attribute(EVENT_TYPE.to_owned(), string(head.kind.to_owned()));
        self.attribute(EVENT_VERSION.to_owned(), string(head.version.to_string()));
    }

    fn resource(&mut self, key: ResourceKey, value: &str) {
        let name = resource_name(key);
        let at = self.resource_len;
        self.resource_len += 1;
        if self.fresh_resource.is_none() {
            let same = self.encoder.last_resource.get(at).is_some_and(|kv| {
                kv.key == name
                    && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Any::StringValue(text)) if text == value)
            });
            if same {
                return;
            }
            self.fresh_resource = Some(self.encoder.last_resource[..at].to_vec());
        }
        if let Some(fresh) = &mut self.fresh_resource {
            fresh.push(KeyValue {
                key: name.to_owned(),
                value: Some(string(value.to_owned())),
                ..KeyValue::default()
            });
        }
    }

    fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
        match &mut self.object {
            None => self.top_level(key, &value),
            Some((EnvelopeObject::Metadata, _)) => {
                let taken = self.record.attributes[..self.envelope_attributes]
                    .iter()
                    .any(|kv| kv.key == key);
                let key = if taken {
                    format!("metadata.{key}")
                } else {
                    key.to_owned()
                };
                let value = match value.as_str() {
                    Some(text) => string(text.to_owned()),
                    None => any_value(value.to_json_value()?),
                };
                self.attribute(key, value);
                Ok(())
            }
            Some((_, members)) => {
                members.insert(key.to_owned(), value.to_json_value()?);
                Ok(())
            }
        }
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        if object == EnvelopeObject::Metadata {
            self.envelope_attributes = self.record.attributes.len();
        }
        self.object = Some((object, Map::new()));
    }

    fn end_object(&mut self) {
        match self.object.take() {
            Some((EnvelopeObject::Metadata, _)) | None => {}
            Some((object, members)) => self.flatten(object.as_str(), members),
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

/// Consecutive records of the same resource.
fn groups<'r>(records: &'r [&'r OtlpRecord]) -> impl Iterator<Item = &'r [&'r OtlpRecord]> {
    records.chunk_by(|a, b| Arc::ptr_eq(&a.resource, &b.resource) || a.resource == b.resource)
}

/// The binary protobuf body for `records`: the bytes `ExportLogsServiceRequest::encode`
/// writes for them, assembled from the records by reference with prost's own field encoders
/// instead of moving every record into a request first.
pub(crate) fn encode_protobuf(records: &[&OtlpRecord]) -> Vec<u8> {
    use prost::encoding;
    let scope = scope();
    let mut body = Vec::with_capacity(records.iter().map(|r| r.record.encoded_len() + 4).sum());
    for group in groups(records) {
        let mut scope_logs = Vec::new();
        encoding::message::encode(1, &scope, &mut scope_logs);
        for record in group {
            encoding::message::encode(2, &record.record, &mut scope_logs);
        }
        let resource = Resource {
            attributes: group[0].resource.to_vec(),
            ..Resource::default()
        };
        let mut resource_logs = Vec::with_capacity(scope_logs.len() + 256);
        encoding::message::encode(1, &resource, &mut resource_logs);
        // A length-delimited field: the same bytes as the `ScopeLogs` message it holds.
        encoding::bytes::encode(2, &scope_logs, &mut resource_logs);
        encoding::bytes::encode(1, &resource_logs, &mut body);
    }
    body
}

/// The export request for `records`.
pub(crate) fn request(records: &[&OtlpRecord]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: groups(records)
            .map(|group| ResourceLogs {
                resource: Some(Resource {
                    attributes: group[0].resource.to_vec(),
                    ..Resource::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: group.iter().map(|r| r.record.clone()).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The OTLP/JSON body for `records`: ids as hex, 64-bit integers as strings, as the OTLP
/// specification's JSON mapping says.
pub(crate) fn encode_json(records: &[&OtlpRecord]) -> Vec<u8> {
    let mut value =
        serde_json::to_value(request(records)).expect("an OTLP request always serializes");
    drop_empty(&mut value);
    let mut body = Vec::new();
    event_core::write_json(&mut body, &value).expect("a JSON value always serializes");
    body
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

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_nanos()).ok())
        .unwrap_or(0)
}

/// An id of `N` bytes written as `2N` hex digits, not all zero (OTLP's "invalid" id).
pub(crate) fn hex_id<const N: usize>(text: &str) -> Option<Vec<u8>> {
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
    use event_core::envelope::StoredEnvelope;

    /// The request for lines, as the HTTP sink encodes lines read back from its spool.
    fn request_for(lines: &[&[u8]]) -> ExportLogsServiceRequest {
        request(&records(lines).iter().collect::<Vec<_>>())
    }

    fn records(lines: &[&[u8]]) -> Vec<OtlpRecord> {
        let mut encoder = OtlpEncoder::default();
        lines
            .iter()
            .map(|line| {
                let mut visitor = encoder.visitor();
                StoredEnvelope::parse(line)
                    .unwrap()
                    .visit(&mut visitor)
                    .unwrap();
                visitor.finish()
            })
            .collect()
    }

    /// `body` with the head keys an envelope always has.
    fn with_head(mut body: serde_json::Value) -> Vec<u8> {
        for (key, value) in [
            ("timestamp", "2026-11-21T10:30:00.123456Z"),
            ("event_id", "0193a6f0-0000-7000-8000-000000000001"),
            ("event_name", "user_login"),
            ("event_type", "security"),
            ("event_version", "1.0"),
            ("level", "INFO"),
        ] {
            if body.get(key).is_none() {
                body[key] = value.into();
            }
        }
        serde_json::to_vec(&body).unwrap()
    }

    const ENVELOPE: &str = r#"{"timestamp":"2026-11-21T10:30:00.123456Z","event_id":"0193a6f0-0000-7000-8000-000000000001","event_name":"user_login","event_type":"security","event_version":"1.1","level":"WARN","service":"checkout","environment":"prod","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","user_id":"u1","source":{"module":"app","line":7},"metadata":{"attempts":3,"big":18446744073709551615,"ok":false,"event_id":"shadow","tags":["a"],"ratio":0.5}}"#;

    #[test]
    fn otlp_json_escapes_del_and_c1_controls() {
        for c in '\u{7f}'..='\u{9f}' {
            let envelope = with_head(serde_json::json!({
                "timestamp": "2026-11-21T10:30:00.123456Z",
                "event_name": "user_login",
                "service": format!("s{c}"),
                "metadata": { "note": format!("x{c}y") },
            }));
            let body = encode_json(&records(&[&envelope]).iter().collect::<Vec<_>>());
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
        let request = request_for(&[ENVELOPE.as_bytes()]);
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
        let line = with_head(serde_json::json!({"trace_id":"req-42","span_id":"00f067aa0ba902b7"}));
        let request = request_for(&[&line]);
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
}
