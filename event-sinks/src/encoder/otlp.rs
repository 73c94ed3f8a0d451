//! OTLP log records: one `LogRecord` per envelope, written from the envelope's typed parts
//! with prost's encoders, and the export request of a batch of them, as binary protobuf or
//! OTLP/JSON (through the `opentelemetry-proto` types).
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
//!   `array_value`, integers `int_value` (above `i64::MAX`: `string_value`, exact);
//! - the first `#[event(error)]` field → `exception.type`, `exception.message` (left out with
//!   `redact_message`) and `exception.chain` (an array of strings); other error fields are
//!   `kvlist_value` attributes under their own names.

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
use prost::encoding::{self, encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;
use serde_json::{Map, Value};

mod scalar;

/// One event as OTLP carries it: its resource's attributes and its `LogRecord`, encoded.
///
/// Why the record is written field by field with prost's encoders rather than built as a
/// `LogRecord` and encoded: the struct owns a `String` per attribute key and value, about 40
/// allocations for a 10-field event, freed on another thread; building and encoding it took
/// ours-otlp to 1.5 × the OpenTelemetry SDK in `cargo bench --bench http`, against 3 × and more
/// this way. The wire files test that the bytes are the ones prost writes for the struct.
#[derive(Clone, Debug)]
pub(crate) struct OtlpRecord {
    pub(crate) resource: Arc<Vec<KeyValue>>,
    /// The `LogRecord` message, without its tag and length, from `start` on.
    record: Vec<u8>,
    start: usize,
}

impl OtlpRecord {
    /// A line that is not an envelope still travels, as the body.
    pub(crate) fn unreadable(line: &[u8]) -> OtlpRecord {
        OtlpRecord {
            resource: Arc::default(),
            record: LogRecord {
                body: Some(string(String::from_utf8_lossy(line).into_owned())),
                ..LogRecord::default()
            }
            .encode_to_vec(),
            start: 0,
        }
    }

    /// The encoded `LogRecord`.
    fn bytes(&self) -> &[u8] {
        &self.record[self.start..]
    }

    /// The record as the `opentelemetry-proto` type, for the OTLP/JSON mapping.
    fn log_record(&self) -> LogRecord {
        // prost reads at most 100 levels of nesting; a value nested deeper than that travels
        // as a record whose body says so, not as a panic.
        LogRecord::decode(self.bytes()).unwrap_or_else(|_| LogRecord {
            body: Some(string(
                "this event's values are nested too deeply for OTLP/JSON".to_owned(),
            )),
            ..LogRecord::default()
        })
    }
}

/// The resource attribute of a resource key (OpenTelemetry semantic conventions).
fn resource_name(key: ResourceKey) -> &'static str {
    match key {
        ResourceKey::Service => "service.name",
        ResourceKey::ServiceVersion => "service.version",
        ResourceKey::Environment => "deployment.environment.name",
        ResourceKey::Region => "cloud.region",
        ResourceKey::Host => "host.name",
        _ => key.as_str(),
    }
}

/// Builds [`OtlpRecord`]s, one envelope at a time, sharing one resource attribute list
/// between consecutive events of the same resource (every event of a layer).
#[derive(Default)]
pub(crate) struct OtlpEncoder {
    last_resource: Arc<Vec<KeyValue>>,
    /// A value's `AnyValue` before its length is known, reused.
    scratch: Vec<u8>,
    /// The members of the object being visited: each one's key and `AnyValue` one after
    /// another in `member_bytes`, where the key starts, the value starts and it ends.
    members: Vec<(usize, usize, usize)>,
    member_bytes: Vec<u8>,
    /// A flattened member's attribute key (`object.member`), reused.
    member_key: String,
    /// [`RecordVisitor::keys`], kept between records.
    keys: Vec<(usize, usize)>,
}

impl OtlpEncoder {
    /// A visitor for the next envelope; [`RecordVisitor::finish`] gives its record.
    pub(crate) fn visitor(&mut self) -> RecordVisitor<'_> {
        // A record that failed half way leaves no object members behind for this one.
        self.members.clear();
        self.member_bytes.clear();
        let keys = std::mem::take(&mut self.keys);
        RecordVisitor {
            encoder: self,
            resource_len: 0,
            fresh_resource: None,
            out: Vec::with_capacity(512),
            keys,
            time: 0,
            name_end: 0,
            trace_id: None,
            span_id: None,
            object: None,
            envelope_attributes: 0,
            exception: false,
        }
    }
}

/// Visits one envelope into an encoded log record.
pub(crate) struct RecordVisitor<'e> {
    encoder: &'e mut OtlpEncoder,
    /// How many resource fields were visited.
    resource_len: usize,
    /// The resource, once it differs from the last one.
    fresh_resource: Option<Vec<KeyValue>>,
    /// The record so far: fields 1 to 3 (time, severity), then the attributes (6).
    out: Vec<u8>,
    /// Where each attribute's key is in `out`.
    keys: Vec<(usize, usize)>,
    time: u64,
    /// The event name, kept at the start of `out` until the record is finished.
    name_end: usize,
    trace_id: Option<Vec<u8>>,
    span_id: Option<Vec<u8>>,
    /// The object being visited; its members wait in the encoder until it ends.
    object: Option<EnvelopeObject>,
    /// How many attributes come from the envelope rather than `metadata`.
    envelope_attributes: usize,
    /// Whether an error field was written as the `exception.*` attributes.
    exception: bool,
}

/// Where an `#[event(error)]` field goes: OpenTelemetry's exception attributes (semantic
/// conventions), and `exception.chain` for its sources (messages, or types with
/// `redact_message`), which the conventions have no attribute for.
const EXCEPTION_TYPE: &str = "exception.type";
const EXCEPTION_MESSAGE: &str = "exception.message";
const EXCEPTION_CHAIN: &str = "exception.chain";

// The field numbers of `LogRecord`, `KeyValue` and `AnyValue` (opentelemetry/proto/logs/v1
// and common/v1), written in field order as prost writes them.
const TIME_UNIX_NANO: u32 = 1;
const SEVERITY_NUMBER: u32 = 2;
const SEVERITY_TEXT: u32 = 3;
const ATTRIBUTES: u32 = 6;
const TRACE_ID: u32 = 9;
const SPAN_ID: u32 = 10;
const OBSERVED_TIME_UNIX_NANO: u32 = 11;
const EVENT_NAME: u32 = 12;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;

impl RecordVisitor<'_> {
    pub(crate) fn finish(mut self) -> OtlpRecord {
        let encoder = &mut *self.encoder;
        let resource = match self.fresh_resource.take() {
            Some(fresh) => Arc::new(fresh),
            None if self.resource_len == encoder.last_resource.len() => {
                Arc::clone(&encoder.last_resource)
            }
            None => Arc::new(encoder.last_resource[..self.resource_len].to_vec()),
        };
        encoder.last_resource = Arc::clone(&resource);
        encoder.keys = std::mem::take(&mut self.keys);
        encoder.keys.clear();
        // The event name waited at the start of `out`: it is written last (field 12), and
        // the record starts after it.
        let mut record = std::mem::take(&mut self.out);
        if let Some(id) = &self.trace_id {
            encoding::bytes::encode(TRACE_ID, id, &mut record);
        }
        if let Some(id) = &self.span_id {
            encoding::bytes::encode(SPAN_ID, id, &mut record);
        }
        if self.time != 0 {
            encoding::fixed64::encode(OBSERVED_TIME_UNIX_NANO, &self.time, &mut record);
        }
        if self.name_end > 0 {
            encode_key(EVENT_NAME, WireType::LengthDelimited, &mut record);
            encode_varint(self.name_end as u64, &mut record);
            record.extend_from_within(..self.name_end);
        }
        OtlpRecord {
            resource,
            record,
            start: self.name_end,
        }
    }

    /// Appends one attribute: its key, and the `AnyValue` `write` puts in the scratch buffer.
    fn attribute(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.attribute_if(key, |out| {
            write(out);
            true
        });
    }

    /// [`attribute`](Self::attribute), if `write` says it wrote the value.
    fn attribute_if(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        let scratch = &mut self.encoder.scratch;
        scratch.clear();
        if !write(scratch) {
            return false;
        }
        let value_len = scratch.len();
        let key_value_len = 1
            + encoded_len_varint(key.len() as u64)
            + key.len()
            + 1
            + encoded_len_varint(value_len as u64)
            + value_len;
        let out = &mut self.out;
        encode_key(ATTRIBUTES, WireType::LengthDelimited, out);
        encode_varint(key_value_len as u64, out);
        encode_key(KEY_VALUE_KEY, WireType::LengthDelimited, out);
        encode_varint(key.len() as u64, out);
        self.keys.push((out.len(), key.len()));
        out.extend_from_slice(key.as_bytes());
        encode_key(KEY_VALUE_VALUE, WireType::LengthDelimited, out);
        encode_varint(value_len as u64, out);
        out.extend_from_slice(scratch);
        true
    }

    /// Appends an attribute from a value: scalars written directly, anything with structure
    /// through the `opentelemetry-proto` type.
    fn value_attribute(
        &mut self,
        key: &str,
        value: &FieldValue<'_>,
    ) -> Result<(), serde_json::Error> {
        let mut result = Ok(());
        self.attribute_if(key, |out| {
            result = write_any(value, out);
            result.is_ok()
        });
        result
    }

    fn top_level(&mut self, key: &str, value: &FieldValue<'_>) -> Result<(), serde_json::Error> {
        let [trace_id, span_id, ..] = CORRELATION_FIELDS;
        if key == trace_id {
            if let Some(id) = value.as_str().and_then(hex_id::<16>) {
                self.trace_id = Some(id);
                return Ok(());
            }
        } else if key == span_id && self.trace_id.is_some() {
            // A span id means something only with its trace's id (OTLP: SHOULD come together).
            if let Some(id) = value.as_str().and_then(hex_id::<8>) {
                self.span_id = Some(id);
                return Ok(());
            }
        }
        if value.as_str().is_none() {
            if let Value::Object(members) = value.to_exact_json_value()? {
                self.flatten(key, members);
                return Ok(());
            }
        }
        self.value_attribute(key, value)
    }

    fn flatten(&mut self, key: &str, members: Map<String, Value>) {
        for (name, value) in members {
            let any = any_value(value);
            self.attribute(&format!("{key}.{name}"), |out| any.encode_raw(out));
        }
    }

    /// Keeps a member of the object being visited, encoded, until the object ends.
    fn member(&mut self, key: &str, value: &FieldValue<'_>) -> Result<(), serde_json::Error> {
        let bytes = &mut self.encoder.member_bytes;
        let key_start = bytes.len();
        bytes.extend_from_slice(key.as_bytes());
        let value_start = bytes.len();
        write_any(value, bytes)?;
        self.encoder
            .members
            .push((key_start, value_start, bytes.len()));
        Ok(())
    }

    /// The object's members as attributes `object.member`, sorted by member (the order of
    /// a JSON object read back), the last of a repeated member kept.
    fn flatten_members(&mut self, object: EnvelopeObject) {
        let mut members = std::mem::take(&mut self.encoder.members);
        let bytes = std::mem::take(&mut self.encoder.member_bytes);
        let mut key = std::mem::take(&mut self.encoder.member_key);
        let name = |&(start, end, _): &(usize, usize, usize)| &bytes[start..end];
        members.sort_by(|a, b| name(a).cmp(name(b)));
        for (index, member) in members.iter().enumerate() {
            if members
                .get(index + 1)
                .is_some_and(|next| name(next) == name(member))
            {
                continue;
            }
            key.clear();
            key.push_str(object.as_str());
            key.push('.');
            // The member's key was a `&str`.
            key.push_str(std::str::from_utf8(name(member)).unwrap_or_default());
            let value = &bytes[member.1..member.2];
            self.attribute(&key, |out| out.extend_from_slice(value));
        }
        members.clear();
        self.encoder.members = members;
        self.encoder.member_bytes = bytes;
        self.encoder.member_bytes.clear();
        self.encoder.member_key = key;
    }

    /// The event's first `#[event(error)]` field: its members as the `exception.*` attributes,
    /// under which the field's own key is not written. Other error fields are attributes of
    /// their own.
    fn exception(&mut self, value: &FieldValue<'_>) -> Result<(), serde_json::Error> {
        let Value::Object(members) = value.to_exact_json_value()? else {
            return self.value_attribute(EXCEPTION_TYPE, value);
        };
        for (member, key) in [
            ("type", EXCEPTION_TYPE),
            ("message", EXCEPTION_MESSAGE),
            ("chain", EXCEPTION_CHAIN),
        ] {
            if let Some(value) = members.get(member) {
                let any = any_value(value.clone());
                self.attribute(key, |out| any.encode_raw(out));
            }
        }
        Ok(())
    }

    fn key_taken(&self, key: &str) -> bool {
        self.keys[..self.envelope_attributes]
            .iter()
            .any(|&(at, len)| &self.out[at..at + len] == key.as_bytes())
    }
}

impl EnvelopeVisitor for RecordVisitor<'_> {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        self.out.extend_from_slice(head.name.as_bytes());
        self.name_end = self.out.len();
        self.time = unix_nanos(head.timestamp);
        if self.time != 0 {
            encoding::fixed64::encode(TIME_UNIX_NANO, &self.time, &mut self.out);
        }
        let level = head.level.as_str();
        let severity = severity(level) as i32;
        if severity != 0 {
            encoding::int32::encode(SEVERITY_NUMBER, &severity, &mut self.out);
        }
        encode_key(SEVERITY_TEXT, WireType::LengthDelimited, &mut self.out);
        encode_varint(level.len() as u64, &mut self.out);
        self.out.extend_from_slice(level.as_bytes());
        self.attribute(EVENT_ID, |out| {
            let mut id = uuid::Uuid::encode_buffer();
            scalar::string(head.event_id.hyphenated().encode_lower(&mut id), out)
        });
        self.attribute(EVENT_TYPE, |out| scalar::string(head.kind, out));
        self.attribute(EVENT_VERSION, |out| scalar::version(head.version, out));
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
        match self.object {
            None => self.top_level(key, &value),
            Some(EnvelopeObject::Metadata) if value.is_error() && !self.exception => {
                self.exception = true;
                self.exception(&value)
            }
            Some(EnvelopeObject::Metadata) => {
                if self.key_taken(key) {
                    self.value_attribute(&format!("metadata.{key}"), &value)
                } else {
                    self.value_attribute(key, &value)
                }
            }
            Some(_) => self.member(key, &value),
        }
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        if object == EnvelopeObject::Metadata {
            self.envelope_attributes = self.keys.len();
        }
        self.object = Some(object);
    }

    fn end_object(&mut self) {
        match self.object.take() {
            Some(EnvelopeObject::Metadata) | None => {}
            Some(object) => self.flatten_members(object),
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
/// writes for them, written once, in place, with prost's own field encoders (each message's
/// length is known before it is written, so nothing is encoded twice or copied).
pub(crate) fn encode_protobuf(records: &[&OtlpRecord]) -> Vec<u8> {
    // Every tag here is below 16: one byte, then the length, then the content.
    let framed = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    let scope = scope();
    let scope_len = scope.encoded_len();
    let mut body = Vec::with_capacity(
        records
            .iter()
            .map(|r| framed(r.bytes().len()))
            .sum::<usize>()
            + 512,
    );
    for group in groups(records) {
        let resource = Resource {
            attributes: group[0].resource.to_vec(),
            ..Resource::default()
        };
        let scope_logs_len =
            framed(scope_len) + group.iter().map(|r| framed(r.bytes().len())).sum::<usize>();
        let resource_logs_len = framed(resource.encoded_len()) + framed(scope_logs_len);
        encode_key(1, WireType::LengthDelimited, &mut body);
        encode_varint(resource_logs_len as u64, &mut body);
        encoding::message::encode(1, &resource, &mut body);
        encode_key(2, WireType::LengthDelimited, &mut body);
        encode_varint(scope_logs_len as u64, &mut body);
        encoding::message::encode(1, &scope, &mut body);
        for record in group {
            let bytes = record.bytes();
            encode_key(2, WireType::LengthDelimited, &mut body);
            encode_varint(bytes.len() as u64, &mut body);
            body.extend_from_slice(bytes);
        }
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
                    log_records: group.iter().map(|r| r.log_record()).collect(),
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

/// Appends `value` as an `AnyValue`: text and scalars written directly, anything with
/// structure through its JSON value. On an error nothing is appended.
fn write_any(value: &FieldValue<'_>, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    if let Some(text) = value.as_str() {
        scalar::string(text, out);
    } else if !scalar::write(value, out) {
        any_value(value.to_exact_json_value()?).encode_raw(out);
    }
    Ok(())
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
mod tests;
