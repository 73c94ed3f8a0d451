//! `#[event(error)]` fields: an error written as `{type, message, chain}`, where `type` is the
//! Rust type of the error and `chain` the messages of its sources, outermost first. With
//! `#[event(error(redact_message))]` only the types are written: `{type, chain: [types…]}`.
//!
//! Generated code calls `(&&ErrorValue(value)).__visit_error(..)`, and autoref specialization
//! picks, in this order:
//! 1. [`VisitDynError`] for the trait objects behind a pointer (`Box<dyn Error + Send (+
//!    Sync)>`, `Arc<dyn Error + Send + Sync>`, which `Box` does not make an `Error` itself) and
//!    [`CapturedError`]: their type is read from the error inside;
//! 2. [`VisitStdError`] for any other type that implements `std::error::Error`;
//! 3. [`VisitNotAnError`] for anything else: a compile error that says what to write instead.

use std::any::type_name;
use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::model::fields::FieldVisitor;
use crate::{FieldSchema, Treatment};

/// How many sources of an error are written at most: a `source()` that returns its own error
/// would otherwise never end. Sources past it are left out.
pub const MAX_ERROR_CHAIN: usize = 32;

/// What `type` says of an error whose type cannot be read: the value of a `dyn Error` that is
/// none of the standard library's errors nor `serde_json::Error`.
pub const UNKNOWN_ERROR_TYPE: &str = "dyn core::error::Error";

/// An error on its way to a visitor: the outermost error and how to name its type.
#[derive(Clone, Copy)]
pub struct ErrorRef<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Live {
        /// The field's type, when it is not a trait object.
        type_name: Option<&'static str>,
        error: &'a (dyn Error + 'static),
    },
    Captured(&'a CapturedError),
}

impl<'a> ErrorRef<'a> {
    fn live<T: ?Sized>(error: &'a (dyn Error + 'static)) -> Self {
        ErrorRef(Repr::Live {
            type_name: concrete_type_name(type_name::<T>()),
            error,
        })
    }

    /// The Rust type of the outermost error.
    pub fn type_name(&self) -> &'a str {
        match self.0 {
            Repr::Live { type_name, error } => type_name.unwrap_or_else(|| dyn_type_name(error)),
            Repr::Captured(captured) => captured.type_name,
        }
    }
}

/// The sources of `error`, outermost first, at most [`MAX_ERROR_CHAIN`].
fn sources<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(error.source(), |&e| e.source()).take(MAX_ERROR_CHAIN)
}

/// `name` without the references and smart pointers around it (`&`, `Box<..>`, `Arc<..>`), or
/// `None` when what is inside is a trait object.
fn concrete_type_name(mut name: &'static str) -> Option<&'static str> {
    loop {
        if let Some(rest) = name.strip_prefix("&mut ").or(name.strip_prefix('&')) {
            name = rest;
            continue;
        }
        let unwrapped = ["alloc::boxed::Box<", "alloc::sync::Arc<"]
            .iter()
            .find_map(|pointer| name.strip_prefix(pointer)?.strip_suffix('>'));
        match unwrapped {
            Some(inner) => name = inner,
            None => break,
        }
    }
    (!name.starts_with("dyn ")).then_some(name)
}

/// The type of the error behind a trait object: one of the standard library's (or
/// `serde_json`'s) errors, found by downcasting, else [`UNKNOWN_ERROR_TYPE`]. A trait object
/// does not say its type otherwise.
fn dyn_type_name(error: &(dyn Error + 'static)) -> &'static str {
    macro_rules! known {
        ($($ty:ty),* $(,)?) => {
            $(if error.is::<$ty>() {
                return type_name::<$ty>();
            })*
        };
    }
    known!(
        std::io::Error,
        std::fmt::Error,
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::num::TryFromIntError,
        std::str::ParseBoolError,
        std::str::Utf8Error,
        std::string::FromUtf8Error,
        std::string::FromUtf16Error,
        std::char::ParseCharError,
        std::char::CharTryFromError,
        std::net::AddrParseError,
        std::time::SystemTimeError,
        std::array::TryFromSliceError,
        std::env::VarError,
        std::ffi::NulError,
        std::sync::mpsc::RecvError,
        std::sync::mpsc::RecvTimeoutError,
        std::sync::mpsc::TryRecvError,
        std::cell::BorrowError,
        std::cell::BorrowMutError,
        serde_json::Error,
    );
    UNKNOWN_ERROR_TYPE
}

/// An error field as JSON: `{"type", "message", "chain": [messages…]}`, or with
/// `redact_message`, `{"type", "chain": [types…]}`.
#[derive(Clone, Copy)]
pub(crate) struct ErrorJson<'a> {
    error: ErrorRef<'a>,
    redact_message: bool,
}

impl<'a> ErrorJson<'a> {
    pub(crate) fn new(field: &FieldSchema, error: ErrorRef<'a>) -> Self {
        ErrorJson {
            error,
            redact_message: matches!(
                field.treatment(),
                Treatment::Error {
                    redact_message: true
                }
            ),
        }
    }
}

impl Serialize for ErrorJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let error = self.error;
        let mut map = serializer.serialize_map(Some(if self.redact_message { 2 } else { 3 }))?;
        map.serialize_entry("type", error.type_name())?;
        if !self.redact_message {
            map.serialize_entry("message", &Message(error))?;
        }
        map.serialize_entry(
            "chain",
            &Chain {
                error,
                types: self.redact_message,
            },
        )?;
        map.end()
    }
}

/// The outermost error's message.
struct Message<'a>(ErrorRef<'a>);

impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 .0 {
            Repr::Live { error, .. } => serializer.collect_str(error),
            Repr::Captured(captured) => serializer.serialize_str(&captured.message),
        }
    }
}

/// The sources, as their messages or their types.
struct Chain<'a> {
    error: ErrorRef<'a>,
    types: bool,
}

impl Serialize for Chain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // No length: a `source()` is user code, and may not answer the same twice.
        let mut seq = serializer.serialize_seq(None)?;
        match self.error.0 {
            Repr::Live { error, .. } => {
                for source in sources(error) {
                    if self.types {
                        seq.serialize_element(dyn_type_name(source))?;
                    } else {
                        seq.serialize_element(&DisplayStr(source))?;
                    }
                }
            }
            Repr::Captured(captured) => {
                for (type_name, message) in &captured.chain {
                    if self.types {
                        seq.serialize_element(type_name)?;
                    } else {
                        seq.serialize_element(message)?;
                    }
                }
            }
        }
        seq.end()
    }
}

struct DisplayStr<'a>(&'a (dyn Error + 'static));

impl Serialize for DisplayStr<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// An error taken apart when it is created: its type, its message and its sources' types and
/// messages, owned. For an error the code keeps using after the event, such as an
/// `anyhow::Error` it returns: an event owns its data (it is written on a background thread
/// after `emit!` returns), so it cannot borrow the error.
///
/// ```
/// use event_core::{CapturedError, Event};
///
/// #[derive(Event)]
/// #[event(kind = "error")]
/// struct ImportFailed {
///     #[event(error)]
///     error: CapturedError,
/// }
///
/// fn import() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     Err("line 3: not a number".parse::<u32>().unwrap_err().into())
/// }
///
/// if let Err(err) = import() {
///     let event = ImportFailed { error: CapturedError::from(&*err) };
///     assert_eq!(event.error.type_name(), "core::num::error::ParseIntError");
///     // `err` is still yours: return it, log it.
/// }
/// ```
pub struct CapturedError {
    type_name: &'static str,
    message: String,
    chain: Vec<(&'static str, String)>,
}

impl CapturedError {
    /// Captures `error`: its type, message and sources (at most [`MAX_ERROR_CHAIN`]).
    pub fn new<E: Error + 'static>(error: &E) -> CapturedError {
        Self::capture(ErrorRef::live::<E>(error))
    }

    fn capture(error: ErrorRef<'_>) -> CapturedError {
        let Repr::Live { type_name, error } = error.0 else {
            unreachable!("captured from a live error")
        };
        CapturedError {
            type_name: type_name.unwrap_or_else(|| dyn_type_name(error)),
            message: display_text(error),
            chain: sources(error)
                .map(|source| (dyn_type_name(source), display_text(source)))
                .collect(),
        }
    }

    /// The Rust type of the error captured.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// `error`'s `Display` text; a `Display` that fails or panics (user code, run on the caller's
/// thread here) gives a text that says so instead of unwinding into the app.
fn display_text(error: &(dyn Error + 'static)) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    match crate::caught::catch(|| write!(text, "{error}")) {
        Ok(Ok(())) => text,
        Ok(Err(_)) => "<Display failed>".to_owned(),
        Err(_) => "<panicked>".to_owned(),
    }
}

impl<E: Error + 'static> From<&E> for CapturedError {
    fn from(error: &E) -> Self {
        CapturedError::new(error)
    }
}

macro_rules! captured_from_dyn {
    ($($ty:ty),*) => {$(
        impl From<&$ty> for CapturedError {
            fn from(error: &$ty) -> Self {
                CapturedError::capture(ErrorRef::live::<$ty>(error))
            }
        }
    )*};
}

captured_from_dyn!(
    dyn Error + 'static,
    dyn Error + Send + 'static,
    dyn Error + Send + Sync + 'static
);

impl fmt::Debug for CapturedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message may hold user input: only the types are shown.
        f.debug_struct("CapturedError")
            .field("type", &self.type_name)
            .field(
                "chain",
                &self.chain.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// An error field's value. Generated code only; see the module docs.
#[doc(hidden)]
pub struct ErrorValue<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait VisitStdError {
    fn __visit_error<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: Error + 'static> VisitStdError for &&ErrorValue<'_, T> {
    fn __visit_error<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema) {
        visitor.error(field, ErrorRef::live::<T>(self.0));
    }
}

/// The error types that do not implement `std::error::Error` themselves.
#[doc(hidden)]
pub trait DynErrorField {
    fn __error_ref(&self) -> ErrorRef<'_>;
}

macro_rules! dyn_error_field {
    ($($ty:ty),*) => {$(
        impl DynErrorField for $ty {
            fn __error_ref(&self) -> ErrorRef<'_> {
                ErrorRef::live::<$ty>(&**self)
            }
        }
    )*};
}

dyn_error_field!(
    Box<dyn Error + Send + 'static>,
    Box<dyn Error + Send + Sync + 'static>,
    Arc<dyn Error + Send + Sync + 'static>
);

impl DynErrorField for CapturedError {
    fn __error_ref(&self) -> ErrorRef<'_> {
        ErrorRef(Repr::Captured(self))
    }
}

#[doc(hidden)]
pub trait VisitDynError {
    fn __visit_error<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema);
}

impl<T: DynErrorField + ?Sized> VisitDynError for &ErrorValue<'_, T> {
    fn __visit_error<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema) {
        visitor.error(field, self.0.__error_ref());
    }
}

#[doc(hidden)]
pub trait VisitNotAnError {
    fn __visit_error<V: FieldVisitor>(&self, visitor: &mut V, field: &'static FieldSchema)
    where
        Self: IsErrorField;
}

impl<T: ?Sized> VisitNotAnError for ErrorValue<'_, T> {
    fn __visit_error<V: FieldVisitor>(&self, _: &mut V, _: &'static FieldSchema)
    where
        Self: IsErrorField,
    {
        unreachable!("`ErrorType` has no impls")
    }
}

/// Holds for no type: reaching it means the field is not an error (see [`ErrorType`]).
#[doc(hidden)]
pub trait IsErrorField {}

impl<T: ErrorType + ?Sized> IsErrorField for ErrorValue<'_, T> {}

/// Never implemented: it exists for its message.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[event(error)]` needs an error, and `{Self}` is not one",
    label = "`{Self}` does not implement `std::error::Error`",
    note = "an error field's type implements `std::error::Error`, or is `Box<dyn std::error::Error + Send + Sync>`, `Box<dyn std::error::Error + Send>`, `Arc<dyn std::error::Error + Send + Sync>` or `event_core::CapturedError`",
    note = "for an `anyhow::Error` or an `eyre::Report`, declare the field `Box<dyn std::error::Error + Send + Sync>` and pass `err.into()`, or, to keep the error, declare it `event_core::CapturedError` and pass `CapturedError::from(&*err)`"
)]
pub trait ErrorType {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_pointers_and_references_are_seen_through() {
        assert_eq!(
            concrete_type_name(type_name::<&Box<std::io::Error>>()),
            Some("std::io::error::Error")
        );
        assert_eq!(
            concrete_type_name(type_name::<Arc<std::fmt::Error>>()),
            Some("core::fmt::Error")
        );
        assert_eq!(
            concrete_type_name(type_name::<Box<dyn Error + Send + Sync>>()),
            None
        );
        assert_eq!(concrete_type_name(type_name::<&dyn Error>()), None);
    }

    #[test]
    fn a_trait_object_of_a_standard_error_is_named() {
        let boxed: Box<dyn Error + Send + Sync> = "x".parse::<u8>().unwrap_err().into();
        assert_eq!(dyn_type_name(&*boxed), "core::num::error::ParseIntError");
        let unknown: Box<dyn Error + Send + Sync> = "free text".into();
        assert_eq!(dyn_type_name(&*unknown), UNKNOWN_ERROR_TYPE);
    }

    /// An error whose `source()` is itself.
    #[derive(Debug)]
    struct Loop;
    impl fmt::Display for Loop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("loop")
        }
    }
    impl Error for Loop {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self)
        }
    }

    #[test]
    fn a_chain_that_never_ends_stops_at_its_bound() {
        let captured = CapturedError::new(&Loop);
        assert_eq!(captured.chain.len(), MAX_ERROR_CHAIN);
        assert!(captured.type_name.ends_with("::Loop"));
    }
}
