//! What travels from `emit!` to the sink workers: the typed event (shared by every pipeline
//! that claimed it) and, per pipeline, what the layer captured on the caller's thread. The
//! envelope is written on a worker, once per pipeline, the first time a sink needs it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use uuid::Uuid;

use crate::pipeline::origin::Origin;
use crate::render::envelope::context::Correlation;
use crate::render::envelope::{Envelope, EnvelopeWriter, Payload, RecordMeta, SizeHints};
use crate::sink::BatchEvent;
use crate::stats::DropReason;
use crate::Event;

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
    /// The thread that emitted it, which frees it once it is written; `None` for the
    /// pipeline's own events, and for those emitted while their thread's locals are being
    /// destroyed (the worker frees those).
    pub(crate) origin: Option<Arc<Origin>>,
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
    /// A record of `payload`, accounted for by its type's last envelope size in `hints`, to be
    /// freed on `origin` once written.
    pub(crate) fn new(
        meta: RecordMeta,
        payload: P,
        hints: &SizeHints,
        origin: Option<Arc<Origin>>,
    ) -> Record<P> {
        let envelope = payload
            .size_hint(hints)
            .load(Ordering::Relaxed)
            .clamp(MIN_SIZE_HINT, MAX_SIZE_HINT);
        let queue_bytes = envelope + std::mem::size_of::<Record<P>>() - std::mem::size_of::<P>()
            + payload.memory();
        Record {
            meta,
            queue_bytes,
            encoded: OnceLock::new(),
            origin,
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
                let hint = self
                    .payload
                    .size_hint(&writer.size_hints)
                    .load(Ordering::Relaxed);
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
        let result =
            self.payload
                .write_line(&self.meta, &writer.config, writer.treatment_context(), out);
        let len = out.len() - start;
        match result {
            Ok(()) if len > writer.max_event_bytes => {
                out.truncate(start);
                Err(EncodeError::TooLarge)
            }
            Ok(()) => {
                // Stored only when it moved by more than a sixteenth: every `emit!` of the
                // type reads it, on other cores, and a store per envelope made each of those
                // reads a cache miss.
                let hint = self.payload.size_hint(&writer.size_hints);
                let last = hint.load(Ordering::Relaxed);
                if len.abs_diff(last) > last / 16 {
                    hint.store(len, Ordering::Relaxed);
                }
                if writer.hash_key.is_none()
                    && writer.counters.hash_key_missing.load(Ordering::Relaxed) > 0
                {
                    writer.diagnostics.hash_key_missing(self.payload.name());
                }
                Ok(())
            }
            Err(err) => {
                writer.count_serialize_error(&err);
                Err(EncodeError::Serialize)
            }
        }
    }

    /// This record as a sink sees it, given its envelope's line.
    pub(crate) fn batch_event<'a>(
        &'a self,
        writer: &'a EnvelopeWriter,
        json: &'a [u8],
    ) -> BatchEvent<'a> {
        BatchEvent {
            json,
            envelope: Envelope {
                payload: &self.payload,
                meta: &self.meta,
                config: &writer.config,
                // The line was written first and counted any hash key missing already.
                ctx: writer.uncounted_treatment_context(),
            },
            name: self.payload.name(),
            level: self.meta.level(self.payload.level()),
            timestamp: self.meta.timestamp,
            event_id: self.meta.event_id,
            counted: true,
        }
    }

    /// The batch view of the pipeline's own report: not counted in `emitted`.
    pub(crate) fn uncounted_batch_event<'a>(
        &'a self,
        writer: &'a EnvelopeWriter,
        json: &'a [u8],
    ) -> BatchEvent<'a> {
        BatchEvent {
            counted: false,
            ..self.batch_event(writer, json)
        }
    }

    /// A record of the pipeline's own (such as `events_dropped`), emitted now.
    pub(crate) fn internal<E: Event + Send>(event: E, hints: &SizeHints) -> Arc<Record> {
        Arc::new(Record::new(
            RecordMeta {
                timestamp: SystemTime::now(),
                event_id: Uuid::now_v7(),
                callsite: None,
                correlation: Correlation::default(),
            },
            Mutex::new(event),
            hints,
            None,
        ))
    }
}

/// The least a queued event is accounted for, before its type's size is known.
const MIN_SIZE_HINT: usize = 256;

/// The most a queued event is accounted for: one huge event must not make every later event of
/// its type look too big for a queue. Its real size is checked against `max_event_bytes`.
const MAX_SIZE_HINT: usize = 64 << 10;
