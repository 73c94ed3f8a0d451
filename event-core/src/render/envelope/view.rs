//! The envelope as encoders see it: [`EnvelopeVisitor`] receives its parts in order, each value
//! typed, so a format is written straight from the event.

use std::fmt;
use std::time::SystemTime;

use serde::{Serialize, Serializer};
use tracing_core::Level;
use uuid::Uuid;

use super::context::ContextValue;
use super::stored::StoredValue;
use super::walk::{self, FieldSink, Visit};
use super::{EnvelopeConfig, Payload, RecordMeta};
use crate::model::error::ErrorJson;
use crate::model::treatment::TreatmentContext;
use crate::{RenderError, Version};

/// The parts every envelope starts with.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct EnvelopeHead<'a> {
    /// `timestamp`: when it was emitted, to the microsecond.
    pub timestamp: SystemTime,
    /// `event_id`: a UUIDv7, the same in every sink and across retries.
    pub event_id: Uuid,
    /// `event_name`.
    pub name: &'a str,
    /// `event_type`: the event's kind.
    pub kind: &'a str,
    /// `event_version`.
    pub version: Version,
    /// `level`.
    pub level: Level,
}

/// A resource field of the layer: what describes the emitting service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ResourceKey {
    /// `service`, set with `.service(..)`.
    Service,
    /// `service_version`.
    ServiceVersion,
    /// `environment`.
    Environment,
    /// `region`.
    Region,
    /// `host`.
    Host,
}

impl ResourceKey {
    /// Every resource key, in envelope order.
    pub const ALL: [ResourceKey; 5] = [
        ResourceKey::Service,
        ResourceKey::ServiceVersion,
        ResourceKey::Environment,
        ResourceKey::Region,
        ResourceKey::Host,
    ];

    /// The envelope key.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKey::Service => "service",
            ResourceKey::ServiceVersion => "service_version",
            ResourceKey::Environment => "environment",
            ResourceKey::Region => "region",
            ResourceKey::Host => "host",
        }
    }

    /// The key for an envelope key, if it is a resource one.
    pub fn from_key(key: &str) -> Option<ResourceKey> {
        ResourceKey::ALL.into_iter().find(|k| k.as_str() == key)
    }
}

/// An object of the envelope, in envelope order: `http`, `geo` and `source` when present,
/// `metadata` always, last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopeObject {
    /// `http`: the request's method, route, status, client IP, user agent and latency.
    Http,
    /// `geo`: where the client IP is, from a GeoIP database.
    Geo,
    /// `source`: the `emit!` call site.
    Source,
    /// `metadata`: the event's treated fields.
    Metadata,
}

impl EnvelopeObject {
    /// Every object, in envelope order.
    pub const ALL: [EnvelopeObject; 4] = [
        EnvelopeObject::Http,
        EnvelopeObject::Geo,
        EnvelopeObject::Source,
        EnvelopeObject::Metadata,
    ];

    /// The envelope key.
    pub const fn as_str(self) -> &'static str {
        match self {
            EnvelopeObject::Http => "http",
            EnvelopeObject::Geo => "geo",
            EnvelopeObject::Source => super::SOURCE,
            EnvelopeObject::Metadata => super::METADATA,
        }
    }

    /// The object for an envelope key, if it is one.
    pub fn from_key(key: &str) -> Option<EnvelopeObject> {
        EnvelopeObject::ALL.into_iter().find(|o| o.as_str() == key)
    }
}

/// Receives an envelope's parts, in envelope order: [`head`](Self::head) first, then each
/// [`resource`](Self::resource) field, then the top-level [`value`](Self::value)s (context
/// fields and payload fields lifted to the top), then each object between
/// [`begin_object`](Self::begin_object) and [`end_object`](Self::end_object), its members as
/// `value`s, `metadata` last. Objects do not nest; values inside them may have any shape.
pub trait EnvelopeVisitor {
    /// The head. Called first, once.
    fn head(&mut self, head: &EnvelopeHead<'_>);
    /// A resource field the layer sets.
    fn resource(&mut self, key: ResourceKey, value: &str);
    /// A value, at the top level or in the object last begun. An error stops the walk, and
    /// [`Envelope::visit`] returns it (`HttpSink` then counts the event dropped, with
    /// reason `serialize_error`).
    fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error>;
    /// An object starts; its members follow.
    fn begin_object(&mut self, object: EnvelopeObject);
    /// The object begun last ends.
    fn end_object(&mut self);
}

/// One value of an envelope, already treated: serialize it into any format, or read it
/// as the JSON value the NDJSON line holds for it.
#[derive(Clone, Copy)]
/// The flag says whether it is an `#[event(error)]` field's value.
pub struct FieldValue<'a>(Repr<'a>, bool);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Text(&'a str),
    Value(&'a dyn erased_serde::Serialize),
    Context(&'a ContextValue),
    Stored(&'a StoredValue),
    /// An `#[event(error)]` field.
    Error(ErrorJson<'a>),
}

impl<'a> FieldValue<'a> {
    pub(crate) fn text(text: &'a str) -> Self {
        FieldValue(Repr::Text(text), false)
    }

    pub(crate) fn stored(value: &'a StoredValue) -> Self {
        FieldValue(Repr::Stored(value), false)
    }

    pub(crate) fn stored_error(value: &'a StoredValue) -> Self {
        FieldValue(Repr::Stored(value), true)
    }

    /// Whether this is an `#[event(error)]` field's value: an object with `type`, `message`
    /// (unless the field is `error(redact_message)`) and `chain`. Formats with a place of
    /// their own for errors (OTLP's `exception.*` attributes) write it there.
    ///
    /// Read back from a line ([`StoredEnvelope`](super::StoredEnvelope)), a value is known
    /// as an error when this binary defines the event, with that name and major version.
    pub fn is_error(&self) -> bool {
        self.1
    }

    /// The value if it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self.0 {
            Repr::Text(text) => Some(text),
            Repr::Stored(StoredValue::Json(value)) => value.as_str(),
            Repr::Stored(_) | Repr::Error(_) => None,
            Repr::Context(ContextValue::Str(text)) => Some(text),
            Repr::Context(_) | Repr::Value(_) => None,
        }
    }

    /// The value as the envelope's NDJSON line reads back: maps with their keys sorted,
    /// integers beyond 64 bits and `f32`s as the `f64` their text parses to, `NaN` and
    /// infinities as `null`.
    pub fn to_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self.0 {
            Repr::Text(text) => Ok(serde_json::Value::String(text.to_owned())),
            Repr::Stored(StoredValue::Json(value)) => Ok(value.clone()),
            Repr::Stored(value) => super::value::stored_to_json_value(value, false),
            Repr::Value(value) => super::value::to_json_value(value),
            Repr::Context(value) => super::value::to_json_value(value),
            Repr::Error(error) => super::value::to_json_value(&error),
        }
    }

    /// As [`to_json_value`](Self::to_json_value), except that an integer beyond 64 bits
    /// (an `i128` or `u128` outside the range of `i64` and `u64`) becomes a string of its
    /// exact digits instead of a rounded `f64`: for formats whose numbers are at most 64
    /// bits wide, such as OTLP.
    pub fn to_exact_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self.0 {
            Repr::Text(_) | Repr::Error(_) | Repr::Stored(StoredValue::Json(_)) => {
                self.to_json_value()
            }
            Repr::Stored(value) => super::value::stored_to_json_value(value, true),
            Repr::Value(value) => super::value::to_json_value_exact(value),
            Repr::Context(value) => super::value::to_json_value_exact(value),
        }
    }
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::render::depth::limited(&Unbounded(self)).serialize(serializer)
    }
}

/// A field value written without the nesting bound (which [`FieldValue`] applies around it).
struct Unbounded<'v, 'a>(&'v FieldValue<'a>);

impl Serialize for Unbounded<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 .0 {
            Repr::Text(text) => serializer.serialize_str(text),
            Repr::Stored(value) => value.serialize(serializer),
            Repr::Value(value) => erased_serde::serialize(value, serializer),
            Repr::Context(value) => value.serialize(serializer),
            Repr::Error(error) => error.serialize(serializer),
        }
    }
}

impl fmt::Debug for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are treated already, but keep `Debug` from printing them.
        f.write_str("FieldValue")
    }
}

/// One event's envelope in a sink's batch: visit it to write any format from its parts.
#[derive(Clone, Copy)]
pub struct Envelope<'a> {
    pub(crate) payload: &'a dyn Payload,
    pub(crate) meta: &'a RecordMeta,
    pub(crate) config: &'a EnvelopeConfig,
    pub(crate) ctx: TreatmentContext<'a>,
}

impl Envelope<'_> {
    /// Hands the envelope's parts to `visitor`, in order: the same parts, treated the same
    /// way, as the NDJSON line. An error of the event's own `Serialize` or `Display`, or of
    /// the visitor, stops the walk.
    pub fn visit(&self, visitor: &mut dyn EnvelopeVisitor) -> Result<(), RenderError> {
        self.payload
            .visit(self.meta, self.config, self.ctx, visitor)
    }
}

impl fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("name", &self.payload.name())
            .field("event_id", &self.meta.event_id)
            .finish_non_exhaustive()
    }
}

/// Adapts an [`EnvelopeVisitor`] to the walk.
pub(crate) struct Erased<'v>(pub(crate) &'v mut dyn EnvelopeVisitor);

/// A `Sized` handle on a value, so that unsized values (`str`, slices) can be erased too.
struct ByRef<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for ByRef<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl FieldSink for Erased<'_> {
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        self.0
            .value(key, FieldValue(Repr::Value(&ByRef(value)), false))
    }

    fn text(&mut self, key: &str, text: &str) -> serde_json::Result<()> {
        self.0.value(key, FieldValue::text(text))
    }

    fn error(&mut self, key: &str, error: ErrorJson<'_>) -> serde_json::Result<()> {
        self.0.value(key, FieldValue(Repr::Error(error), true))
    }
}

impl Visit for Erased<'_> {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        self.0.head(head);
    }

    fn resource(&mut self, config: &EnvelopeConfig) {
        for (key, value) in walk::resource(config) {
            self.0.resource(key, value);
        }
    }

    fn context(&mut self, key: &str, value: &ContextValue) -> serde_json::Result<()> {
        self.0.value(key, FieldValue(Repr::Context(value), false))
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        self.0.begin_object(object);
    }

    fn end_object(&mut self) {
        self.0.end_object();
    }
}
