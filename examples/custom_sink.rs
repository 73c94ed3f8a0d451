//! A sink of your own: implement `event_core::Sink` (one async method) and add it to a layer.
//!
//! This one keeps a running count per event name and prints a summary line per batch; a real
//! one would send the batch somewhere. Run with `cargo run --example custom_sink`.

use std::collections::BTreeMap;
use std::time::Duration;

use event_core::{emit, Batch, Event, EventLayer, Sink, SinkError};
use tracing_subscriber::prelude::*;

/// Counts events by name.
#[derive(Default)]
struct CountingSink {
    counts: BTreeMap<&'static str, u64>,
    bytes: u64,
}

impl Sink for CountingSink {
    fn name(&self) -> String {
        "counting".into()
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        for event in batch.iter() {
            *self.counts.entry(event.name()).or_default() += 1;
            // `json()` is the whole envelope, one line, treatments applied.
            self.bytes += event.json().len() as u64 + 1;
        }
        println!(
            "batch of {:>4}: totals {:?}, {} bytes",
            batch.len(),
            self.counts,
            self.bytes
        );
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        println!("flush: nothing buffered");
        Ok(())
    }
}

/// A cart was updated.
#[derive(Event)]
#[event(kind = "user_action")]
struct CartUpdated {
    cart_id: u64,
    items: u32,
}

/// A checkout finished.
#[derive(Event)]
#[event(kind = "business")]
struct CheckoutCompleted {
    cart_id: u64,
    total_cents: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, guard) = EventLayer::builder()
        .service("custom-sink-example")
        .sink(CountingSink::default())
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    for cart_id in 0..1_000 {
        emit!(CartUpdated { cart_id, items: 3 });
        if cart_id % 4 == 0 {
            emit!(CheckoutCompleted {
                cart_id,
                total_cents: 4_200,
            });
        }
    }
    let report = guard.flush(Duration::from_secs(5));
    let sink = &guard.stats().sinks[0];
    println!(
        "flushed: {}; delivered {} of {} events",
        report.is_complete(),
        sink.delivered,
        sink.emitted
    );
    Ok(())
}
