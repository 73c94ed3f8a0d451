//! The redacting `Debug` of every event: `Name { key: value, .. }`, with each field shown as
//! the sinks would write it.

use std::fmt;
use std::io;

use serde::Serialize;

use crate::model::error::{ErrorJson, ErrorRef};
use crate::model::fields::{DisplayField, EventField, FieldVisitor};
use crate::model::treatment::{self, REDACTED};
use crate::{Event, FieldSchema};

/// The body of every derived `Debug` impl: `Name { key: value, .. }` with treatments applied.
/// Hashed fields show `"[REDACTED]"`: `Debug` has no key, and an unkeyed hash would leak.
/// Used by the derive only.
#[doc(hidden)]
pub fn debug_event<E: Event>(
    event: &E,
    type_name: &str,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let mut visitor = DebugVisitor {
        out: f.debug_struct(type_name),
    };
    // User `Serialize`/`Display` code runs in here: a panic becomes `<panicked>`, not a crash
    // in whatever is formatting the event (a `fmt` layer, a log line).
    if crate::caught::catch(|| event.__visit_fields(&mut visitor)).is_err() {
        visitor.out.field("..", &Panicked);
    }
    visitor.out.finish()
}

struct Panicked;

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<panicked>")
    }
}

struct DebugVisitor<'a, 'b> {
    out: fmt::DebugStruct<'a, 'b>,
}

impl FieldVisitor for DebugVisitor<'_, '_> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        self.out.field(field.key(), &AsJson(value));
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        self.out.field(field.key(), &REDACTED);
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        match treatment::mask(value, keep_last) {
            Ok(text) => self.out.field(field.key(), &text.as_str()),
            Err(_) => self.out.field(field.key(), &Unrenderable),
        };
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, _value: &T) {
        self.out.field(field.key(), &REDACTED);
    }

    fn error(&mut self, field: &'static FieldSchema, error: ErrorRef<'_>) {
        self.out
            .field(field.key(), &AsJson(&ErrorJson::new(field, error)));
    }
}

/// Shows a value as the JSON sinks would write, without an intermediate `String`.
struct AsJson<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> fmt::Debug for AsJson<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct FmtWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl io::Write for FmtWriter<'_, '_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                // serde_json writes whole UTF-8 sequences per call.
                let text = std::str::from_utf8(buf).map_err(io::Error::other)?;
                self.0.write_str(text).map_err(io::Error::other)?;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let value = crate::render::depth::limited(self.0);
        crate::render::json::write_json(FmtWriter(f), &value)
            .or_else(|_| f.write_str("<unserializable>"))
    }
}

struct Unrenderable;

impl fmt::Debug for Unrenderable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<unrenderable>")
    }
}

/// Writes the one field with `key`, as [`FieldText`] does.
struct OneField<'a, 'b> {
    key: &'static str,
    out: &'a mut fmt::Formatter<'b>,
    result: fmt::Result,
}

impl OneField<'_, '_> {
    fn write_str(&mut self, text: &str) {
        self.result = write_escaped(text, self.out);
    }

    fn write_value<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.result = write_text(value, self.out);
    }
}

impl FieldVisitor for OneField<'_, '_> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if field.key() == self.key {
            self.write_value(value);
        }
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        if field.key() == self.key {
            self.write_str(REDACTED);
        }
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        if field.key() == self.key {
            match treatment::mask(value, keep_last) {
                Ok(text) => self.write_str(text.as_str()),
                Err(_) => self.result = fmt::Debug::fmt(&Unrenderable, self.out),
            }
        }
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, _value: &T) {
        if field.key() == self.key {
            self.write_str(REDACTED);
        }
    }

    fn error(&mut self, field: &'static FieldSchema, error: ErrorRef<'_>) {
        if field.key() == self.key {
            self.write_value(&ErrorJson::new(field, error));
        }
    }
}

/// One field's value for other `tracing` layers (`fmt`), typed where `tracing` has a type for
/// it: numbers and booleans as themselves, strings as strings, anything else (and every
/// treated value) as its text, computed only if a layer records it. Generated code builds one
/// per emitted field with [`TracingField`].
#[doc(hidden)]
pub enum TracingValue<'a, E: Event> {
    /// A value `tracing` records as it is: a number, a boolean, a string.
    Direct(&'a dyn tracing_core::field::Value),
    /// A constant text: a redacted or hashed value (hashed: the key is the `EventLayer`'s).
    Text(&'static str),
    /// An `f32`, as the `f64` its shortest text means.
    Float(f64),
    /// Any other value, or a treated one: its text, written when recorded.
    Lazy(tracing_core::field::DisplayValue<FieldText<'a, E>>),
    /// An `Option` field that is `None`: not recorded.
    Absent,
}

impl<'a, E: Event> TracingValue<'a, E> {
    /// The field with `key` of `event`, as text when a layer records it.
    pub fn lazy(event: &'a E, key: &'static str) -> Self {
        TracingValue::Lazy(tracing_core::field::display(FieldText { event, key }))
    }

    /// What the event's `ValueSet` holds for the field.
    pub fn as_value(&self) -> Option<&dyn tracing_core::field::Value> {
        match self {
            TracingValue::Direct(value) => Some(*value),
            TracingValue::Text(text) => Some(text),
            TracingValue::Float(value) => Some(value),
            TracingValue::Lazy(value) => Some(value),
            TracingValue::Absent => None,
        }
    }
}

/// A plain field's value, for [`TracingValue`]: `(&&&TracingField(value)).__tracing(..)` picks
/// [`TracingF32`] for an `f32`, [`TracingDirect`] for the other types `tracing` records as they
/// are, [`TracingText`] for the rest (each impl one reference less than the one before, as
/// method lookup tries the receiver's type first, then each type it dereferences to).
#[doc(hidden)]
pub struct TracingField<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait TracingF32<'a> {
    fn __tracing<E: Event>(&self, event: &'a E, key: &'static str) -> TracingValue<'a, E>;
}

impl<'a> TracingF32<'a> for &&TracingField<'a, f32> {
    fn __tracing<E: Event>(&self, _: &'a E, _: &'static str) -> TracingValue<'a, E> {
        // `tracing` widens an `f32` as it is (`0.1` → 0.10000000149011612); the sinks write
        // its shortest text (`0.1`), read here as the `f64` it means.
        let value = *self.0;
        let wide = if value.is_finite() {
            ryu::Buffer::new()
                .format_finite(value)
                .parse()
                .unwrap_or(f64::from(value))
        } else {
            f64::from(value)
        };
        TracingValue::Float(wide)
    }
}

#[doc(hidden)]
pub trait TracingDirect<'a> {
    fn __tracing<E: Event>(&self, event: &'a E, key: &'static str) -> TracingValue<'a, E>;
}

impl<'a, T: tracing_core::field::Value> TracingDirect<'a> for &TracingField<'a, T> {
    fn __tracing<E: Event>(&self, _: &'a E, _: &'static str) -> TracingValue<'a, E> {
        TracingValue::Direct(self.0)
    }
}

#[doc(hidden)]
pub trait TracingText<'a> {
    fn __tracing<E: Event>(&self, event: &'a E, key: &'static str) -> TracingValue<'a, E>;
}

impl<'a, T: ?Sized> TracingText<'a> for TracingField<'a, T> {
    fn __tracing<E: Event>(&self, event: &'a E, key: &'static str) -> TracingValue<'a, E> {
        TracingValue::lazy(event, key)
    }
}

/// One field of an event as text, treated: a value that is a JSON string as that string,
/// any other as its JSON. For [`TracingValue::Lazy`].
#[doc(hidden)]
pub struct FieldText<'a, E> {
    event: &'a E,
    key: &'static str,
}

impl<E: Event> fmt::Display for FieldText<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut visitor = OneField {
            key: self.key,
            out: f,
            result: Ok(()),
        };
        match crate::caught::catch(|| self.event.__visit_fields(&mut visitor)) {
            Ok(()) => visitor.result,
            Err(_) => visitor.out.write_str("<panicked>"),
        }
    }
}

/// `value` as [`FieldText`] writes it.
fn write_text<T: Serialize + ?Sized>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut json = Vec::new();
    if crate::render::json::write_json(&mut json, &crate::render::depth::limited(value)).is_err() {
        return f.write_str("<unserializable>");
    }
    match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::String(text)) => write_escaped(&text, f),
        _ => f.write_str(&String::from_utf8_lossy(&json)),
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`): `tracing`'s text formatter
/// writes a value recorded as text as it is, so a newline or an ANSI escape in a value could
/// forge a log line or repaint the terminal.
fn write_escaped(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for part in text.split_inclusive(char::is_control) {
        match part.char_indices().last() {
            Some((at, c)) if c.is_control() => {
                f.write_str(&part[..at])?;
                write!(f, "{}", c.escape_debug())?;
            }
            _ => f.write_str(part)?,
        }
    }
    Ok(())
}
