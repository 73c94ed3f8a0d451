//! What travels from `emit!` to the sink workers: the typed event (shared by every pipeline
//! that claimed it) and, per pipeline, what the layer captured on the caller's thread. The
//! envelope is written on a worker, once per pipeline, the first time a sink needs it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tracing_core::Metadata;
use uuid::Uuid;

use crate::context::Correlation;
use crate::envelope::{self, EnvelopeConfig, EnvelopeWriter};
use crate::sink::BatchEvent;
use crate::stats::DropReason;
use crate::treatment::TreatmentContext;
use crate::{Event, RenderError};

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

/// A typed event behind a trait object. The mutex makes it shareable between sink workers
/// without asking events to be `Sync`.
pub(crate) trait Payload: Send + Sync {
    fn write_envelope(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError>;

    /// The encoded size last seen for this event type, for queue accounting.
    fn size_hint(&self) -> &'static AtomicUsize;

    /// The memory the event itself takes while queued (its heap data not included).
    fn memory(&self) -> usize;

    fn name(&self) -> &'static str;

    fn level(&self) -> tracing_core::Level;
}

impl<E: Event + Send> Payload for Mutex<E> {
    fn write_envelope(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        // A panic while a previous writer held the lock leaves the event intact: user code
        // only ever reads it.
        let event = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        envelope::write(&*event, meta, config, ctx, out)
    }

    fn size_hint(&self) -> &'static AtomicUsize {
        E::schema().encoded_size_hint()
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
    fn write_envelope(
        &self,
        meta: &RecordMeta,
        config: &EnvelopeConfig,
        ctx: TreatmentContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        (**self).write_envelope(meta, config, ctx, out)
    }

    fn size_hint(&self) -> &'static AtomicUsize {
        (**self).size_hint()
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

/// An event claimed by one `EventLayer`, waiting in its sink queues. The event is inline
/// (`P` = `Mutex<E>`), so an `emit!` seen by one layer allocates once; with more layers,
/// each one's record holds an `Arc` of the one event.
pub(crate) struct Record<P: ?Sized = dyn Payload> {
    pub(crate) meta: RecordMeta,
    /// What this record is accounted for in the queues: the record, the event, and the
    /// envelope it will become (estimated from its type's last one).
    pub(crate) queue_bytes: usize,
    /// The envelope, written once for all the layer's sinks when the layer has several.
    // A `Vec`, not a boxed slice: shrinking it would copy every envelope (seen in profiles).
    encoded: OnceLock<Result<Vec<u8>, EncodeError>>,
    payload: P,
}

/// Why a record could not become an envelope.
#[derive(Debug)]
pub(crate) enum EncodeError {
    /// The event's own `Serialize` or `Display` failed or panicked (counted and kept in the
    /// layer's stats when it happened).
    Serialize,
    /// The envelope is larger than the layer's `max_event_bytes`.
    TooLarge,
}

impl EncodeError {
    pub(crate) fn reason(&self) -> DropReason {
        match self {
            EncodeError::Serialize => DropReason::SerializeError,
            EncodeError::TooLarge => DropReason::TooLarge,
        }
    }
}

impl<P: Payload> Record<P> {
    pub(crate) fn new(meta: RecordMeta, payload: P) -> Record<P> {
        let envelope = payload
            .size_hint()
            .load(Ordering::Relaxed)
            .clamp(MIN_SIZE_HINT, MAX_SIZE_HINT);
        let queue_bytes = envelope + std::mem::size_of::<Record<P>>() - std::mem::size_of::<P>()
            + payload.memory();
        Record {
            meta,
            queue_bytes,
            encoded: OnceLock::new(),
            payload,
        }
    }
}

impl Record {
    /// The envelope as one line of JSON (no newline), written on first use and kept for the
    /// layer's other sinks.
    pub(crate) fn encoded(&self, writer: &EnvelopeWriter) -> Result<&[u8], &EncodeError> {
        self.encoded
            .get_or_init(|| {
                let hint = self.payload.size_hint().load(Ordering::Relaxed);
                let mut out = Vec::with_capacity(hint.clamp(MIN_SIZE_HINT, MAX_SIZE_HINT) + 64);
                self.encode_into(writer, &mut out).map(|()| out)
            })
            .as_deref()
    }

    /// Appends the envelope (no newline) to `out`; on failure `out` is left as it was. The
    /// first failure is counted once (`serialize_errors`); every sink then drops the event.
    pub(crate) fn encode_into(
        &self,
        writer: &EnvelopeWriter,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.payload.write_envelope(
            &self.meta,
            &writer.config,
            writer.treatment_context(),
            out,
        );
        let len = out.len() - start;
        match result {
            Ok(()) if len > writer.max_event_bytes => {
                out.truncate(start);
                Err(EncodeError::TooLarge)
            }
            Ok(()) => {
                self.payload.size_hint().store(len, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                writer.count_serialize_error(&err);
                Err(EncodeError::Serialize)
            }
        }
    }

    /// This record as a sink sees it, given its envelope.
    pub(crate) fn batch_event<'a>(&self, json: &'a [u8]) -> BatchEvent<'a> {
        BatchEvent {
            json,
            name: self.payload.name(),
            level: self.meta.level(self.payload.level()),
            timestamp: self.meta.timestamp,
            event_id: self.meta.event_id,
            counted: true,
        }
    }

    /// The batch view of the pipeline's own report: not counted in `emitted`.
    pub(crate) fn uncounted_batch_event<'a>(&self, json: &'a [u8]) -> BatchEvent<'a> {
        BatchEvent {
            counted: false,
            ..self.batch_event(json)
        }
    }

    /// A record of the pipeline's own (such as `events_dropped`), emitted now.
    pub(crate) fn internal<E: Event + Send>(event: E) -> Arc<Record> {
        Arc::new(Record::new(
            RecordMeta {
                timestamp: SystemTime::now(),
                event_id: Uuid::now_v7(),
                callsite: None,
                correlation: Correlation::default(),
            },
            Mutex::new(event),
        ))
    }
}

/// The least a queued event is accounted for, before its type's size is known.
const MIN_SIZE_HINT: usize = 256;

/// The most a queued event is accounted for: one huge event must not make every later event of
/// its type look too big for a queue. Its real size is checked against `max_event_bytes`.
const MAX_SIZE_HINT: usize = 64 << 10;
