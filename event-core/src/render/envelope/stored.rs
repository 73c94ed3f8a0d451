//! Envelopes read back from their NDJSON line, such as those a disk spool kept across a
//! restart: the same parts, in the same order, for the same visitors.

use std::time::SystemTime;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
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
    Value(Value),
    Object(EnvelopeObject, Vec<(String, Value)>),
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
                (Some(at), Member::Value(value)) => head_values[at] = Some(value),
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
                Member::Value(Value::String(text)) if ResourceKey::from_key(key).is_some() => {
                    visitor.resource(ResourceKey::from_key(key).expect("matched"), text);
                }
                Member::Value(value) => visitor
                    .value(key, FieldValue::json(value))
                    .map_err(failed)?,
                Member::Object(object, members) => {
                    visitor.begin_object(*object);
                    for (key, value) in members {
                        visitor
                            .value(key, FieldValue::json(value))
                            .map_err(failed)?;
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
                _ => Member::Value(map.next_value()?),
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
