//! One readable line per event: time, level, name and version, kind, then the other
//! envelope keys (sorted, `source` left out) and, after `|`, the treated fields (sorted).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use event_core::envelope::{
    EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey,
};
use serde_json::Value;

use super::ObjectBuilder;

/// Writes the line of one envelope it visits.
pub(crate) struct PrettyLine {
    colour: bool,
    head: String,
    fields: BTreeMap<String, Value>,
    metadata: BTreeMap<String, Value>,
    object: ObjectBuilder,
}

impl PrettyLine {
    pub(crate) fn new(colour: bool) -> Self {
        PrettyLine {
            colour,
            head: String::new(),
            fields: BTreeMap::new(),
            metadata: BTreeMap::new(),
            object: ObjectBuilder::default(),
        }
    }

    /// `2026-11-21T10:30:00.123456Z  WARN user_login_attempt v1.1 security request_id="r1" | ip="…"`
    pub(crate) fn finish(self, out: &mut String) {
        out.push_str(&self.head);
        for (key, value) in &self.fields {
            let _ = write!(out, " {}=", escaped(key));
            push_json(out, value);
        }
        out.push_str(" |");
        for (key, value) in &self.metadata {
            let _ = write!(out, " {}=", escaped(key));
            push_json(out, value);
        }
    }
}

impl EnvelopeVisitor for PrettyLine {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        let level = head.level.as_str();
        let (on, off) = match (self.colour, level) {
            (false, _) => ("", ""),
            (true, "ERROR") => ("\x1b[31m", "\x1b[0m"),
            (true, "WARN") => ("\x1b[33m", "\x1b[0m"),
            (true, "INFO") => ("\x1b[32m", "\x1b[0m"),
            (true, _) => ("\x1b[2m", "\x1b[0m"),
        };
        let _ = write!(
            self.head,
            "{} {on}{level:>5}{off} {} v{} {}",
            humantime::format_rfc3339_micros(head.timestamp),
            escaped(head.name),
            head.version,
            escaped(head.kind),
        );
    }

    fn resource(&mut self, key: ResourceKey, value: &str) {
        self.fields
            .insert(key.as_str().to_owned(), Value::String(value.to_owned()));
    }

    fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
        if !self.object.member(key, &value)? {
            self.fields.insert(key.to_owned(), value.to_json_value()?);
        }
        Ok(())
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        self.object.begin(object);
    }

    fn end_object(&mut self) {
        match self.object.end() {
            Some((EnvelopeObject::Metadata, members)) => self.metadata.extend(members),
            // The call site is for machines; people have the event's name.
            Some((EnvelopeObject::Source, _)) | None => {}
            Some((object, members)) => {
                self.fields
                    .insert(object.as_str().to_owned(), Value::Object(members));
            }
        }
    }
}

/// Appends `value` as JSON, DEL and C1 controls escaped as in every envelope.
fn push_json(out: &mut String, value: &Value) {
    let mut json = Vec::new();
    // Writing a JSON value into a `Vec` cannot fail, and JSON text is UTF-8.
    let _ = event_core::write_json(&mut json, value);
    out.push_str(&String::from_utf8_lossy(&json));
}

/// `text` with control characters (newlines, ANSI escapes) escaped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
