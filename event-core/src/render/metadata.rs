//! Rendering an event's fields as sinks see them: the envelope's `metadata` object, from the
//! same treated fields the envelope walk hands every output, so treatments apply in one place.

use std::cell::Cell;

use serde::Serialize;

use crate::model::treatment::TreatmentContext;
use crate::render::envelope::walk::{visit_fields, FieldSink, Select};
use crate::{Event, HashKey};

/// Why an event could not be rendered. The message names the event and the field, never the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The field's value could not be written.
    #[error("field `{field}` of event `{event}` could not be serialized: {message}")]
    Serialize {
        /// The event name.
        event: &'static str,
        /// The field's output key.
        field: &'static str,
        /// Why, without the value: the framework's own reason (a value nested too deeply, a
        /// `Display` that returned an error, a map key that is not a string), or that the
        /// field type's own `Serialize` returned an error. That error's message is not kept,
        /// as it may quote the value.
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

/// The reasons the framework (and `serde_json`) give for a value they cannot write: none
/// quotes the value.
const OWN_REASONS: [&str; 5] = [
    DISPLAY_FAILED,
    "key must be a string",
    "float key must be finite",
    "float key must be finite (got NaN or +/-inf)",
    "a map value without its key",
];

/// The reason written for an error of the field type's own `Serialize`.
const USER_ERROR: &str = "its `Serialize` implementation returned an error (its message is not \
     shown, as it may quote the value)";

/// The error a `Display` that failed becomes.
pub(crate) const DISPLAY_FAILED: &str = "its `Display` implementation returned an error";

impl RenderError {
    /// Field `field` of `event` failed with `err`: its reason if the framework gave it, else
    /// only that the field type's `Serialize` failed.
    pub(crate) fn serialize(
        event: &'static str,
        field: &'static str,
        err: &serde_json::Error,
    ) -> RenderError {
        let text = err.to_string();
        let own = OWN_REASONS.contains(&text.as_str()) || crate::render::depth::is_too_deep(&text);
        RenderError::Serialize {
            event,
            field,
            message: if own { text } else { USER_ERROR.to_owned() },
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
    // User `Serialize` and `Display` code runs in here: its panics are caught and reported.
    let rendered = crate::caught::catch(|| {
        let mut map = MetadataMap(serde_json::Map::new());
        visit_fields(event, Select::Metadata, ctx, &current, &mut map)
            .map(|_| serde_json::Value::Object(map.0))
    });
    match rendered {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(RenderError::serialize(E::NAME, current.get(), &err)),
        Err(_panic) => Err(RenderError::Panicked {
            event: E::NAME,
            field: current.get(),
        }),
    }
}

/// The `metadata` object being built: the same treated fields the envelope walk hands its
/// visitors, as JSON values (a later field of the same key replaces an earlier one, as in a
/// JSON object read back).
struct MetadataMap(serde_json::Map<String, serde_json::Value>);

impl FieldSink for MetadataMap {
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        let value = serde_json::to_value(crate::render::depth::limited(value))?;
        self.0.insert(key.to_owned(), value);
        Ok(())
    }

    fn text(&mut self, key: &str, text: &str) -> serde_json::Result<()> {
        self.0
            .insert(key.to_owned(), serde_json::Value::String(text.to_owned()));
        Ok(())
    }
}
