//! Tests of `otlp`.

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
