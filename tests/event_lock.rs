//! This repository versions its own test events like an API: `tests/events.lock` records them,
//! and this test fails when one changes without the version bump it needs (see
//! `event_core::lock`). After a deliberate change: `UPDATE_EVENT_LOCK=1 cargo test --test
//! event_lock`, then commit the lock.

mod support;

#[test]
fn the_test_events_match_their_lock() {
    // Linked, so the catalog lists them.
    let _ = support::login_attempt();
    event_core::lock::check_lock(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events.lock"))
        .unwrap();
}
