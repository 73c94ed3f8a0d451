//! The envelope (SPEC §5): one JSON object per event, keys in a fixed order, absent keys
//! omitted, written straight from the typed event with serde (no intermediate `Value`).

use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::ser::{SerializeMap, Serializer as _};
use serde::Serialize;

use crate::context::ContextFields;
use crate::record::RecordMeta;
use crate::render::{write_fields, Metadata, Select};
use crate::treatment::TreatmentContext;
use crate::{Event, RenderError};

/// Writes the envelopes of one layer: its configuration, hash key and counters.
pub(crate) struct EnvelopeWriter {
    pub(crate) config: EnvelopeConfig,
    pub(crate) hash_key: Option<crate::HashKey>,
    pub(crate) counters: std::sync::Arc<crate::stats::LayerCounters>,
    /// Envelopes larger than this are dropped with reason `too_large`.
    pub(crate) max_event_bytes: usize,
}

impl EnvelopeWriter {
    pub(crate) fn treatment_context(&self) -> TreatmentContext<'_> {
        TreatmentContext {
            hash_key: self.hash_key.as_ref(),
            hash_key_missing: &self.counters.hash_key_missing,
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
            .unwrap_or_else(|p| p.into_inner()) = Some(err.without_message());
    }
}

/// What a layer adds to every envelope.
#[derive(Clone, Debug)]
pub(crate) struct EnvelopeConfig {
    /// `service`, `service_version`, `environment`, `region`, `host`, in that order.
    pub(crate) resource: Vec<(&'static str, String)>,
    pub(crate) context: ContextFields,
    pub(crate) source: bool,
}

/// Writes the envelope of `event` to `out` as one line (no newline). On failure `out` is left
/// as it was.
pub(crate) fn write<E: Event>(
    event: &E,
    meta: &RecordMeta,
    config: &EnvelopeConfig,
    ctx: TreatmentContext<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RenderError> {
    let start = out.len();
    let current = Cell::new("");
    let result = catch_unwind(AssertUnwindSafe(|| {
        write_object(event, meta, config, ctx, &current, &mut *out)
    }));
    let err = match result {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(err)) => RenderError::Serialize {
            event: E::NAME,
            field: current.get(),
            message: err.to_string(),
        },
        Err(_panic) => RenderError::Panicked {
            event: E::NAME,
            field: current.get(),
        },
    };
    out.truncate(start);
    Err(err)
}

fn write_object<E: Event>(
    event: &E,
    meta: &RecordMeta,
    config: &EnvelopeConfig,
    ctx: TreatmentContext<'_>,
    current: &Cell<&'static str>,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::new(out);
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry(
        "timestamp",
        &AsStr(humantime::format_rfc3339_micros(meta.timestamp)),
    )?;
    map.serialize_entry("event_id", &AsStr(meta.event_id.hyphenated()))?;
    map.serialize_entry("event_name", E::NAME)?;
    map.serialize_entry("event_type", E::KIND.as_str())?;
    map.serialize_entry("event_version", &E::VERSION)?;
    map.serialize_entry("level", E::LEVEL.as_str())?;
    for (key, value) in &config.resource {
        map.serialize_entry(key, value)?;
    }
    let fields = E::schema().fields();
    for (index, name) in config.context.names().iter().enumerate() {
        // A payload field with this key overrides the span's value (SPEC §5), unless `None`.
        let from_payload = fields.iter().any(|f| f.in_envelope() && f.key() == name)
            && write_fields(&mut map, event, Select::EnvelopeField(name), ctx, current)? > 0;
        if !from_payload {
            if let Some(value) = meta.correlation.get(index) {
                map.serialize_entry(name, value)?;
            }
        }
    }
    if let (true, Some(callsite)) = (config.source, meta.callsite) {
        map.serialize_entry(
            "source",
            &Source {
                module: callsite.module_path(),
                file: callsite.file(),
                line: callsite.line(),
            },
        )?;
    }
    map.serialize_entry(
        "metadata",
        &Metadata {
            event,
            ctx,
            current,
        },
    )?;
    map.end()
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

/// Serializes a `Display` value as a string without an intermediate `String`.
struct AsStr<T>(T);

impl<T: fmt::Display> Serialize for AsStr<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
