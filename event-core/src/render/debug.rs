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

/// One field of an event, shown treated, for other `tracing` layers (`fmt`): computed only if a
/// layer records it. Hashed fields show `"[REDACTED]"` (the key is the `EventLayer`'s).
#[doc(hidden)]
pub struct FieldDebug<'a, E> {
    event: &'a E,
    key: &'static str,
}

impl<'a, E> FieldDebug<'a, E> {
    pub fn new(event: &'a E, key: &'static str) -> Self {
        FieldDebug { event, key }
    }
}

impl<E: Event> fmt::Debug for FieldDebug<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut visitor = OneField {
            key: self.key,
            out: f,
            result: Ok(()),
        };
        // Run for another layer on the emitting thread: a panic must not escape into the app.
        match crate::caught::catch(|| self.event.__visit_fields(&mut visitor)) {
            Ok(()) => visitor.result,
            Err(_) => visitor.out.write_str("<panicked>"),
        }
    }
}

/// Writes the one field with `key`, as `Debug` of its treated JSON value.
struct OneField<'a, 'b> {
    key: &'static str,
    out: &'a mut fmt::Formatter<'b>,
    result: fmt::Result,
}

impl FieldVisitor for OneField<'_, '_> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if field.key() == self.key {
            self.result = fmt::Debug::fmt(&AsJson(value), self.out);
        }
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        if field.key() == self.key {
            self.result = fmt::Debug::fmt(REDACTED, self.out);
        }
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        if field.key() == self.key {
            self.result = match treatment::mask(value, keep_last) {
                Ok(text) => fmt::Debug::fmt(text.as_str(), self.out),
                Err(_) => fmt::Debug::fmt(&Unrenderable, self.out),
            };
        }
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, _value: &T) {
        if field.key() == self.key {
            self.result = fmt::Debug::fmt(REDACTED, self.out);
        }
    }

    fn error(&mut self, field: &'static FieldSchema, error: ErrorRef<'_>) {
        if field.key() == self.key {
            self.result = fmt::Debug::fmt(&AsJson(&ErrorJson::new(field, error)), self.out);
        }
    }
}
