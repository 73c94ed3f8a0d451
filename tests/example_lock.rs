//! The examples version their events like an API too: `examples/events.lock` records them, and
//! this test fails when one changes without the version bump it needs. After a deliberate
//! change: `UPDATE_EVENT_LOCK=1 cargo test --test example_lock`, then commit the lock.

// The examples, compiled in as modules so the catalog lists their events (their `main`s are
// not run here; CI runs each example).
#[allow(dead_code)]
#[path = "../examples/custom_sink.rs"]
mod custom_sink;
#[allow(dead_code)]
#[path = "../examples/export_schemas.rs"]
mod export_schemas;
#[allow(dead_code)]
#[path = "../examples/file_rotation.rs"]
mod file_rotation;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[test]
fn the_example_events_match_their_lock() {
    // No two examples define one event differently.
    if let Err(conflicts) = event_core::check_catalog() {
        panic!("{conflicts}");
    }
    let examples = event_core::catalog().filter(|schema| {
        schema
            .rust_type()
            .starts_with(concat!(module_path!(), "::"))
    });
    event_core::lock::LockCheck::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/events.lock"))
        .events(examples)
        .run()
        .unwrap_or_else(|report| panic!("{report}"));
}
