//! How generated code hands an event's fields to the renderers, treatment by treatment.
//!
//! The derive writes one `__visit_fields` per event: plain fields go to [`FieldVisitor::value`],
//! treated ones to `redacted`, `masked` or `hashed`, skipped ones nowhere. Every output
//! (metadata, `Debug`, and the pipeline's envelope) is a visitor, so treatments cannot be
//! forgotten by one of them.

use std::fmt::Display;

use crate::FieldSchema;

/// Receives an event's fields. `field` is the field's entry in its event's schema.
pub trait FieldVisitor {
    /// A field emitted as its serde value.
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T);
    /// A `redact` field: its value is not even passed.
    fn redacted(&mut self, field: &'static FieldSchema);
    /// A `mask` field.
    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    );
    /// A `hash` field.
    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T);
}

/// A type an event field may have: `serde::Serialize` for the value and
/// `schemars::JsonSchema` for the event's schema.
#[diagnostic::on_unimplemented(
    message = "the field type `{Self}` cannot be part of an event",
    label = "`{Self}` needs `serde::Serialize` and `schemars::JsonSchema`",
    note = "derive both on the type: `#[derive(serde::Serialize, schemars::JsonSchema)]`",
    note = "or keep the field out of every output with `#[event(skip)]`"
)]
pub trait EventField: serde::Serialize + schemars::JsonSchema {}

impl<T: serde::Serialize + schemars::JsonSchema + ?Sized> EventField for T {}

/// A plain field's value on its way to a visitor, picked by autoref specialization: a type
/// that is [`EventField`] goes to [`FieldVisitor::value`]; any other type finds
/// [`VisitUnsupportedField`] instead, which never runs, because `field_schema::<T>` has already
/// failed to compile for that type. So a bad field type is reported once, at the type.
#[doc(hidden)]
pub struct PlainField<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait VisitPlainField {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: EventField + ?Sized> VisitPlainField for PlainField<'_, T> {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema) {
        visitor.value(field, self.0);
    }
}

#[doc(hidden)]
pub trait VisitUnsupportedField {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: ?Sized> VisitUnsupportedField for &PlainField<'_, T> {
    fn __visit<V: FieldVisitor>(&self, _: &mut V, _: &'static FieldSchema) {
        unreachable!("a field type that is not `EventField` does not compile")
    }
}

/// A type a `mask` or `hash` field may have: the treatment reads its `Display` text.
#[diagnostic::on_unimplemented(
    message = "`mask` and `hash` need a field type that implements `Display`; `{Self}` does not",
    label = "`{Self}` does not implement `std::fmt::Display`",
    note = "implement `std::fmt::Display` for `{Self}`, or use `#[event(redact)]` or `#[event(skip)]`"
)]
pub trait DisplayField: Display {}

impl<T: Display + ?Sized> DisplayField for T {}
