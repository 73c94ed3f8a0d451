//! Schemas: rendered events validate against their own `json_schema()`,
//! schemas match committed golden files (fingerprints included, so a fingerprint that changes
//! between builds fails here), and fingerprints change exactly when the wire format does.
//!
//! Regenerate the golden files with `UPDATE_SNAPSHOTS=1 cargo test -p event-core --test schema` and review
//! the diff.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

use event_core::{render_metadata, Event, EventSchema, HashKey};
use serde_json::{json, Value};
use support::*;

fn key() -> HashKey {
    HashKey::new("k1", &[9; 32]).unwrap()
}

fn validator(schema: &EventSchema) -> jsonschema::Validator {
    let json = schema.json_schema();
    jsonschema::meta::validate(&json).expect("a valid 2020-12 schema");
    jsonschema::draft202012::new(&json).expect("compiles")
}

#[track_caller]
fn assert_valid(schema: &EventSchema, instance: &Value) {
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{} rejects {instance}: {errors:?}",
        schema.name()
    );
}

#[track_caller]
fn assert_invalid(schema: &EventSchema, instance: &Value) {
    assert!(
        !validator(schema).is_valid(instance),
        "{} accepts {instance}",
        schema.name()
    );
}

#[test]
fn rendered_events_validate_against_their_schema() {
    for hash_key in [Some(key()), None] {
        let k = hash_key.as_ref();
        assert_valid(
            UserLoginAttempt::schema(),
            &render_metadata(&login_attempt(), k),
        );
        assert_valid(PaymentCaptured::schema(), &render_metadata(&payment(), k));
        assert_valid(
            ExportFailed::schema(),
            &render_metadata(&export_failed(), k),
        );
        assert_valid(
            SessionStarted::schema(),
            &render_metadata(&session_started(), k),
        );
        assert_valid(CacheWarmed::schema(), &render_metadata(&CacheWarmed, k));
    }
    // Optional fields absent, short values masked to the bare mask.
    let mut sparse = payment();
    sparse.billing_email = None;
    sparse.cvv_secret = None;
    sparse.card_number = "12".into();
    let rendered = render_metadata(&sparse, None);
    assert_eq!(rendered["card_number"], "********");
    assert_valid(PaymentCaptured::schema(), &rendered);
}

#[test]
fn schemas_reject_what_would_not_be_emitted() {
    let schema = UserLoginAttempt::schema();
    let good = render_metadata(&login_attempt(), Some(&key()));
    let with = |key: &str, value: Value| {
        let mut v = good.clone();
        v[key] = value;
        v
    };
    assert_invalid(schema, &with("password", json!("hunter2")));
    assert_invalid(schema, &with("email", json!("ada@example.com")));
    assert_invalid(schema, &with("card_number", json!("4111111111111111")));
    assert_invalid(schema, &with("card_number", json!("********11")));
    assert_invalid(schema, &with("raw_body", json!([1, 2])));
    assert_invalid(schema, &with("result", json!("maybe")));
    assert_invalid(schema, &with("unknown_field", json!(1)));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("result");
    assert_invalid(schema, &missing);
}

#[test]
fn schema_describes_the_event() {
    let schema = UserLoginAttempt::schema().json_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["$id"], "urn:event:user_login_attempt:v1");
    assert_eq!(schema["title"], "user_login_attempt");
    assert_eq!(schema["description"], "A user tried to log in.");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["x-event"],
        json!({ "name": "user_login_attempt", "version": "1.1", "kind": "security" })
    );
    let props = &schema["properties"];
    assert_eq!(props["ip"]["description"], "Where the attempt came from.");
    assert_eq!(
        props["ip"]["x-sensitivity"],
        json!({ "class": "pii", "treatment": "none" })
    );
    assert_eq!(props["password"]["const"], "[REDACTED]");
    assert_eq!(
        props["password"]["x-sensitivity"],
        json!({ "class": "secret", "treatment": "redact" })
    );
    assert_eq!(
        props["email"]["x-sensitivity"],
        json!({ "class": "pii", "treatment": "hash" })
    );
    assert_eq!(props["mfa_used"]["x-since"], "1.1");
    assert!(props.get("raw_body").is_none());
    assert_eq!(schema["x-envelope"]["user_id"]["type"], "string");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["ip", "result", "password", "card_number", "email"]
    );
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas")
        .join(format!("{name}.json"))
}

#[test]
fn schemas_match_golden_files() {
    let schemas = [
        UserLoginAttempt::schema(),
        PaymentCaptured::schema(),
        ExportFailed::schema(),
        SessionStarted::schema(),
        CacheWarmed::schema(),
        // The request context's own event: its wire format is a contract too.
        event_core::http::HttpRequestCompleted::schema(),
    ];
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatched = Vec::new();
    for schema in schemas {
        let actual = json!({ "fingerprint": schema.fingerprint(), "schema": schema.json_schema() });
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        let path = golden_path(schema.name());
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != text {
            mismatched.push(format!("{}:\n{text}", path.display()));
        }
    }
    assert!(
        mismatched.is_empty(),
        "schemas differ from the golden files; if the change is intended, rerun with \
         UPDATE_SNAPSHOTS=1 and review the diff:\n{}",
        mismatched.join("\n")
    );
}

/// Variants of one event, each differing from `base` in one way.
#[allow(dead_code)]
mod variants {
    use event_core::Event;

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct Base {
        /// The order.
        pub order_id: u64,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct DocChanged {
        /// Which order was shipped (reworded).
        pub order_id: u64,
        /// Now documented.
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct Reordered {
        pub carrier: String,
        pub note: Option<String>,
        pub order_id: u64,
        #[event(hash)]
        pub email: String,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct FieldAdded {
        pub order_id: u64,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
        pub tracking_code: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct Retyped {
        pub order_id: String,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct TreatmentChanged {
        pub order_id: u64,
        pub carrier: String,
        #[event(redact)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct OptionalityChanged {
        pub order_id: u64,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: String,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped")]
    pub struct Renamed {
        pub order_id: u64,
        #[event(rename = "shipping_carrier")]
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "user_action", name = "order_shipped")]
    pub struct KindChanged {
        pub order_id: u64,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "order_shipped", version = "1.1")]
    pub struct VersionChanged {
        pub order_id: u64,
        pub carrier: String,
        #[event(hash)]
        pub email: String,
        pub note: Option<String>,
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    pub enum Carrier {
        Dhl,
        Ups,
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    pub enum CarrierWithMore {
        Dhl,
        Ups,
        Fedex,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "carrier_chosen")]
    pub struct EnumBase {
        pub carrier: Carrier,
    }

    #[derive(Event)]
    #[event(kind = "business", name = "carrier_chosen")]
    pub struct EnumVariantAdded {
        pub carrier: CarrierWithMore,
    }
}

#[test]
fn fingerprint_ignores_docs_and_field_order() {
    use variants::*;
    let base = Base::schema().fingerprint();
    assert_eq!(base.len(), 64);
    assert_eq!(DocChanged::schema().fingerprint(), base);
    assert_eq!(Reordered::schema().fingerprint(), base);
}

#[test]
fn fingerprint_changes_with_the_wire_format() {
    use variants::*;
    let base = Base::schema().fingerprint();
    for (what, schema) in [
        ("a field added", FieldAdded::schema()),
        ("a field retyped", Retyped::schema()),
        ("a treatment changed", TreatmentChanged::schema()),
        ("optionality changed", OptionalityChanged::schema()),
        ("a field renamed", Renamed::schema()),
        ("the kind changed", KindChanged::schema()),
        ("the version changed", VersionChanged::schema()),
    ] {
        assert_ne!(schema.fingerprint(), base, "{what} kept the fingerprint");
    }
    assert_ne!(
        EnumBase::schema().fingerprint(),
        EnumVariantAdded::schema().fingerprint(),
        "a variant added to a field's enum kept the fingerprint"
    );
}
