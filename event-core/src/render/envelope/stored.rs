//! Envelopes read back from their NDJSON line, such as those a disk spool kept across a
//! restart: the same parts, in the same order, for the same visitors.

use std::time::SystemTime;

use serde::de::{
    self, DeserializeSeed, Deserializer as _, Error as _, MapAccess, SeqAccess, Visitor,
};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use tracing_core::Level;

use super::view::{EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey};
use super::HEAD_KEYS;
use crate::{RenderError, Version};

/// An envelope parsed from its NDJSON line. Only for lines written earlier (by this or an
/// earlier run): events in a batch are visited from the typed event with
/// [`Envelope::visit`](super::Envelope::visit).
pub struct StoredEnvelope {
    head: StoredHead,
    /// The other top-level members, in their order; objects with theirs.
    members: Vec<(String, Member)>,
}

#[derive(Debug)]
struct StoredHead {
    timestamp: SystemTime,
    event_id: uuid::Uuid,
    name: String,
    kind: String,
    version: Version,
    level: Level,
}

#[derive(Debug)]
enum Member {
    Value(StoredValue),
    Object(EnvelopeObject, Vec<(String, StoredValue)>),
}

impl std::fmt::Debug for StoredEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are treated, but keep `Debug` from printing them, as `Envelope` does.
        f.debug_struct("StoredEnvelope")
            .field("name", &self.head.name)
            .field("event_id", &self.head.event_id)
            .finish_non_exhaustive()
    }
}

/// Why a line is not an envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoredEnvelopeError {
    /// It is not a JSON object.
    #[error("the line is not a JSON object (at line {}, column {})", .0.line(), .0.column())]
    NotJson(#[from] serde_json::Error),
    /// A head key is missing or its value is malformed.
    #[error("the envelope's `{0}` is missing or malformed")]
    Head(&'static str),
}

impl StoredEnvelope {
    /// Parses one NDJSON line (without its newline).
    pub fn parse(line: &[u8]) -> Result<StoredEnvelope, StoredEnvelopeError> {
        let mut deserializer = serde_json::Deserializer::from_slice(line);
        let members = Members { top_level: true }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        let mut head_values: [Option<Value>; HEAD_KEYS.len()] = Default::default();
        let mut rest = Vec::with_capacity(members.len());
        for (key, value) in members {
            match (HEAD_KEYS.iter().position(|k| *k == key), value) {
                (Some(at), Member::Value(StoredValue::Json(value))) => {
                    head_values[at] = Some(value);
                }
                (_, member) => rest.push((key, member)),
            }
        }
        let text = |at: usize| {
            head_values[at]
                .as_ref()
                .and_then(Value::as_str)
                .ok_or(StoredEnvelopeError::Head(HEAD_KEYS[at]))
        };
        let bad = |at: usize| StoredEnvelopeError::Head(HEAD_KEYS[at]);
        Ok(StoredEnvelope {
            head: StoredHead {
                timestamp: humantime::parse_rfc3339(text(0)?).map_err(|_| bad(0))?,
                event_id: uuid::Uuid::parse_str(text(1)?).map_err(|_| bad(1))?,
                name: text(2)?.to_owned(),
                kind: text(3)?.to_owned(),
                version: text(4)?.parse().map_err(|_| bad(4))?,
                level: text(5)?.parse().map_err(|_| bad(5))?,
            },
            members: rest,
        })
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.head.name
    }

    /// Hands the envelope's parts to `visitor`, as [`Envelope::visit`](super::Envelope::visit)
    /// does for the event it was written from.
    pub fn visit(&self, visitor: &mut dyn EnvelopeVisitor) -> Result<(), RenderError> {
        let head = &self.head;
        visitor.head(&EnvelopeHead {
            timestamp: head.timestamp,
            event_id: head.event_id,
            name: &head.name,
            kind: &head.kind,
            version: head.version,
            level: head.level,
        });
        let failed = |err: serde_json::Error| RenderError::serialize("stored envelope", "", &err);
        for (key, member) in &self.members {
            match member {
                Member::Value(StoredValue::Json(Value::String(text)))
                    if ResourceKey::from_key(key).is_some() =>
                {
                    visitor.resource(ResourceKey::from_key(key).expect("matched"), text);
                }
                Member::Value(value) => visitor
                    .value(key, FieldValue::stored(value))
                    .map_err(failed)?,
                Member::Object(object, members) => {
                    let errors = match object {
                        EnvelopeObject::Metadata => {
                            crate::model::catalog::error_keys(&head.name, head.version)
                        }
                        _ => &[],
                    };
                    visitor.begin_object(*object);
                    for (key, value) in members {
                        let value = if errors.contains(&key.as_str()) {
                            FieldValue::stored_error(value)
                        } else {
                            FieldValue::stored(value)
                        };
                        visitor.value(key, value).map_err(failed)?;
                    }
                    visitor.end_object();
                }
            }
        }
        Ok(())
    }
}

/// Reads an object's members in their order (a `serde_json::Map` would sort them); at the
/// top level, the envelope's objects with their members in order too.
struct Members {
    top_level: bool,
}

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, Member)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<String>()? {
            let member = match (self.top_level, EnvelopeObject::from_key(&key)) {
                (true, Some(object)) => {
                    let inner = map.next_value_seed(Members { top_level: false })?;
                    let inner = inner
                        .into_iter()
                        .map(|(key, member)| match member {
                            Member::Value(value) => (key, value),
                            Member::Object(..) => unreachable!("objects are read at the top only"),
                        })
                        .collect();
                    Member::Object(object, inner)
                }
                _ => Member::Value(map.next_value_seed(Exact { depth: 1 })?),
            };
            members.push((key, member));
        }
        Ok(members)
    }
}

impl<'de> DeserializeSeed<'de> for Members {
    type Value = Vec<(String, Member)>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A value as its line holds it. Like the `serde_json::Value` it parses to, except that an
/// integer beyond 64 bits keeps its exact value (a `Value` would round it to a double), so
/// an envelope read back from its line encodes as the event it was written from did.
#[derive(Debug)]
pub(crate) enum StoredValue {
    /// Any value without such an integer.
    Json(Value),
    /// An integer below `i64::MIN`.
    Signed(i128),
    /// An integer above `u64::MAX`.
    Unsigned(u128),
    Array(Vec<StoredValue>),
    /// The members in the line's order.
    Object(Vec<(String, StoredValue)>),
}

impl Serialize for StoredValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StoredValue::Json(value) => value.serialize(serializer),
            StoredValue::Signed(value) => serializer.serialize_i128(*value),
            StoredValue::Unsigned(value) => serializer.serialize_u128(*value),
            StoredValue::Array(items) => serializer.collect_seq(items),
            StoredValue::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// How deep the values of a line may nest: as deep as `serde_json` parses.
const MAX_STORED_DEPTH: usize = 128;

/// Whether `text` may hold an integer beyond 64 bits: one needs at least 19 digits in a row
/// (`i64::MIN` has 19, `u64::MAX` 20). Almost no value does, and those parse as they are.
fn may_hold_wide_integer(text: &str) -> bool {
    let mut run = 0;
    text.bytes().any(|byte| {
        run = if byte.is_ascii_digit() { run + 1 } else { 0 };
        run >= 19
    })
}

impl StoredValue {
    /// The value of one JSON text.
    fn parse(text: &str, depth: usize) -> Result<StoredValue, serde_json::Error> {
        if !may_hold_wide_integer(text) {
            return serde_json::from_str(text).map(StoredValue::Json);
        }
        if depth > MAX_STORED_DEPTH {
            return Err(serde_json::Error::custom("values nested too deeply"));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = match text.as_bytes().first() {
            Some(b'{') => (&mut deserializer).deserialize_map(Nested { depth })?,
            Some(b'[') => (&mut deserializer).deserialize_seq(Nested { depth })?,
            _ => {
                return Ok(match wide_integer(text) {
                    Some(value) => value,
                    None => StoredValue::Json(serde_json::from_str(text)?),
                })
            }
        };
        deserializer.end()?;
        Ok(value)
    }
}

/// An integer's text beyond 64 bits but within 128, as its value.
fn wide_integer(text: &str) -> Option<StoredValue> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None; // a fraction or an exponent: a double, as serde_json reads it
    }
    if text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok() {
        return None;
    }
    match text.parse::<i128>() {
        Ok(value) if value < 0 => Some(StoredValue::Signed(value)),
        _ => text.parse::<u128>().ok().map(StoredValue::Unsigned),
    }
}

/// One value, read from its own text (which keeps an integer's digits).
struct Exact {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Exact {
    type Value = StoredValue;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<StoredValue, D::Error> {
        let raw = <&RawValue as de::Deserialize>::deserialize(deserializer)?;
        StoredValue::parse(raw.get(), self.depth).map_err(D::Error::custom)
    }
}

/// The items or members of an array or object that may hold an integer beyond 64 bits.
struct Nested {
    depth: usize,
}

impl<'de> Visitor<'de> for Nested {
    type Value = StoredValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array or object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StoredValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Exact {
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(StoredValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StoredValue, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((
                key,
                map.next_value_seed(Exact {
                    depth: self.depth + 1,
                })?,
            ));
        }
        Ok(StoredValue::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// Each metadata member as `to_json_value` and `to_exact_json_value` give it.
    #[derive(Default)]
    struct Members(Vec<(String, Value, Value)>);

    impl EnvelopeVisitor for Members {
        fn head(&mut self, _: &EnvelopeHead<'_>) {}
        fn resource(&mut self, _: ResourceKey, _: &str) {}
        fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
            let exact = value.to_exact_json_value()?;
            self.0.push((key.to_owned(), value.to_json_value()?, exact));
            Ok(())
        }
        fn begin_object(&mut self, _: EnvelopeObject) {}
        fn end_object(&mut self) {}
    }

    const HEAD: &str = r#""timestamp":"2026-12-02T02:06:21.383798Z","event_id":"01a23480-bac7-7ddd-ab2c-bbad32379aa2","event_name":"n","event_type":"business","event_version":"1.0","level":"INFO""#;

    fn members(metadata: &str) -> Vec<(String, Value, Value)> {
        let line = format!(r#"{{{HEAD},"metadata":{metadata}}}"#);
        let mut members = Members::default();
        StoredEnvelope::parse(line.as_bytes())
            .unwrap()
            .visit(&mut members)
            .unwrap();
        members.0
    }

    #[test]
    fn integers_beyond_64_bits_keep_their_digits_wherever_they_nest() {
        let metadata = r#"{
            "huge": 340282366920938463463374607431768211455,
            "low": -170141183460469231731687303715884105728,
            "nested": [1, {"b": 18446744073709551616, "a": "12345678901234567890123"}],
            "u64": 18446744073709551615,
            "fraction": 12345678901234567890.5,
            "beyond_128": 3402823669209384634633746074317682114560
        }"#;
        let members = members(metadata);
        let parsed: Value = serde_json::from_str(metadata).unwrap();
        // Read as JSON is read: the same values serde_json parses.
        for (key, value, _) in &members {
            assert_eq!(value, &parsed[key], "{key}");
        }
        let exact: Vec<_> = members.into_iter().map(|(k, _, e)| (k, e)).collect();
        assert_eq!(
            exact,
            [
                (
                    "huge".into(),
                    json!("340282366920938463463374607431768211455")
                ),
                (
                    "low".into(),
                    json!("-170141183460469231731687303715884105728")
                ),
                (
                    "nested".into(),
                    json!([1, {"a": "12345678901234567890123", "b": "18446744073709551616"}])
                ),
                ("u64".into(), json!(18446744073709551615u64)),
                ("fraction".into(), json!(12345678901234567890.5)),
                ("beyond_128".into(), parsed["beyond_128"].clone()),
            ]
        );
    }

    #[test]
    fn a_line_nested_past_the_parser_bound_is_refused() {
        let deep = format!("{}18446744073709551616{}", "[".repeat(200), "]".repeat(200));
        let line = format!(r#"{{{HEAD},"metadata":{{"deep":{deep}}}}}"#);
        assert!(StoredEnvelope::parse(line.as_bytes()).is_err());
        let fine = format!("{}18446744073709551616{}", "[".repeat(60), "]".repeat(60));
        let exact = &members(&format!(r#"{{"deep":{fine}}}"#))[0].2;
        let mut inner = exact;
        for _ in 0..60 {
            inner = &inner[0];
        }
        assert_eq!(inner, &json!("18446744073709551616"));
    }
}
