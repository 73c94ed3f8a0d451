//! Typed, schema-checked events for `tracing`.
//!
//! Declare each event as a struct; the derive enforces an `object_action` name, a kind and a
//! version, derives a JSON Schema, and applies per-field treatments while serializing, so a
//! secret cannot reach any output:
//!
//! ```
//! use event_core::{render_metadata, Event, HashKey};
//!
//! /// A user tried to log in.
//! #[derive(Event)]
//! #[event(kind = "security", version = "1.1")]
//! pub struct UserLoginAttempt {
//!     pub user_id: String,
//!     /// Whether the credentials matched.
//!     pub success: bool,
//!     #[event(redact)]
//!     pub password: String,
//!     #[event(mask)]
//!     pub card_number: String,
//!     #[event(hash)]
//!     pub email: String,
//!     #[event(since = "1.1")]
//!     pub mfa_used: Option<bool>,
//! }
//!
//! let attempt = UserLoginAttempt {
//!     user_id: "u-42".into(),
//!     success: false,
//!     password: "hunter2".into(),
//!     card_number: "4111111111111111".into(),
//!     email: "ada@example.com".into(),
//!     mfa_used: None,
//! };
//! let key = HashKey::new("k1", b"an example key of at least 32 bytes!").unwrap();
//! let metadata = render_metadata(&attempt, Some(&key));
//! assert_eq!(metadata["password"], "[REDACTED]");
//! assert_eq!(metadata["card_number"], "********1111");
//! assert!(!format!("{attempt:?}").contains("hunter2"));
//! assert_eq!(UserLoginAttempt::schema().json_schema()["x-event"]["version"], "1.1");
//! ```
//!
//! The attributes, what each treatment writes, and every compile-time rule are documented on
//! the derive macro, [`Event`](derive@Event).

#![warn(missing_docs)]

mod build_error;
mod caught;
mod diagnostics;
mod emit;
#[cfg(feature = "http")]
pub mod http;
mod layer;
pub mod lock;
mod model;
mod pipeline;
mod render;
mod sink;
mod stats;

pub use build_error::BuildError;
pub use diagnostics::{Diagnostic, DiagnosticKind};
#[doc = include_str!("derive.md")]
pub use event_derive::Event;
pub use layer::{EventLayer, EventLayerBuilder};
pub use model::catalog::{
    catalog, check_catalog, export_schemas, CatalogConflict, CatalogError, ExportError,
};
pub use model::error::{CapturedError, MAX_ERROR_CHAIN, UNKNOWN_ERROR_TYPE};
pub use model::event::Event;
pub use model::hash_key::{HashKey, HashKeyError, MIN_HASH_KEY_LEN};
pub use model::kind::EventKind;
pub use model::schema::{EventSchema, FieldSchema, ENVELOPE_FIELD_KEYS, HASH_PATTERN};
pub use model::treatment::{Sensitivity, Treatment, MASK, REDACTED};
pub use model::version::{Version, VersionParseError};
pub use pipeline::events_dropped::EventsDropped;
pub use pipeline::guard::EventGuard;
pub use pipeline::silence::{is_silenced, silence_current_thread, spawn_silenced};
pub use pipeline::{FlushReport, Overflow, SinkFlush, SinkOptions};
pub use render::depth::MAX_NESTING;
pub use render::envelope;
pub use render::envelope::context::{CORRELATION_FIELDS, GEO_FIELDS, HTTP_FIELDS};
pub use render::json::write_json;
pub use render::metadata::{render_metadata, try_render_metadata, RenderError};
pub use sink::{Batch, BatchEvent, Outcomes, Sink, SinkError};
pub use stats::{DropReason, SinkStats, Stats};

/// What generated code names. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::emit::{emit, EmitCallsite};
    pub use crate::model::catalog::CatalogEntry;
    pub use crate::model::error::{
        DynErrorField, ErrorRef, ErrorType, ErrorValue, IsErrorField, VisitDynError,
        VisitNotAnError, VisitStdError,
    };
    pub use crate::model::fields::{
        DisplayField, EventField, FieldVisitor, OptionField, PlainField, VisitOptionValue,
        VisitPlainField, VisitUnsupportedField, WrittenAsOption,
    };
    pub use crate::model::schema::{build_schema, field_schema, EventDescriptor};
    pub use crate::render::debug::{
        debug_event, FieldText, TracingDirect, TracingF32, TracingField, TracingText, TracingValue,
    };
    pub use inventory;
    pub use std::sync::OnceLock;
    pub use tracing::Level;
    pub use tracing_core::field::{debug as debug_value, Value};
    pub use tracing_core::Metadata;

    /// Dispatches one `tracing` event for an `emit!`; `values` match `__TRACING_FIELDS`.
    pub fn dispatch_event(metadata: &'static Metadata<'static>, values: &[Option<&dyn Value>]) {
        let values = metadata.fields().value_set_all(values);
        tracing_core::Event::dispatch(metadata, &values);
    }

    /// Whether a type implements `serde::Serialize`, readable in a `const`: the inherent
    /// `SERIALIZE` applies where the bound holds, the trait's default everywhere else.
    pub struct SerializeProbe<T: ?Sized>(core::marker::PhantomData<T>);

    /// The answer for types that do not implement `serde::Serialize`.
    pub trait NotSerialize {
        /// `false`: not `Serialize`.
        const SERIALIZE: bool = false;
    }

    impl<T: ?Sized> NotSerialize for SerializeProbe<T> {}

    impl<T: ?Sized + serde::Serialize> SerializeProbe<T> {
        /// `true`: `Serialize`.
        pub const SERIALIZE: bool = true;
    }

    /// The body of the stub impls emitted next to compile errors; never runs, as the crate
    /// does not compile.
    pub fn invalid_event() -> ! {
        unreachable!("an event with compile errors cannot run")
    }
}
