//! Input an application may hand us from outside (a parsed document, a long linked list) must
//! never abort the process: a value that nests deeper than `MAX_NESTING` is an error of that
//! event alone, counted, on every path that writes values.

mod support;

use std::time::Duration;

use event_core::{emit, try_render_metadata, DropReason, Event, EventLayer, MAX_NESTING};
use event_sinks::{MemorySink, StdoutFormat, StdoutSink};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use support::sinks::SharedBuffer;
use tracing_subscriber::prelude::*;

/// A value `0` levels deep: a one-element array in a `Some` in an array ..., built by recursion
/// alone, so a depth of 100,000 costs no memory (and nothing deep to drop).
#[derive(schemars::JsonSchema)]
struct Nested(u32);

impl Serialize for Nested {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            0 => serializer.serialize_str("bottom"),
            n if n % 2 == 0 => serializer.serialize_some(&Nested(n - 1)),
            n => {
                let mut seq = serializer.serialize_seq(Some(1))?;
                seq.serialize_element(&Nested(n - 1))?;
                seq.end()
            }
        }
    }
}

#[derive(Event)]
#[event(kind = "business")]
struct DocumentImported {
    source: &'static str,
    document: Nested,
}

fn imported(depth: u32) -> DocumentImported {
    DocumentImported {
        source: "upload",
        document: Nested(depth),
    }
}

#[test]
fn a_value_100_000_levels_deep_is_a_counted_error_not_an_abort() {
    let memory = MemorySink::new();
    let pretty = SharedBuffer::default();
    let (layer, guard) = EventLayer::builder()
        .sink(memory.clone())
        .sink(
            StdoutSink::builder()
                .format(StdoutFormat::Pretty)
                .writer(pretty.clone())
                .name("pretty")
                .build(),
        )
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(imported(100_000));
        emit!(imported(MAX_NESTING as u32));
        emit!(imported(MAX_NESTING as u32 + 1));
    });
    assert!(guard.flush(Duration::from_secs(30)).is_complete());
    let stats = guard.stats();
    assert_eq!(stats.serialize_errors, 2, "{stats:?}");
    let error = stats.last_serialize_error.clone().unwrap();
    assert!(
        error.contains("field `document` of event `document_imported`"),
        "{error}"
    );
    for sink in &stats.sinks {
        assert_eq!(sink.delivered, 1, "{sink:?}");
        assert_eq!(sink.dropped(DropReason::SerializeError), 2, "{sink:?}");
        assert!(sink.is_conserved(), "{sink:?}");
    }
    // The one at the bound is written whole, in every format.
    let events = memory.events();
    let written = events
        .iter()
        .find(|e| e["event_name"] == "document_imported")
        .unwrap();
    let mut value = &written["metadata"]["document"];
    for _ in 0..MAX_NESTING / 2 {
        value = &value[0];
    }
    assert_eq!(value, "bottom");
    assert!(pretty.text().contains("document_imported"));

    // The same holds off the pipeline: `Debug` and `try_render_metadata`.
    let deep = imported(100_000);
    assert!(format!("{deep:?}").contains("<unserializable>"));
    let err = try_render_metadata(&deep, None).unwrap_err();
    assert!(err.to_string().contains("field `document`"), "{err}");
    assert!(try_render_metadata(&imported(MAX_NESTING as u32), None).is_ok());
}
