//! Panics the pipeline catches in user code are counted in the stats and printed by no panic
//! hook (their messages may quote values); every other panic still reaches the application's
//! hook. A test binary of its own: the panic hook is the process's.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_core::{emit, EventLayer};
use event_sinks::MemorySink;
use support::*;
use tracing_subscriber::prelude::*;

#[test]
fn caught_panics_reach_no_hook_and_the_apps_own_still_do() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("hook: {info}");
        recorded.lock().unwrap().push(info.to_string());
    }));

    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(sync_failed(true));
        emit!(CacheWarmed);
    });
    assert!(guard.flush(Duration::from_secs(30)).is_complete());
    assert_eq!(guard.stats().serialize_errors, 1);
    assert!(sink
        .events()
        .iter()
        .any(|e| e["event_name"] == "cache_warmed"));
    // Off the pipeline too: `Debug` and `try_render_metadata` catch the same panic.
    let debug = format!("{:?}", sync_failed(true));
    assert!(debug.contains("panicked"), "{debug}");
    assert!(event_core::try_render_metadata(&sync_failed(true), None).is_err());

    let _ = std::panic::catch_unwind(|| panic!("the application's own panic"));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|message| !message.contains("flaky serializer")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|message| message.contains("the application's own panic")),
        "{seen:?}"
    );
}
