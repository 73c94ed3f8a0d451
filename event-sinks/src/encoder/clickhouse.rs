//! ClickHouse `JSONEachRow` rows: one object per event, its keys sorted, top-level scalars as
//! columns, nested objects and arrays (`metadata`, `source`, `http`, …) as JSON strings, which
//! every server version can store in a `String` column.

use event_core::envelope::{
    EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey, EVENT_ID, EVENT_NAME,
    EVENT_TYPE, EVENT_VERSION, LEVEL, TIMESTAMP,
};
use serde_json::{Map, Value};

use super::ObjectBuilder;

/// Builds the row of one envelope it visits.
#[derive(Default)]
pub(crate) struct Row {
    columns: Map<String, Value>,
    object: ObjectBuilder,
}

impl Row {
    /// Appends the row and its newline to `out`.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        event_core::write_json(&mut *out, &self.columns)
            .expect("writing JSON into a Vec cannot fail");
        out.push(b'\n');
    }

    fn column(&mut self, key: &str, value: Value) {
        let value = if value.is_object() || value.is_array() {
            nested(&value)
        } else {
            value
        };
        self.columns.insert(key.to_owned(), value);
    }
}

/// A nested value as the text its `String` column keeps: DEL and C1 controls escaped inside
/// it too.
fn nested(value: &Value) -> Value {
    let mut text = Vec::new();
    event_core::write_json(&mut text, value).expect("writing JSON into a Vec cannot fail");
    Value::String(String::from_utf8_lossy(&text).into_owned())
}

impl EnvelopeVisitor for Row {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        let text = |text: String| Value::String(text);
        let timestamp = humantime::format_rfc3339_micros(head.timestamp).to_string();
        self.column(TIMESTAMP, text(timestamp));
        self.column(EVENT_ID, text(head.event_id.to_string()));
        self.column(EVENT_NAME, text(head.name.to_owned()));
        self.column(EVENT_TYPE, text(head.kind.to_owned()));
        self.column(EVENT_VERSION, text(head.version.to_string()));
        self.column(LEVEL, text(head.level.as_str().to_owned()));
    }

    fn resource(&mut self, key: ResourceKey, value: &str) {
        self.column(key.as_str(), Value::String(value.to_owned()));
    }

    fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
        if !self.object.member(key, &value)? {
            self.column(key, value.to_json_value()?);
        }
        Ok(())
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        self.object.begin(object);
    }

    fn end_object(&mut self) {
        if let Some((object, members)) = self.object.end() {
            self.column(object.as_str(), Value::Object(members));
        }
    }
}
