mod support;

use std::time::Duration;

use event_core::{emit, EventLayer};
use event_sinks::MemorySink;
use support::*;
use tracing_subscriber::prelude::*;

#[test]
fn smoke() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .service("checkout")
        .hash_key("k1", [7u8; 32])
        .sink(sink.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = "req-1", user_id = 9);
        let _e = span.enter();
        emit!(login_attempt());
        emit!(CacheWarmed);
    });
    let report = guard.flush(Duration::from_secs(5));
    assert!(report.is_complete(), "{report:?}");
    for e in sink.events() {
        println!("{e}");
    }
    println!("{:?}", guard.stats());
}
