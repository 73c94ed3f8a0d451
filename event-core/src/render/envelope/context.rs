//! Context from enclosing spans, copied into the envelope so an event can be joined to its
//! request and trace: at the top level `request_id`, `trace_id`, `span_id`, `user_id`,
//! `session_id` and any added with `.context_field(..)`; the `http.*` span fields as the
//! `http` object and the `geo.*` ones as `geo`. Each span keeps the values
//! it recorded in its extensions (never in globals); an event copies, for each field, the value
//! of the innermost span that has it.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use tracing_core::field::{Field, Visit};

use super::view::EnvelopeObject;

/// The correlation fields every layer looks for, in envelope order.
pub const CORRELATION_FIELDS: [&str; 5] =
    ["trace_id", "span_id", "request_id", "user_id", "session_id"];

/// The members of the envelope's `http` object, in order. A span records them as
/// `http.method`, `http.route`, … (the request context layer does).
pub const HTTP_FIELDS: [&str; 6] = [
    "method",
    "route",
    "status",
    "client_ip",
    "user_agent",
    "latency_ms",
];

/// The members of the envelope's `geo` object, in order, recorded on a span as
/// `geo.country_iso_code`, ….
pub const GEO_FIELDS: [&str; 5] = [
    "country_iso_code",
    "region_iso_code",
    "city",
    "continent_code",
    "time_zone",
];

/// At most this many fields added with `.context_field(..)`.
pub(crate) const MAX_CUSTOM_CONTEXT_FIELDS: usize = 11;

const HTTP_START: usize = CORRELATION_FIELDS.len();
const GEO_START: usize = HTTP_START + HTTP_FIELDS.len();
const CUSTOM_START: usize = GEO_START + GEO_FIELDS.len();

/// A value a span recorded for a context field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ContextValue {
    Str(Arc<str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Serialize for ContextValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContextValue::Str(s) => serializer.serialize_str(s),
            ContextValue::I64(v) => serializer.serialize_i64(*v),
            ContextValue::U64(v) => serializer.serialize_u64(*v),
            ContextValue::F64(v) => serializer.serialize_f64(*v),
            ContextValue::Bool(v) => serializer.serialize_bool(*v),
        }
    }
}

/// Whether a span is the request context layer's `http_request` span, whose `http.*` and
/// `geo.*` fields become the envelope's objects.
pub(crate) fn is_request_span(metadata: &tracing_core::Metadata<'_>) -> bool {
    metadata.target() == "event_core::http" && metadata.name() == "http_request"
}

/// Which of [`CONTEXT_OBJECTS`] the field at `index` is a member of.
fn object_of(index: usize) -> Option<usize> {
    CONTEXT_OBJECTS
        .iter()
        .position(|(_, start, members)| (*start..start + members.len()).contains(&index))
}

/// The span fields a layer copies into envelopes. Each has an index: the correlation fields
/// first, then the `http.*` and `geo.*` members, then the custom fields.
#[derive(Clone, Debug)]
pub(crate) struct ContextFields {
    top: Vec<(usize, String)>,
}

/// The envelope's context objects: key, index of the first member, member names.
pub(crate) const CONTEXT_OBJECTS: [(EnvelopeObject, usize, &[&str]); 2] = [
    (EnvelopeObject::Http, HTTP_START, &HTTP_FIELDS),
    (EnvelopeObject::Geo, GEO_START, &GEO_FIELDS),
];

impl ContextFields {
    pub(crate) fn new(custom: &[String]) -> Self {
        let mut top: Vec<(usize, String)> = CORRELATION_FIELDS
            .iter()
            .enumerate()
            .map(|(i, name)| (i, name.to_string()))
            .collect();
        let mut count = 0;
        for name in custom {
            if !top.iter().any(|(_, n)| n == name) {
                top.push((CUSTOM_START + count, name.clone()));
                count += 1;
            }
        }
        ContextFields { top }
    }

    /// The top-level keys in envelope order (correlation, then custom) with their indexes.
    pub(crate) fn top_level(&self) -> &[(usize, String)] {
        &self.top
    }

    /// How many fields were added with `.context_field(..)` (repeats and standard ones not
    /// counted).
    pub(crate) fn custom_count(&self) -> usize {
        self.top.len() - CORRELATION_FIELDS.len()
    }

    fn index_of(&self, field: &Field) -> Option<usize> {
        let name = field.name();
        let position = |names: &[&str], name: &str| names.iter().position(|n| *n == name);
        if let Some(member) = name.strip_prefix("http.") {
            position(&HTTP_FIELDS, member).map(|i| HTTP_START + i)
        } else if let Some(member) = name.strip_prefix("geo.") {
            position(&GEO_FIELDS, member).map(|i| GEO_START + i)
        } else {
            self.top
                .iter()
                .find(|(_, n)| n == name)
                .map(|(index, _)| *index)
        }
    }
}

/// What one span recorded, stored in its extensions.
#[derive(Default, Debug)]
pub(crate) struct SpanContext {
    values: Vec<(u8, ContextValue)>,
}

impl SpanContext {
    /// Records the context fields among the values `record` shows (from `new_span` or
    /// `Span::record`).
    /// The `http.*` and `geo.*` members are taken only from `request_span`s (see
    /// [`is_request_span`]): other spans may use those names for other requests, such as an
    /// outbound call's.
    pub(crate) fn record(
        &mut self,
        fields: &ContextFields,
        request_span: bool,
        record: impl FnOnce(&mut dyn Visit),
    ) {
        record(&mut Recorder {
            fields,
            request_span,
            into: &mut self.values,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

struct Recorder<'a> {
    fields: &'a ContextFields,
    request_span: bool,
    into: &'a mut Vec<(u8, ContextValue)>,
}

impl Recorder<'_> {
    fn set(&mut self, field: &Field, value: ContextValue) {
        let Some(index) = self.fields.index_of(field) else {
            return;
        };
        if !self.request_span && object_of(index).is_some() {
            return;
        }
        let index = index as u8;
        match self.into.iter_mut().find(|(i, _)| *i == index) {
            Some((_, old)) => *old = value,
            None => self.into.push((index, value)),
        }
    }
}

impl Visit for Recorder<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, ContextValue::Str(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, ContextValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, ContextValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, ContextValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, ContextValue::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.fields.index_of(field).is_some() {
            self.set(field, ContextValue::Str(format!("{value:?}").into()));
        }
    }
}

/// The context an event found on its spans: for each field, the innermost span's value.
/// Only the fields present are kept, so an event outside any span carries nothing and
/// allocates nothing (it travels with every queued event: small matters).
#[derive(Clone, Debug, Default)]
pub(crate) struct Correlation {
    values: Vec<(u8, ContextValue)>,
}

impl Correlation {
    /// Fills the fields still empty from `span` (called innermost span first).
    /// The `http` and `geo` objects are taken whole from the innermost span that has any of
    /// their members (the request's), never mixed with members of other spans, such as an
    /// outbound call's `http.status`.
    pub(crate) fn inherit(&mut self, span: &SpanContext) {
        let objects_before = self.objects_present();
        for (index, value) in &span.values {
            let index_usize = usize::from(*index);
            if object_of(index_usize).is_some_and(|object| objects_before[object]) {
                continue;
            }
            if self.get(index_usize).is_none() {
                self.values.push((*index, value.clone()));
            }
        }
    }

    /// Whether a member of each context object is present.
    fn objects_present(&self) -> [bool; CONTEXT_OBJECTS.len()] {
        let mut present = [false; CONTEXT_OBJECTS.len()];
        for (index, _) in &self.values {
            if let Some(object) = object_of(usize::from(*index)) {
                present[object] = true;
            }
        }
        present
    }

    pub(crate) fn get(&self, index: usize) -> Option<&ContextValue> {
        self.values
            .iter()
            .find(|(i, _)| usize::from(*i) == index)
            .map(|(_, value)| value)
    }
}
