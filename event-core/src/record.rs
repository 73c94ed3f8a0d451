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
use crate::pipeline::Pipeline;
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

    fn name(&self) -> &'static str {
        E::NAME
    }

    fn level(&self) -> tracing_core::Level {
        E::LEVEL
    }
}

/// An event claimed by one `EventLayer`, waiting in its sink queues.
pub(crate) struct Record {
    pub(crate) meta: RecordMeta,
    payload: Arc<dyn Payload>,
    /// The estimated encoded size this record was accounted for in the queues.
    pub(crate) queue_bytes: usize,
    encoded: OnceLock<Result<Box<[u8]>, RenderError>>,
}

impl Record {
    pub(crate) fn new(meta: RecordMeta, payload: Arc<dyn Payload>) -> Record {
        let queue_bytes = payload
            .size_hint()
            .load(Ordering::Relaxed)
            .max(MIN_SIZE_HINT);
        Record {
            meta,
            payload,
            queue_bytes,
            encoded: OnceLock::new(),
        }
    }

    /// The envelope as one line of JSON (no newline), written on first use. The first failure
    /// is counted in `serialize_errors`; every sink then drops the event.
    pub(crate) fn encoded(&self, writer: &EnvelopeWriter) -> Result<&[u8], &RenderError> {
        self.encoded
            .get_or_init(|| {
                let mut out = Vec::with_capacity(self.queue_bytes + 64);
                let result = self.payload.write_envelope(
                    &self.meta,
                    &writer.config,
                    writer.treatment_context(),
                    &mut out,
                );
                match result {
                    Ok(()) => {
                        self.payload.size_hint().store(out.len(), Ordering::Relaxed);
                        Ok(out.into_boxed_slice())
                    }
                    Err(err) => {
                        writer.count_serialize_error(&err);
                        Err(err)
                    }
                }
            })
            .as_deref()
    }

    pub(crate) fn name(&self) -> &'static str {
        self.payload.name()
    }

    pub(crate) fn level(&self) -> tracing_core::Level {
        self.payload.level()
    }
}

impl Record {
    /// A record of the pipeline's own (such as `events_dropped`), emitted now.
    pub(crate) fn internal<E: Event + Send>(event: E) -> Record {
        Record::new(
            RecordMeta {
                timestamp: SystemTime::now(),
                event_id: Uuid::now_v7(),
                callsite: None,
                correlation: Correlation::default(),
            },
            Arc::new(Mutex::new(event)),
        )
    }
}

/// The least a queued event is accounted for, before its type's size is known.
const MIN_SIZE_HINT: usize = 256;

/// An `EventLayer`'s claim on the event being emitted; submitted once dispatch is over.
pub(crate) struct Claim {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) meta: RecordMeta,
}

impl Claim {
    pub(crate) fn submit(self, payload: Arc<dyn Payload>) {
        self.pipeline.submit(Record::new(self.meta, payload));
    }
}
