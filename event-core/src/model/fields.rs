//! How generated code hands an event's fields to the renderers, treatment by treatment.
//!
//! The derive writes one `__visit_fields` per event: plain fields go to [`FieldVisitor::value`],
//! treated ones to `redacted`, `masked` or `hashed`, errors to `error`, skipped ones nowhere. Every output
//! (metadata, `Debug`, and the pipeline's envelope) is a visitor, so treatments cannot be
//! forgotten by one of them.

use std::fmt::Display;

use crate::model::error::ErrorRef;
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
    /// An `error` field.
    fn error(&mut self, field: &'static FieldSchema, error: ErrorRef<'_>);
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

/// A plain field's value on its way to a visitor. Generated code calls
/// `(&&PlainField(value)).__visit(..)`, and autoref specialization picks, in this order:
/// 1. [`VisitOptionValue`] for an `Option` the derive could not see as one (an alias, or the
///    inner value of `Option<Option<T>>`): a compile error, since `None` would be written as
///    `null` where the schema promises the key is left out;
/// 2. [`VisitPlainField`] for an [`EventField`]: the value goes to [`FieldVisitor::value`];
/// 3. [`VisitUnsupportedField`] for anything else: never runs, because `field_schema::<T>`
///    already fails to compile for that type, so a bad type is reported once, at the type.
#[doc(hidden)]
pub struct PlainField<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait VisitOptionValue {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema)
    where
        Self: WrittenAsOption;
}

impl<T> VisitOptionValue for &PlainField<'_, Option<T>> {
    fn __visit<V: FieldVisitor>(&self, _: &mut V, _: &'static FieldSchema)
    where
        Self: WrittenAsOption,
    {
        unreachable!("`WrittenAsOption` has no impls")
    }
}

/// Never implemented: it exists for its message.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this field is an `Option` that is not written `Option<...>`, so `None` would be written as `null`",
    label = "an `Option` behind an alias, or nested in another `Option`",
    note = "write the field's type as `Option<T>` (not an alias, and not `Option<Option<T>>`), so `None` leaves the key out"
)]
pub trait WrittenAsOption {}

#[doc(hidden)]
pub trait VisitPlainField {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: EventField + ?Sized> VisitPlainField for &&PlainField<'_, T> {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema) {
        visitor.value(field, self.0);
    }
}

#[doc(hidden)]
pub trait VisitUnsupportedField {
    fn __visit<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: ?Sized> VisitUnsupportedField for PlainField<'_, T> {
    fn __visit<V: FieldVisitor>(&self, _: &mut V, _: &'static FieldSchema) {
        unreachable!("a field type that is not `EventField` does not compile")
    }
}

/// A field written `Option<T>`: the derive reads it through this trait, so a type that is only
/// spelled `Option` (the user's own) is reported instead of misread.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the derive reads a field written `Option<...>` as optional, but `{Self}` is not `std::option::Option`",
    label = "not `std::option::Option`",
    note = "if `Option` names your own type here, write its path (such as `self::Option<T>`) so the derive does not take it for `std::option::Option`"
)]
pub trait OptionField<T> {
    fn __as_option(&self) -> Option<&T>;
}

impl<T> OptionField<T> for Option<T> {
    fn __as_option(&self) -> Option<&T> {
        self.as_ref()
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
