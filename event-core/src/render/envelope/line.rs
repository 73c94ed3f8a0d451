//! The NDJSON line: the envelope as one JSON object, written straight from the walk: the
//! frame by `json`, the values by serde (no intermediate `Value`).

use serde::Serialize;

use super::context::ContextValue;
use super::view::{EnvelopeHead, EnvelopeObject};
use super::walk::{self, FieldSink, Visit};
use super::{EnvelopeConfig, RecordMeta};
use crate::model::treatment::TreatmentContext;
use crate::render::json;
use crate::{Event, FieldSchema, RenderError};

/// Writes the envelope of `event` to `out` as one line (no newline). On failure `out` is left
/// as it was.
pub(crate) fn write<E: Event>(
    event: &E,
    meta: &RecordMeta,
    config: &EnvelopeConfig,
    ctx: TreatmentContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RenderError> {
    let start = out.len();
    let mut line = Line {
        out: &mut *out,
        first: false,
    };
    let result = walk::render(event, meta, config, ctx, &mut line);
    match result {
        Ok(()) => out.push(b'}'),
        Err(_) => out.truncate(start),
    }
    result
}

/// Writes the walk's parts as JSON.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    /// Whether the next key is the first of its object (no comma before it).
    first: bool,
}

impl Line<'_> {
    fn key(&mut self, key: &str) {
        json::push_key(self.out, key, self.first);
        self.first = false;
    }

    /// An event field's key: written as it is when it has nothing to escape, as the derive
    /// makes every key (the escape check of every key was a tenth of writing an envelope).
    fn field_key(&mut self, field: &'static FieldSchema) {
        if field.has_plain_key() {
            json::push_plain_key(self.out, field.key(), self.first);
            self.first = false;
        } else {
            self.key(field.key());
        }
    }
}

impl FieldSink for Line<'_> {
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        self.key(key);
        json::push_value(self.out, value)
    }

    fn text(&mut self, key: &str, text: &str) -> serde_json::Result<()> {
        self.key(key);
        json::push_str(self.out, text);
        Ok(())
    }

    fn field_value<T: Serialize + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
    ) -> serde_json::Result<()> {
        self.field_key(field);
        json::push_value(self.out, value)
    }

    fn field_text(&mut self, field: &'static FieldSchema, text: &str) -> serde_json::Result<()> {
        self.field_key(field);
        json::push_str(self.out, text);
        Ok(())
    }
}

impl Visit for Line<'_> {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        let out = &mut *self.out;
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(super::TIMESTAMP.as_bytes());
        out.extend_from_slice(b"\":");
        json::push_timestamp(out, head.timestamp);
        json::push_plain_key(out, super::EVENT_ID, false);
        out.push(b'"');
        out.extend_from_slice(
            head.event_id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'"');
        json::push_plain_key(out, super::EVENT_NAME, false);
        json::push_str(out, head.name);
        json::push_plain_key(out, super::EVENT_TYPE, false);
        json::push_str(out, head.kind);
        json::push_plain_key(out, super::EVENT_VERSION, false);
        out.push(b'"');
        json::push_uint(out, head.version.major);
        out.push(b'.');
        json::push_uint(out, head.version.minor);
        out.push(b'"');
        json::push_plain_key(out, super::LEVEL, false);
        json::push_str(out, head.level.as_str());
    }

    fn resource(&mut self, config: &EnvelopeConfig) {
        self.out.extend_from_slice(&config.resource_json);
    }

    fn context(&mut self, key: &str, value: &ContextValue) -> serde_json::Result<()> {
        self.value(key, value)
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        // The envelope's own keys: nothing to escape.
        json::push_plain_key(self.out, object.as_str(), self.first);
        self.first = false;
        self.out.push(b'{');
        self.first = true;
    }

    fn end_object(&mut self) {
        self.out.push(b'}');
        self.first = false;
    }
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;
    use std::time::SystemTime;

    use super::*;
    use crate::render::envelope::context::{ContextFields, Correlation};

    /// An event with a string field, a map (keys and values written by `serde_json`) and a
    /// masked field (treated text written by `json`).
    #[derive(crate::Event)]
    #[event(kind = "system_event", crate = "crate")]
    struct ControlsEscaped {
        note: String,
        labels: BTreeMap<String, String>,
        #[event(mask)]
        card: String,
    }

    #[test]
    fn del_and_c1_controls_are_escaped_in_envelopes() {
        let missing = AtomicU64::new(0);
        let ctx = TreatmentContext {
            hash_key: None,
            hash_key_missing: Some(&missing),
        };
        let meta = RecordMeta {
            timestamp: SystemTime::now(),
            event_id: uuid::Uuid::now_v7(),
            callsite: None,
            correlation: Correlation::default(),
        };
        for c in '\u{7f}'..='\u{9f}' {
            let text = format!("a{c}b");
            let event = ControlsEscaped {
                note: text.clone(),
                labels: BTreeMap::from([(text.clone(), text.clone())]),
                card: format!("4111111111{c}{c}{c}{c}"),
            };
            let config = EnvelopeConfig::new(
                vec![(super::super::ResourceKey::Service, text.clone())],
                ContextFields::new(&[]),
                false,
            );
            let mut out = Vec::new();
            write(&event, &meta, &config, ctx, &mut out).unwrap();
            let line = String::from_utf8(out).unwrap();
            let escape = format!("\\u{:04x}", u32::from(c));
            assert!(!line.contains(c), "raw {c:?} in {line}");
            // Service, note, label key and value: 4; masked card: 4.
            assert_eq!(line.matches(&escape).count(), 8, "{line}");
            let envelope: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(envelope["service"], text.as_str());
            let metadata = &envelope["metadata"];
            assert_eq!(metadata["note"], text.as_str());
            assert_eq!(metadata["labels"][text.as_str()], text.as_str());
            assert_eq!(metadata["card"], format!("{}{c}{c}{c}{c}", crate::MASK));
        }
    }
}
