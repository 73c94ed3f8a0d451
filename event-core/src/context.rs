//! Correlation fields from enclosing spans, copied to the envelope's top level so an event can
//! be joined to its request and trace: `request_id`, `trace_id`, `span_id`,
//! `user_id`, `session_id`, and any added with `.context_field(..)`. Each span keeps the values
//! it recorded in its extensions (never in globals); an event copies, for each field, the value
//! of the innermost span that has it.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use tracing_core::field::{Field, Visit};

/// The correlation fields every layer looks for, in envelope order.
pub const CORRELATION_FIELDS: [&str; 5] =
    ["trace_id", "span_id", "request_id", "user_id", "session_id"];

/// At most this many context fields in all (the five standard ones included).
pub(crate) const MAX_CONTEXT_FIELDS: usize = 16;

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

/// The context field names a layer copies, standard ones first.
#[derive(Clone, Debug)]
pub(crate) struct ContextFields {
    names: Vec<String>,
}

impl ContextFields {
    pub(crate) fn new(custom: &[String]) -> Self {
        let mut names: Vec<String> = CORRELATION_FIELDS.iter().map(|s| s.to_string()).collect();
        for name in custom {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        ContextFields { names }
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    fn index_of(&self, field: &Field) -> Option<usize> {
        self.names.iter().position(|name| name == field.name())
    }
}

/// What one span recorded, stored in its extensions.
#[derive(Default, Debug)]
pub(crate) struct SpanContext {
    values: [Option<ContextValue>; MAX_CONTEXT_FIELDS],
}

impl SpanContext {
    /// Records the context fields among the values `record` shows (from `new_span` or
    /// `Span::record`).
    pub(crate) fn record(&mut self, fields: &ContextFields, record: impl FnOnce(&mut dyn Visit)) {
        record(&mut Recorder {
            fields,
            into: &mut self.values,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }
}

struct Recorder<'a> {
    fields: &'a ContextFields,
    into: &'a mut [Option<ContextValue>; MAX_CONTEXT_FIELDS],
}

impl Recorder<'_> {
    fn set(&mut self, field: &Field, value: ContextValue) {
        if let Some(index) = self.fields.index_of(field) {
            self.into[index] = Some(value);
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
    pub(crate) fn inherit(&mut self, span: &SpanContext) {
        for (index, value) in span.values.iter().enumerate() {
            let Some(value) = value else { continue };
            if self.get(index).is_none() {
                self.values.push((index as u8, value.clone()));
            }
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<&ContextValue> {
        self.values
            .iter()
            .find(|(i, _)| usize::from(*i) == index)
            .map(|(_, value)| value)
    }
}
