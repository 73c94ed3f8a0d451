//! Rendering an event's fields as sinks see them: the envelope's `metadata` object, through
//! [`FieldVisitor`] like every other output, so treatments apply in one place.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

use crate::model::fields::{DisplayField, EventField, FieldVisitor};
use crate::model::treatment::{self, TreatmentContext, REDACTED};
use crate::{Event, FieldSchema, HashKey};

/// Why an event could not be rendered. The message names the event and the field, never the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The field's own `Serialize` or `Display` implementation returned an error.
    #[error("field `{field}` of event `{event}` could not be serialized: {message}")]
    Serialize {
        /// The event name.
        event: &'static str,
        /// The field's output key.
        field: &'static str,
        /// What the implementation said.
        message: String,
    },
    /// The field's own `Serialize` or `Display` implementation panicked.
    #[error("field `{field}` of event `{event}` panicked while being serialized")]
    Panicked {
        /// The event name.
        event: &'static str,
        /// The field's output key.
        field: &'static str,
    },
}

impl RenderError {
    /// The error without the message of the user's own code, which may quote a value: for
    /// counters and logs that others read.
    pub(crate) fn without_message(&self) -> String {
        match self {
            RenderError::Serialize { event, field, .. } => {
                format!("field `{field}` of event `{event}` could not be serialized")
            }
            RenderError::Panicked { .. } => self.to_string(),
        }
    }
}

/// The event's `metadata` object exactly as sinks write it in the envelope: its fields after
/// treatments, keyed by output name, `None` fields omitted.
///
/// Fields whose output name is `user_id`, `session_id` or `request_id` are not in it: the
/// envelope carries them at its top level. Without a `hash_key`, hashed fields are
/// `"[REDACTED]"` (fail closed: never an unkeyed hash).
///
/// ```
/// use event_core::{render_metadata, Event, HashKey};
///
/// #[derive(Event)]
/// #[event(kind = "business")]
/// struct OrderPlaced {
///     order_id: u64,
///     #[event(mask)]
///     card_number: String,
///     #[event(hash)]
///     email: String,
/// }
///
/// let order = OrderPlaced { order_id: 7, card_number: "4111111111111111".into(), email: "a@b.c".into() };
/// let key = HashKey::new("k1", &[42; 32]).unwrap();
/// let metadata = render_metadata(&order, Some(&key));
/// assert_eq!(metadata["order_id"], 7);
/// assert_eq!(metadata["card_number"], "********1111");
/// assert!(metadata["email"].as_str().unwrap().starts_with("hmac-sha256:k1:"));
/// assert_eq!(render_metadata(&order, None)["email"], "[REDACTED]");
/// ```
///
/// # Panics
/// If a field's own `Serialize` or `Display` implementation fails or panics, with the message
/// of the [`RenderError`]. Use [`try_render_metadata`] to handle that instead.
pub fn render_metadata<E: Event>(event: &E, hash_key: Option<&HashKey>) -> serde_json::Value {
    match try_render_metadata(event, hash_key) {
        Ok(value) => value,
        Err(err) => panic!("{err}"),
    }
}

/// [`render_metadata`], returning an error instead of panicking when a field's own
/// `Serialize` or `Display` fails or panics.
pub fn try_render_metadata<E: Event>(
    event: &E,
    hash_key: Option<&HashKey>,
) -> Result<serde_json::Value, RenderError> {
    let ctx = TreatmentContext {
        hash_key,
        // The caller passed no key and knows it: nothing to count.
        hash_key_missing: None,
    };
    let current = Cell::new("");
    let metadata = Metadata {
        event,
        ctx,
        current: &current,
    };
    // User `Serialize` and `Display` code runs in here: its panics are caught and reported.
    match catch_unwind(AssertUnwindSafe(|| serde_json::to_value(&metadata))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(RenderError::Serialize {
            event: E::NAME,
            field: current.get(),
            message: err.to_string(),
        }),
        Err(_panic) => Err(RenderError::Panicked {
            event: E::NAME,
            field: current.get(),
        }),
    }
}

/// The metadata object of one event, as a `Serialize` value.
pub(crate) struct Metadata<'a, E> {
    pub(crate) event: &'a E,
    pub(crate) ctx: TreatmentContext<'a>,
    /// The key of the field being written, so a failure can name it.
    pub(crate) current: &'a Cell<&'static str>,
}

impl<E: Event> Serialize for Metadata<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        write_fields(
            &mut map,
            self.event,
            Select::Metadata,
            self.ctx,
            self.current,
        )?;
        map.end()
    }
}

/// Which of an event's fields to write.
#[derive(Clone, Copy)]
pub(crate) enum Select<'k> {
    /// Those that go into `metadata`: all but the envelope's own (`user_id`, ...).
    Metadata,
    /// The one with this output key, which the envelope writes at its top level.
    EnvelopeField(&'k str),
}

impl Select<'_> {
    /// Whether `field` is one of those selected.
    pub(crate) fn wants(self, field: &FieldSchema) -> bool {
        match self {
            Select::Metadata => !field.in_envelope(),
            Select::EnvelopeField(key) => field.key() == key,
        }
    }
}

/// Writes the selected fields of `event`, treated, as entries of `map`; returns how many.
pub(crate) fn write_fields<M: SerializeMap, E: Event>(
    map: &mut M,
    event: &E,
    select: Select<'_>,
    ctx: TreatmentContext<'_>,
    current: &Cell<&'static str>,
) -> Result<usize, M::Error> {
    let mut visitor = MapVisitor {
        map,
        select,
        ctx,
        current,
        written: 0,
        error: None,
    };
    event.__visit_fields(&mut visitor);
    match visitor.error {
        Some(err) => Err(err),
        None => Ok(visitor.written),
    }
}

/// Writes visited fields into a serde map, stopping at the first error.
struct MapVisitor<'a, 'k, M: SerializeMap> {
    map: &'a mut M,
    select: Select<'k>,
    ctx: TreatmentContext<'a>,
    current: &'a Cell<&'static str>,
    written: usize,
    error: Option<M::Error>,
}

impl<M: SerializeMap> MapVisitor<'_, '_, M> {
    /// Whether `field` is selected (and nothing failed before it).
    fn wants(&mut self, field: &'static FieldSchema) -> bool {
        let selected = self.select.wants(field);
        if selected {
            self.current.set(field.key());
        }
        self.error.is_none() && selected
    }

    fn entry(
        &mut self,
        field: &'static FieldSchema,
        value: Result<&str, treatment::DisplayFailed>,
    ) {
        let result = match value {
            Ok(text) => self
                .map
                .serialize_entry(field.key(), text)
                .map(|()| self.written += 1),
            Err(treatment::DisplayFailed) => Err(M::Error::custom(
                "its `Display` implementation returned an error",
            )),
        };
        self.error = result.err();
    }
}

impl<M: SerializeMap> FieldVisitor for MapVisitor<'_, '_, M> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.wants(field) {
            self.error = self.map.serialize_entry(field.key(), value).err();
            self.written += 1;
        }
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        if self.wants(field) {
            self.entry(field, Ok(REDACTED));
        }
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        if self.wants(field) {
            match treatment::mask(value, keep_last) {
                Ok(text) => self.entry(field, Ok(text.as_str())),
                Err(failed) => self.entry(field, Err(failed)),
            }
        }
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.wants(field) {
            match treatment::hash(value, self.ctx) {
                Ok(text) => self.entry(field, Ok(text.as_str())),
                Err(failed) => self.entry(field, Err(failed)),
            }
        }
    }
}
