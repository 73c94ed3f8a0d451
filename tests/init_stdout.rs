//! The one-call default installs a global subscriber once, and says so when one exists.

mod support;

use std::time::Duration;

use event_core::emit;
use support::*;

#[test]
fn init_stdout_installs_once() {
    let guard = event_sinks::init_stdout().unwrap();
    emit!(CacheWarmed);
    assert!(guard.flush(Duration::from_secs(10)).is_complete());
    let stats = guard.stats();
    assert_eq!((stats.emitted, stats.sinks[0].delivered), (1, 1));
    assert_eq!(stats.sinks[0].name, "stdout");

    let err = event_sinks::init_stdout().err().unwrap();
    assert_eq!(err.setting(), "global subscriber");
    assert!(err.to_string().contains("already installed"), "{err}");
}
