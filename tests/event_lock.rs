//! This repository versions its own test events like an API: `tests/events.lock` records them,
//! and this test fails when one changes without the version bump it needs (see
//! `event_core::lock`). After a deliberate change: `UPDATE_EVENT_LOCK=1 cargo test --test
//! event_lock`, then commit the lock.

mod support;

#[test]
fn the_test_events_match_their_lock() {
    // Linked, so the catalog lists them.
    let _ = support::login_attempt();
    // This crate's events only: event_core's own (`events_dropped`, and
    // `http_request_completed` with its `http` feature) come and go with the features the
    // workspace happens to enable.
    let ours =
        event_core::catalog().filter(|schema| !schema.rust_type().starts_with("event_core::"));
    event_core::lock::LockCheck::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events.lock"))
        .events(ours)
        .run()
        .unwrap();
}
