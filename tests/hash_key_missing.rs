//! Hashed fields rendered without a key are written `"[REDACTED]"` and counted, exactly once
//! per value. Alone in its binary, so no other test moves the process-wide counter.

mod support;

use event_core::{hash_key_missing_count, render_metadata, HashKey};
use support::*;

#[test]
fn each_unkeyed_hash_is_counted_once() {
    let start = hash_key_missing_count();
    let login = render_metadata(&login_attempt(), None);
    assert_eq!(login["email"], "[REDACTED]");
    assert_eq!(hash_key_missing_count(), start + 1);

    // Two hashed fields, one of them `None`: only the value present counts.
    let mut payment = payment();
    render_metadata(&payment, None);
    assert_eq!(hash_key_missing_count(), start + 2);
    payment.billing_email = None;
    render_metadata(&payment, None);
    assert_eq!(hash_key_missing_count(), start + 2);

    // With a key, nothing is counted.
    let key = HashKey::new("k1", &[5; 32]).unwrap();
    render_metadata(&session_started(), Some(&key));
    assert_eq!(hash_key_missing_count(), start + 2);
}
