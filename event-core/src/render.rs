//! Rendering an event's fields as sinks see them: the envelope's `metadata` object, through
//! [`FieldVisitor`] like every other output, so treatments apply in one place.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

use crate::fields::{DisplayField, EventField, FieldVisitor};
use crate::treatment::{self, TreatmentContext, REDACTED};
use crate::{Event, FieldSchema, HashKey};

/// Hashed values rendered by [`render_metadata`] / [`try_render_metadata`] without a key.
static RENDER_HASH_KEY_MISSING: AtomicU64 = AtomicU64::new(0);

/// How many `hash` values [`render_metadata`] and [`try_render_metadata`] have written as
/// `"[REDACTED]"` in this process because they were given no [`HashKey`] (fail closed).
pub fn hash_key_missing_count() -> u64 {
    RENDER_HASH_KEY_MISSING.load(Ordering::Relaxed)
}

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

/// The event's `metadata` object exactly as sinks write it (SPEC §5): its fields after
/// treatments, keyed by output name, `None` fields omitted.
///
/// Fields whose output name is `user_id`, `session_id` or `request_id` are not in it: the
/// envelope carries them at its top level. Without a `hash_key`, hashed fields are
/// `"[REDACTED]"` and [`hash_key_missing_count`] rises.
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
        hash_key_missing: &RENDER_HASH_KEY_MISSING,
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
struct Metadata<'a, E> {
    event: &'a E,
    ctx: TreatmentContext<'a>,
    /// The key of the field being written, so a failure can name it.
    current: &'a Cell<&'static str>,
}

impl<E: Event> Serialize for Metadata<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut visitor = MapVisitor {
            map: serializer.serialize_map(None)?,
            ctx: self.ctx,
            current: self.current,
            error: None,
        };
        self.event.__visit_fields(&mut visitor);
        match visitor.error {
            Some(err) => Err(err),
            None => visitor.map.end(),
        }
    }
}

/// Writes visited fields into a serde map, stopping at the first error.
struct MapVisitor<'a, M: SerializeMap> {
    map: M,
    ctx: TreatmentContext<'a>,
    current: &'a Cell<&'static str>,
    error: Option<M::Error>,
}

impl<M: SerializeMap> MapVisitor<'_, M> {
    /// Whether `field` belongs in the metadata object (and nothing failed before it).
    fn wants(&mut self, field: &'static FieldSchema) -> bool {
        self.current.set(field.key());
        self.error.is_none() && !field.in_envelope()
    }

    fn entry(
        &mut self,
        field: &'static FieldSchema,
        value: Result<&str, treatment::DisplayFailed>,
    ) {
        let result = match value {
            Ok(text) => self.map.serialize_entry(field.key(), text),
            Err(treatment::DisplayFailed) => Err(M::Error::custom(
                "its `Display` implementation returned an error",
            )),
        };
        self.error = result.err();
    }
}

impl<M: SerializeMap> FieldVisitor for MapVisitor<'_, M> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.wants(field) {
            self.error = self.map.serialize_entry(field.key(), value).err();
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
