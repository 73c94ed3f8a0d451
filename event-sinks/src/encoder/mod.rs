//! The formats other than NDJSON, each written from the envelope's typed parts (an
//! [`EnvelopeVisitor`](event_core::envelope::EnvelopeVisitor)), never by parsing the NDJSON
//! line: readable text for people, ClickHouse rows, OTLP log records. Lines read back from a
//! spool are replayed through the same encoders with
//! [`StoredEnvelope`](event_core::envelope::StoredEnvelope).

#[cfg(feature = "http")]
pub(crate) mod clickhouse;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod pretty;

/// Collects what a visitor gathers into a JSON object of `members` (sorted, as every
/// re-encoded object is: the order a `serde_json::Map` gives), for the objects of an envelope.
#[derive(Default)]
pub(crate) struct ObjectBuilder {
    current: Option<(
        event_core::envelope::EnvelopeObject,
        serde_json::Map<String, serde_json::Value>,
    )>,
}

impl ObjectBuilder {
    pub(crate) fn begin(&mut self, object: event_core::envelope::EnvelopeObject) {
        self.current = Some((object, serde_json::Map::new()));
    }

    /// Adds a member to the open object; `false` when none is open (a top-level value).
    pub(crate) fn member(
        &mut self,
        key: &str,
        value: &event_core::envelope::FieldValue<'_>,
    ) -> Result<bool, serde_json::Error> {
        match &mut self.current {
            Some((_, members)) => {
                members.insert(key.to_owned(), value.to_json_value()?);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub(crate) fn end(
        &mut self,
    ) -> Option<(
        event_core::envelope::EnvelopeObject,
        serde_json::Map<String, serde_json::Value>,
    )> {
        self.current.take()
    }
}

#[cfg(all(test, feature = "otlp"))]
mod tests;
