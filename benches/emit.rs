//! Criterion micro-benchmarks of the caller's side (`cargo bench -p event-benches --bench emit`): a disabled
//! `emit!`, rendering an event's metadata (the worker's serialization), and `emit!` into a
//! layer whose sink discards. The comparison with other stacks is `benches/compare.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use event_core::{
    emit, render_metadata, Batch, Event, EventLayer, HashKey, Overflow, Sink, SinkError,
    SinkOptions,
};
use tracing_subscriber::prelude::*;

#[path = "common/mod.rs"]
mod common;
use common::LoginAttempted;

fn event(i: u64) -> LoginAttempted {
    LoginAttempted {
        user_id: "user-00042".to_owned(),
        session_id: "sess-0000002a".to_owned(),
        ip: std::net::IpAddr::from([203, 0, 113, 9]),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0".to_owned(),
        result: "failure",
        failure_reason: "bad_password",
        attempt_count: (i % 5) as u32,
        latency_ms: 12.5,
        card_number: "4111111111111111".to_owned(),
        email: "user42@example.com".to_owned(),
    }
}

#[derive(Event)]
#[event(kind = "system_event")]
struct CacheWarmed;

struct NullSink;

impl Sink for NullSink {
    fn name(&self) -> String {
        "null".into()
    }
    async fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("emit_disabled_no_subscriber", |b| {
        b.iter(|| emit!(black_box(CacheWarmed)))
    });

    let key = HashKey::new("k1", &[7; 32]).unwrap();
    c.bench_function("render_metadata_10_fields", |b| {
        let e = event(1);
        b.iter(|| black_box(render_metadata(black_box(&e), Some(&key))))
    });

    c.bench_function("build_event_10_fields", |b| {
        b.iter(|| black_box(event(black_box(1))))
    });

    let (layer, guard) = EventLayer::builder()
        .hash_key("k1", [7u8; 32])
        .sink_with(NullSink, SinkOptions::new().overflow(Overflow::DropNewest))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        c.bench_function("emit_to_null_sink", |b| {
            let mut i = 0;
            b.iter(|| {
                i += 1;
                emit!(event(i));
            })
        });
    });
    let _ = guard.flush(Duration::from_secs(60));
}

criterion_group!(emit_benches, benches);
criterion_main!(emit_benches);
