//! The envelope: what every output writes for one event, defined once.
//!
//! An envelope is the event's head (`timestamp`, `event_id`, `event_name`, `event_type`,
//! `event_version`, `level`), the layer's resource fields (`service`, `service_version`,
//! `environment`, `region`, `host`), the context fields of the enclosing spans (`trace_id`,
//! `span_id`, `request_id`, `user_id`, `session_id`, then those added with
//! `.context_field(..)`), the `http` and `geo` objects of the request, the `source` of the
//! `emit!`, and the event's treated fields as `metadata`. Keys come in that order; a key
//! without a value is left out.
//!
//! One walk over those parts (in `walk`) feeds every format: the NDJSON line that most sinks
//! write (`line`), and, through [`EnvelopeVisitor`], any other encoder (pretty text, OTLP,
//! ClickHouse rows, your own), which sees the same parts as typed values and never parses
//! JSON back. [`StoredEnvelope`] replays the same parts from an NDJSON line written earlier,
//! such as one read back from a disk spool.
//!
//! ```
//! use event_core::envelope::{EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey, StoredEnvelope};
//!
//! /// Collects `key=value` pairs of the top level.
//! #[derive(Default)]
//! struct Pairs(Vec<String>, usize);
//!
//! impl EnvelopeVisitor for Pairs {
//!     fn head(&mut self, head: &EnvelopeHead<'_>) {
//!         self.0.push(format!("event={} v{}", head.name, head.version));
//!     }
//!     fn resource(&mut self, key: ResourceKey, value: &str) {
//!         self.0.push(format!("{}={value}", key.as_str()));
//!     }
//!     fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
//!         if self.1 == 0 {
//!             self.0.push(format!("{key}={}", value.to_json_value()?));
//!         }
//!         Ok(())
//!     }
//!     fn begin_object(&mut self, _object: EnvelopeObject) {
//!         self.1 += 1;
//!     }
//!     fn end_object(&mut self) {
//!         self.1 -= 1;
//!     }
//! }
//!
//! let line = br#"{"timestamp":"2026-11-21T10:30:00.123456Z","event_id":"0193a6f0-0000-7000-8000-000000000001","event_name":"user_login","event_type":"security","event_version":"1.1","level":"WARN","service":"checkout","user_id":"u1","metadata":{"attempts":3}}"#;
//! let mut pairs = Pairs::default();
//! StoredEnvelope::parse(line)?.visit(&mut pairs)?;
//! assert_eq!(pairs.0, ["event=user_login v1.1", "service=checkout", r#"user_id="u1""#]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod context;
mod line;
mod stored;
mod value;
mod view;
pub(crate) mod walk;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::diagnostics::Diagnostics;
use std::time::SystemTime;

use tracing_core::Metadata;
use uuid::Uuid;

use crate::model::treatment::TreatmentContext;
use crate::stats::LayerCounters;
use crate::{Event, HashKey, RenderError};
use context::{ContextFields, Correlation};

pub use stored::{StoredEnvelope, StoredEnvelopeError};
pub use view::{Envelope, EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey};

/// The head's keys, in order: every envelope has all six.
pub const HEAD_KEYS: [&str; 6] = [
    TIMESTAMP,
    EVENT_ID,
    EVENT_NAME,
    EVENT_TYPE,
    EVENT_VERSION,
    LEVEL,
];
/// When the event was emitted: RFC 3339, UTC, microseconds.
pub const TIMESTAMP: &str = "timestamp";
/// The event's id, a UUIDv7, the same in every sink and across retries.
pub const EVENT_ID: &str = "event_id";
/// The event's `object_action` name.
pub const EVENT_NAME: &str = "event_name";
/// The event's kind.
pub const EVENT_TYPE: &str = "event_type";
/// The event's `MAJOR.MINOR` version.
pub const EVENT_VERSION: &str = "event_version";
/// The level it was emitted at.
pub const LEVEL: &str = "level";
/// The object of the `emit!` call site: `module`, `file`, `line`.
pub const SOURCE: &str = "source";
/// The object of the event's treated fields, always last.
pub const METADATA: &str = "metadata";
/// The members of the `source` object, in order.
pub const SOURCE_FIELDS: [&str; 3] = ["module", "file", "line"];

/// Every key the envelope writes itself at its top level, but the context fields: a
/// `.context_field(..)` cannot take one of these.
pub(crate) fn is_reserved_key(key: &str) -> bool {
    HEAD_KEYS.contains(&key)
        || ResourceKey::ALL
            .iter()
            .any(|resource| resource.as_str() == key)
        || EnvelopeObject::ALL
            .iter()
            .any(|object| object.as_str() == key)
}

/// What the layer captured when the event was emitted.
pub(crate) struct RecordMeta {
    pub(crate) timestamp: SystemTime,
    pub(crate) event_id: Uuid,
    /// The `emit!` call site (module, file, line); `None` for the pipeline's own events.
    pub(crate) callsite: Option<&'static Metadata<'static>>,
    pub(crate) correlation: Correlation,
}

impl RecordMeta {
    /// The level the event was emitted at: its call site's, which `emit!(level = ..)` may
    /// have set, else `default` (the event type's).
    pub(crate) fn level(&self, default: tracing_core::Level) -> tracing_core::Level {
        self.callsite.map_or(default, |callsite| *callsite.level())
    }
}

/// What a layer adds to every envelope.
#[derive(Clone, Debug)]
pub(crate) struct EnvelopeConfig {
    /// The resource fields set, in envelope order.
    resource: Vec<(ResourceKey, String)>,
    /// The same as `,"service":"…"…`, written once for every NDJSON line.
    resource_json: Vec<u8>,
    pub(crate) context: ContextFields,
    pub(crate) source: bool,
}

impl EnvelopeConfig {
    pub(crate) fn new(
        resource: Vec<(ResourceKey, String)>,
        context: ContextFields,
        source: bool,
    ) -> Self {
        let mut resource = resource;
        resource.sort_by_key(|(key, _)| *key);
        let mut resource_json = Vec::new();
        for (key, value) in &resource {
            crate::render::json::push_key(&mut resource_json, key.as_str(), false);
            crate::render::json::push_str(&mut resource_json, value);
        }
        EnvelopeConfig {
            resource,
            resource_json,
            context,
            source,
        }
    }
}

/// Writes the envelopes of one layer: its configuration, hash key and counters.
pub(crate) struct EnvelopeWriter {
    pub(crate) config: EnvelopeConfig,
    pub(crate) hash_key: Option<HashKey>,
    pub(crate) counters: Arc<LayerCounters>,
    /// Envelopes larger than this are dropped with reason `too_large`.
    pub(crate) max_event_bytes: usize,
    /// The size of the last envelope of each event type, for queue accounting.
    pub(crate) size_hints: SizeHints,
    /// Where the layer tells the application what it should know.
    pub(crate) diagnostics: Arc<Diagnostics>,
}

impl EnvelopeWriter {
    pub(crate) fn treatment_context(&self) -> TreatmentContext<'_> {
        TreatmentContext {
            hash_key: self.hash_key.as_ref(),
            hash_key_missing: Some(&self.counters.hash_key_missing),
        }
    }

    /// For the envelope's second and later renders: a hash key missing is counted once per
    /// value, when the NDJSON line is written.
    pub(crate) fn uncounted_treatment_context(&self) -> TreatmentContext<'_> {
        TreatmentContext {
            hash_key: self.hash_key.as_ref(),
            hash_key_missing: None,
        }
    }

    pub(crate) fn count_serialize_error(&self, err: &RenderError) {
        use std::sync::atomic::Ordering;
        self.counters
            .serialize_errors
            .fetch_add(1, Ordering::Relaxed);
        *self
            .counters
            .last_serialize_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(err.to_string());
    }
}

/// The envelope size last written per event type, in one layer: what a queued event is
/// accounted for before its own envelope is written. Types share a slot when their slots
/// collide; the figure is an estimate either way, and the real size is checked when written.
pub(crate) struct SizeHints([AtomicUsize; SIZE_HINT_SLOTS]);

const SIZE_HINT_SLOTS: usize = 64;

impl Default for SizeHints {
    fn default() -> Self {
        SizeHints(std::array::from_fn(|_| AtomicUsize::new(0)))
    }
}

impl SizeHints {
    /// The slot of event type `E`: from the address of its schema, a static of its own.
    pub(crate) fn of<E: Event>(&self) -> &AtomicUsize {
        let address = std::ptr::from_ref(E::schema()) as usize;
        &self.0[(address >> 4) % SIZE_HINT_SLOTS]
    }
}

/// A typed event behind a trait object, as the pipeline holds it. The mutex makes it
/// shareable between sink workers without asking events to be `Sync`.
pub(crate) trait Payload: Send + Sync {
    /// Appends the envelope's NDJSON line (no newline) to `out`; on failure `out` is left as
    /// it was.
    fn write_line(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError>;

    /// Walks the envelope's parts for `visitor`.
    fn visit(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        visitor: &mut dyn EnvelopeVisitor,
    ) -> Result<(), RenderError>;

    /// The size hint of this event's type in `hints`.
    fn size_hint<'h>(&self, hints: &'h SizeHints) -> &'h AtomicUsize;

    /// The memory the event itself takes while queued (its heap data not included).
    fn memory(&self) -> usize;

    fn name(&self) -> &'static str;

    fn level(&self) -> tracing_core::Level;
}

impl<E: Event + Send> Payload for std::sync::Mutex<E> {
    fn write_line(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        // A panic while a previous writer held the lock leaves the event intact: user code
        // only ever reads it.
        let event = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        line::write(&*event, meta, config, ctx, out)
    }

    fn visit(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        visitor: &mut dyn EnvelopeVisitor,
    ) -> Result<(), RenderError> {
        let event = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        walk::render(&*event, meta, config, ctx, &mut view::Erased(visitor))
    }

    fn size_hint<'h>(&self, hints: &'h SizeHints) -> &'h AtomicUsize {
        hints.of::<E>()
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<Self>()
    }

    fn name(&self) -> &'static str {
        E::NAME
    }

    fn level(&self) -> tracing_core::Level {
        E::LEVEL
    }
}

/// The same event claimed by several layers: each layer's record points to it.
impl<P: Payload + ?Sized> Payload for Arc<P> {
    fn write_line(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        (**self).write_line(meta, config, ctx, out)
    }

    fn visit(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        visitor: &mut dyn EnvelopeVisitor,
    ) -> Result<(), RenderError> {
        (**self).visit(meta, config, ctx, visitor)
    }

    fn size_hint<'h>(&self, hints: &'h SizeHints) -> &'h AtomicUsize {
        (**self).size_hint(hints)
    }

    fn memory(&self) -> usize {
        std::mem::size_of::<Self>() + (**self).memory()
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn level(&self) -> tracing_core::Level {
        (**self).level()
    }
}
