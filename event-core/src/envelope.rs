//! The envelope: one JSON object per event, keys in a fixed order, absent keys
//! omitted, written straight from the typed event: the frame by `json`, the values by serde
//! (no intermediate `Value`).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::context::{ContextFields, CONTEXT_OBJECTS};
use crate::fields::{DisplayField, EventField, FieldVisitor};
use crate::json;
use crate::record::RecordMeta;
use crate::render::Select;
use crate::treatment::{self, TreatmentContext, REDACTED};
use crate::{Event, FieldSchema, RenderError};

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
    /// `,"service":"…"` and the other resource fields set, written once for every envelope.
    resource_json: Vec<u8>,
    pub(crate) context: ContextFields,
    pub(crate) source: bool,
}

impl EnvelopeConfig {
    /// `resource`: `service`, `service_version`, `environment`, `region`, `host`, those set,
    /// in that order.
    pub(crate) fn new(
        resource: &[(&'static str, String)],
        context: ContextFields,
        source: bool,
    ) -> Self {
        let mut resource_json = Vec::new();
        for (key, value) in resource {
            json::push_key(&mut resource_json, key, false);
            json::push_str(&mut resource_json, value);
        }
        EnvelopeConfig {
            resource_json,
            context,
            source,
        }
    }
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
    out.extend_from_slice(b"{\"timestamp\":");
    json::push_timestamp(out, meta.timestamp);
    out.extend_from_slice(b",\"event_id\":\"");
    out.extend_from_slice(
        meta.event_id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(b"\",\"event_name\":");
    json::push_str(out, E::NAME);
    out.extend_from_slice(b",\"event_type\":");
    json::push_str(out, E::KIND.as_str());
    out.extend_from_slice(b",\"event_version\":\"");
    json::push_uint(out, E::VERSION.major);
    out.push(b'.');
    json::push_uint(out, E::VERSION.minor);
    out.extend_from_slice(b"\",\"level\":");
    json::push_str(out, meta.level(E::LEVEL).as_str());
    out.extend_from_slice(&config.resource_json);
    let fields = E::schema().fields();
    for (index, name) in config.context.top_level() {
        // A payload field with this key overrides the span's value (the event is more specific
        // than an enclosing span), unless it is `None`.
        let from_payload = fields.iter().any(|f| f.in_envelope() && f.key() == name)
            && write_fields(out, event, Select::EnvelopeField(name), false, ctx, current)? > 0;
        if !from_payload {
            if let Some(value) = meta.correlation.get(*index) {
                json::push_key(out, name, false);
                json::push_value(out, value)?;
            }
        }
    }
    for (object, start, members) in CONTEXT_OBJECTS {
        let mut first = true;
        for (offset, name) in members.iter().enumerate() {
            if let Some(value) = meta.correlation.get(start + offset) {
                if first {
                    json::push_key(out, object, false);
                    out.push(b'{');
                }
                json::push_key(out, name, first);
                json::push_value(out, value)?;
                first = false;
            }
        }
        if !first {
            out.push(b'}');
        }
    }
    if let (true, Some(callsite)) = (config.source, meta.callsite) {
        out.extend_from_slice(b",\"source\":{");
        let mut first = true;
        for (key, value) in [
            ("module", callsite.module_path()),
            ("file", callsite.file()),
        ] {
            if let Some(value) = value {
                json::push_key(out, key, first);
                json::push_str(out, value);
                first = false;
            }
        }
        if let Some(line) = callsite.line() {
            json::push_key(out, "line", first);
            json::push_uint(out, line);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"metadata\":{");
    write_fields(out, event, Select::Metadata, true, ctx, current)?;
    out.extend_from_slice(b"}}");
    Ok(())
}

/// Writes the selected fields of `event`, treated, as `"key":value` pairs (the first one
/// after a comma unless `first`); returns how many.
fn write_fields<E: Event>(
    out: &mut Vec<u8>,
    event: &E,
    select: Select<'_>,
    first: bool,
    ctx: TreatmentContext<'_>,
    current: &Cell<&'static str>,
) -> serde_json::Result<usize> {
    let mut visitor = LineVisitor {
        out,
        select,
        first,
        ctx,
        current,
        written: 0,
        error: None,
    };
    event.__visit_fields(&mut visitor);
    match visitor.error {
        Some(err) => Err(err),
        None => Ok(visitor.written),
    }
}

/// Writes visited fields into an envelope line, stopping at the first error.
struct LineVisitor<'a, 'k> {
    out: &'a mut Vec<u8>,
    select: Select<'k>,
    /// Whether no pair has been written yet (no comma before the next).
    first: bool,
    ctx: TreatmentContext<'a>,
    current: &'a Cell<&'static str>,
    written: usize,
    error: Option<serde_json::Error>,
}

impl LineVisitor<'_, '_> {
    /// Writes the key of `field` if it is selected (and nothing failed before it).
    fn key(&mut self, field: &'static FieldSchema) -> bool {
        if self.error.is_some() || !self.select.wants(field) {
            return false;
        }
        self.current.set(field.key());
        json::push_key(self.out, field.key(), self.first);
        self.first = false;
        self.written += 1;
        true
    }

    fn text(&mut self, text: Result<&str, treatment::DisplayFailed>) {
        match text {
            Ok(text) => json::push_str(self.out, text),
            Err(treatment::DisplayFailed) => {
                self.error = Some(serde::ser::Error::custom(
                    "its `Display` implementation returned an error",
                ))
            }
        }
    }
}

impl FieldVisitor for LineVisitor<'_, '_> {
    fn value<T: EventField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.key(field) {
            self.error = json::push_value(self.out, value).err();
        }
    }

    fn redacted(&mut self, field: &'static FieldSchema) {
        if self.key(field) {
            self.text(Ok(REDACTED));
        }
    }

    fn masked<T: DisplayField + ?Sized>(
        &mut self,
        field: &'static FieldSchema,
        value: &T,
        keep_last: u8,
    ) {
        if self.key(field) {
            let masked = treatment::mask(value, keep_last);
            self.text(masked.as_ref().map(|text| text.as_str()).map_err(|e| *e));
        }
    }

    fn hashed<T: DisplayField + ?Sized>(&mut self, field: &'static FieldSchema, value: &T) {
        if self.key(field) {
            let hashed = treatment::hash(value, self.ctx);
            self.text(hashed.as_ref().map(|text| text.as_str()).map_err(|e| *e));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;
    use std::time::SystemTime;

    use super::*;
    use crate::context::Correlation;

    /// An event with a string field, a map (keys and values written by `serde_json`) and a
    /// masked field (treated text written by `json`).
    #[derive(crate::Event)]
    #[event(kind = "system_event", crate = "crate")]
    struct ControlsEscaped {
        note: String,
        labels: BTreeMap<String, String>,
        #[event(mask)]
        card: String,
    }

    #[test]
    fn del_and_c1_controls_are_escaped_in_envelopes() {
        let missing = AtomicU64::new(0);
        let ctx = TreatmentContext {
            hash_key: None,
            hash_key_missing: &missing,
        };
        let meta = RecordMeta {
            timestamp: SystemTime::now(),
            event_id: uuid::Uuid::now_v7(),
            callsite: None,
            correlation: Correlation::default(),
        };
        for c in '\u{7f}'..='\u{9f}' {
            let text = format!("a{c}b");
            let event = ControlsEscaped {
                note: text.clone(),
                labels: BTreeMap::from([(text.clone(), text.clone())]),
                card: format!("4111111111{c}{c}{c}{c}"),
            };
            let config =
                EnvelopeConfig::new(&[("service", text.clone())], ContextFields::new(&[]), false);
            let mut out = Vec::new();
            write(&event, &meta, &config, ctx, &mut out).unwrap();
            let line = String::from_utf8(out).unwrap();
            let escape = format!("\\u{:04x}", u32::from(c));
            assert!(!line.contains(c), "raw {c:?} in {line}");
            // Service, note, label key and value: 4; masked card: 4.
            assert_eq!(line.matches(&escape).count(), 8, "{line}");
            let envelope: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(envelope["service"], text.as_str());
            let metadata = &envelope["metadata"];
            assert_eq!(metadata["note"], text.as_str());
            assert_eq!(metadata["labels"][text.as_str()], text.as_str());
            assert_eq!(metadata["card"], format!("{}{c}{c}{c}{c}", crate::MASK));
        }
    }
}
