//! Canary secrets in treated fields never reach `render_metadata`, `Debug`, or an error
//! message.

mod support;

use std::fmt;

use event_core::{render_metadata, try_render_metadata, Event, HashKey, RenderError};
use support::*;

fn key(id: &str, byte: u8) -> HashKey {
    HashKey::new(id, &[byte; 32]).unwrap()
}

#[track_caller]
fn assert_no_canary(output: &str) {
    for canary in canaries() {
        assert!(
            !output.contains(canary),
            "canary `{canary}` leaked into: {output}"
        );
    }
}

#[test]
fn treated_fields_never_reach_metadata() {
    for hash_key in [Some(key("k1", 1)), None] {
        let outputs = [
            render_metadata(&login_attempt(), hash_key.as_ref()),
            render_metadata(&payment(), hash_key.as_ref()),
            render_metadata(&export_failed(), hash_key.as_ref()),
            render_metadata(&session_started(), hash_key.as_ref()),
        ];
        for output in outputs {
            assert_no_canary(&output.to_string());
        }
    }
}

#[test]
fn treated_values_have_their_documented_form() {
    let k1 = key("k1", 1);
    let login = render_metadata(&login_attempt(), Some(&k1));
    assert_eq!(login["password"], "[REDACTED]");
    assert_eq!(login["card_number"], "********1111");
    assert!(login.get("raw_body").is_none(), "skipped field present");
    let email = login["email"].as_str().unwrap();
    let hex = email.strip_prefix("hmac-sha256:k1:").expect(email);
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );

    let paid = render_metadata(&payment(), Some(&k1));
    assert_eq!(paid["card_number"], "********11");
    assert_eq!(paid["cvv_secret"], "[REDACTED]");
    assert!(paid.get("coupon").is_none(), "None field present");

    let session = render_metadata(&session_started(), Some(&k1));
    assert_eq!(session["phone_number"], "********");

    // A redacted `Option` is written whether or not it holds a value: not even presence leaks.
    let mut without_cvv = payment();
    without_cvv.cvv_secret = None;
    assert_eq!(
        render_metadata(&without_cvv, None)["cvv_secret"],
        "[REDACTED]"
    );
}

#[test]
fn hashes_are_stable_per_key_and_differ_across_keys() {
    let (k1, k1_again, k2) = (key("k1", 1), key("k1", 1), key("k2", 2));
    let hashed = |k: &HashKey| render_metadata(&login_attempt(), Some(k))["email"].clone();
    assert_eq!(hashed(&k1), hashed(&k1_again));
    assert_ne!(hashed(&k1), hashed(&k2));
    assert!(hashed(&k2).as_str().unwrap().starts_with("hmac-sha256:k2:"));
    // Same value in another event and field: same hash, so events stay joinable.
    let payment = render_metadata(&payment(), Some(&k1));
    assert_eq!(payment["billing_email"], hashed(&k1));
}

#[test]
fn no_key_fails_closed() {
    let login = render_metadata(&login_attempt(), None);
    assert_eq!(login["email"], "[REDACTED]");
    let payment = render_metadata(&payment(), None);
    assert_eq!(payment["billing_email"], "[REDACTED]");
}

#[test]
fn debug_applies_treatments() {
    for output in [
        format!("{:?}", login_attempt()),
        format!("{:#?}", login_attempt()),
        format!("{:?}", payment()),
        format!("{:?}", export_failed()),
        format!("{:?}", session_started()),
    ] {
        assert_no_canary(&output);
    }
    assert_eq!(
        format!("{:?}", login_attempt()),
        r#"UserLoginAttempt { user_id: "u-42", ip: "203.0.113.9", result: "bad_password", password: "[REDACTED]", card_number: "********1111", email: "[REDACTED]", mfa_used: false }"#
    );
}

#[test]
fn hash_key_errors_do_not_show_the_key() {
    let secret_key = b"CANARY-KEY-too-short";
    let err = HashKey::new("k1", secret_key).unwrap_err();
    assert!(!err.to_string().contains("CANARY-KEY"), "{err}");
    assert!(!format!("{err:?}").contains("CANARY-KEY"), "{err:?}");
    let ok = HashKey::new("k1", b"CANARY-KEY-long-enough-to-be-accepted-32").unwrap();
    assert!(!format!("{ok:?}").contains("CANARY-KEY"));
}

/// `Display` that fails, for a hashed field.
struct BadDisplay;

impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

#[derive(Event)]
#[event(kind = "error")]
struct DigestFailed {
    #[event(redact)]
    password: String,
    #[event(hash)]
    email: BadDisplay,
}

#[test]
fn serialize_errors_are_reported_without_values() {
    let event = sync_failed(false);
    let err = try_render_metadata(&event, None).unwrap_err();
    assert_eq!(
        err,
        RenderError::Serialize {
            event: "sync_failed",
            field: "flaky",
            message: "its `Serialize` implementation returned an error (its message is not \
                      shown, as it may quote the value)"
                .into()
        }
    );
    // The type's own message may quote the value: it is never kept.
    assert!(
        !err.to_string().contains("flaky serializer failed"),
        "{err}"
    );
    assert_no_canary(&err.to_string());
    assert_no_canary(&format!("{err:?}"));

    let digest = DigestFailed {
        password: CANARY_PASSWORD.into(),
        email: BadDisplay,
    };
    let err = try_render_metadata(&digest, Some(&key("k1", 1))).unwrap_err();
    assert!(
        matches!(err, RenderError::Serialize { field: "email", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Display"), "{err}");
    assert_no_canary(&err.to_string());
}

#[test]
fn serialize_panics_are_caught_and_reported_without_values() {
    let event = sync_failed(true);
    let err = try_render_metadata(&event, None).unwrap_err();
    assert_eq!(
        err,
        RenderError::Panicked {
            event: "sync_failed",
            field: "flaky"
        }
    );
    assert_no_canary(&err.to_string());
    // Rendering goes on working after a caught panic.
    assert_eq!(
        render_metadata(&login_attempt(), None)["password"],
        "[REDACTED]"
    );
}

#[test]
fn render_metadata_panics_with_the_error_and_no_value() {
    let event = sync_failed(false);
    let panic = std::panic::catch_unwind(|| render_metadata(&event, None)).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .expect("formatted panic message");
    assert!(
        message.contains("field `flaky` of event `sync_failed`"),
        "{message}"
    );
    assert_no_canary(message);
}

#[test]
fn envelope_fields_are_left_to_the_envelope() {
    let metadata = render_metadata(&session_started(), Some(&key("k1", 1)));
    for key in ["user_id", "session_id", "request_id"] {
        assert!(
            metadata.get(key).is_none(),
            "{key} is in metadata: {metadata}"
        );
    }
    assert_eq!(metadata, serde_json::json!({ "phone_number": "********" }));
    // Debug still shows them, treated.
    let debug = format!("{:?}", session_started());
    assert!(
        debug.contains(r#"session_id: "[REDACTED]""#) && debug.contains(r#"request_id: "req-7""#),
        "{debug}"
    );
    assert_eq!(SessionStarted::LEVEL, tracing::Level::DEBUG);
}
