//! The one walk over an envelope's parts: their order and which are left out. The NDJSON
//! line and every [`EnvelopeVisitor`](super::EnvelopeVisitor) are written from it.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::context::{ContextValue, CONTEXT_OBJECTS};
use super::view::{EnvelopeHead, EnvelopeObject};
use super::{EnvelopeConfig, RecordMeta, ResourceKey, SOURCE_FIELDS};
use crate::model::error::{ErrorJson, ErrorRef};
use crate::model::fields::{DisplayField, EventField, FieldVisitor};
use crate::model::treatment::{self, TreatmentContext, REDACTED};
use crate::render::metadata::DISPLAY_FAILED;
use crate::{Event, FieldSchema, RenderError};

/// Where an event's fields go once treated: every [`Visit`]or, and `render_metadata`'s map.
pub(crate) trait FieldSink {
    /// A value: at the top level, or a member of the object last begun.
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> serde_json::Result<()>;
    /// A text value: treated text (redacted, masked, hashed) or a call site's string.
    fn text(&mut self, key: &str, text: &str) -> serde_json::Result<()>;
    /// An `#[event(error)]` field's value.
    fn error(&mut self, key: &str, error: ErrorJson<'_>) -> serde_json::Result<()> {
        self.value(key, &error)
    }
    /// An event field's value: [`value`](Self::value) under its key, unless the sink makes
    /// use of what the field's schema knows about its key.
    fn field_value<T: Serialize + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
    ) -> serde_json::Result<()> {
        self.value(field.key(), value)
    }
    /// An event field's treated text: [`text`](Self::text) under its key, as `field_value`.
    fn field_text(&mut self, field: &'static FieldSchema, text: &str) -> serde_json::Result<()> {
        self.text(field.key(), text)
    }
}

/// What the walk hands its parts to. Generic, so the NDJSON line is written without
/// dynamic dispatch per value; [`EnvelopeVisitor`](super::EnvelopeVisitor)s are adapted.
pub(crate) trait Visit: FieldSink {
    fn head(&mut self, head: &EnvelopeHead<'_>);
    /// The layer's resource fields, in order (`config` keeps them also pre-written).
    fn resource(&mut self, config: &EnvelopeConfig);
    /// A value a span recorded for a context field.
    fn context(&mut self, key: &str, value: &ContextValue) -> serde_json::Result<()>;
    fn begin_object(&mut self, object: EnvelopeObject);
    fn end_object(&mut self);
}

/// Walks `event`'s envelope for `visitor`, catching the panics of user code. On an error
/// the visitor may have seen part of the envelope.
pub(crate) fn render<E: Event, V: Visit>(
    event: &E,
    meta: &RecordMeta,
    config: &EnvelopeConfig,
    ctx: TreatmentContext<'_>,
    visitor: &mut V,
) -> Result<(), RenderError> {
    let current = Cell::new("");
    let result = crate::caught::catch(|| walk(event, meta, config, ctx, &current, &mut *visitor));
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(RenderError::serialize(E::NAME, current.get(), &err)),
        Err(_panic) => Err(RenderError::Panicked {
            event: E::NAME,
            field: current.get(),
        }),
    }
}

/// The envelope's timestamp: the emit time to the microsecond, as the NDJSON line writes
/// it, so every format carries the same instant.
pub(crate) fn envelope_time(time: SystemTime) -> SystemTime {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::new(since.as_secs(), since.subsec_micros() * 1_000)
}

fn walk<E: Event, V: Visit>(
    event: &E,
    meta: &RecordMeta,
    config: &EnvelopeConfig,
    ctx: TreatmentContext<'_>,
    current: &Cell<&'static str>,
    visitor: &mut V,
) -> serde_json::Result<()> {
    visitor.head(&EnvelopeHead {
        timestamp: envelope_time(meta.timestamp),
        event_id: meta.event_id,
        name: E::NAME,
        kind: E::KIND.as_str(),
        version: E::VERSION,
        level: meta.level(E::LEVEL),
    });
    visitor.resource(config);
    let fields = E::schema().fields();
    for (index, name) in config.context.top_level() {
        // A payload field with this key overrides the span's value (the event is more specific
        // than an enclosing span), unless it is `None`.
        let field = fields.iter().find(|f| f.in_envelope() && f.key() == name);
        let from_payload = match field {
            Some(field) => visit_fields(event, Select::Field(field), ctx, current, visitor)? > 0,
            None => false,
        };
        if !from_payload {
            if let Some(value) = meta.correlation.get(*index) {
                visitor.context(name, value)?;
            }
        }
    }
    for (object, start, members) in CONTEXT_OBJECTS {
        let present = |offset: usize| meta.correlation.get(start + offset);
        if (0..members.len()).any(|offset| present(offset).is_some()) {
            visitor.begin_object(object);
            for (offset, name) in members.iter().enumerate() {
                if let Some(value) = present(offset) {
                    visitor.context(name, value)?;
                }
            }
            visitor.end_object();
        }
    }
    if let (true, Some(callsite)) = (config.source, meta.callsite) {
        visitor.begin_object(EnvelopeObject::Source);
        let [module, file, line] = SOURCE_FIELDS;
        if let Some(value) = callsite.module_path() {
            visitor.text(module, value)?;
        }
        if let Some(value) = callsite.file() {
            visitor.text(file, value)?;
        }
        if let Some(value) = callsite.line() {
            visitor.value(line, &value)?;
        }
        visitor.end_object();
    }
    visitor.begin_object(EnvelopeObject::Metadata);
    visit_fields(event, Select::Metadata, ctx, current, visitor)?;
    visitor.end_object();
    Ok(())
}

/// The resource fields of `config`, in order.
pub(crate) fn resource(config: &EnvelopeConfig) -> impl Iterator<Item = (ResourceKey, &str)> {
    config
        .resource
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
}

/// Which of an event's fields to visit.
#[derive(Clone, Copy)]
pub(crate) enum Select<'k> {
    /// Those that go into `metadata`: all but the envelope's own (`user_id`, ...).
    Metadata,
    /// This one (of the event's schema), which the envelope writes at its top level. Found by
    /// address: comparing keys for every field of every such walk showed in profiles.
    Field(&'k FieldSchema),
}

impl Select<'_> {
    /// Whether `field` is one of those selected.
    fn wants(self, field: &FieldSchema) -> bool {
        match self {
            Select::Metadata => !field.in_envelope(),
            Select::Field(wanted) => std::ptr::eq(field, wanted),
        }
    }
}

/// Hands the selected fields of `event`, treated, to `visitor`; returns how many. On an
/// error, `current` names the field that failed.
pub(crate) fn visit_fields<E: Event, V: FieldSink>(
    event: &E,
    select: Select<'_>,
    ctx: TreatmentContext<'_>,
    current: &Cell<&'static str>,
    visitor: &mut V,
) -> serde_json::Result<usize> {
    let mut fields = Fields {
        visitor,
        select,
        ctx,
        current,
        written: 0,
        error: None,
    };
    event.__visit_fields(&mut fields);
    match fields.error {
        Some(err) => Err(err),
        None => Ok(fields.written),
    }
}

/// Treats visited fields and passes the selected ones on, stopping at the first error.
struct Fields<'a, 'k, V> {
    visitor: &'a mut V,
    select: Select<'k>,
    ctx: TreatmentContext<'a>,
    current: &'a Cell<&'static str>,
    written: usize,
    error: Option<serde_json::Error>,
}

impl<V: FieldSink> Fields<'_, '_, V> {
    /// Whether `field` is selected (and nothing failed before it).
    fn wants(&mut self, field: &'static FieldSchema) -> bool {
        if self.error.is_some() || !self.select.wants(field) {
            return false;
        }
        self.current.set(field.key());
        self.written += 1;
        true
    }

    fn text(&mut self, field: &'static FieldSchema, text: Result<&str, treatment::DisplayFailed>) {
        self.error = match text {
            Ok(text) => self.visitor.field_text(field, text).err(),
            Err(treatment::DisplayFailed) => Some(serde::ser::Error::custom(DISPLAY_FAILED)),
        };
    }
}

impl<V: FieldSink> FieldVisitor for Fields<'_, '_, V> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.wants(field) {
            self.error = self.visitor.field_value(field, value).err();
        }
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        if self.wants(field) {
            self.text(field, Ok(REDACTED));
        }
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        if self.wants(field) {
            let masked = treatment::mask(value, keep_last);
            self.text(
                field,
                masked.as_ref().map(|text| text.as_str()).map_err(|e| *e),
            );
        }
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.wants(field) {
            let hashed = treatment::hash(value, self.ctx);
            self.text(
                field,
                hashed.as_ref().map(|text| text.as_str()).map_err(|e| *e),
            );
        }
    }

    fn error(&mut self, field: &'static FieldSchema, error: ErrorRef<'_>) {
        if self.wants(field) {
            self.error = self
                .visitor
                .error(field.key(), ErrorJson::new(field, error))
                .err();
        }
    }
}
