//! `#[event(error)]` fields: written as `{type, message, chain}` (or, with `redact_message`,
//! `{type, chain}` of types) in the metadata, the `Debug` output and the schema, whatever form
//! the error takes: a concrete type, a boxed or shared trait object, or a capture.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use event_core::{render_metadata, CapturedError, Event, Treatment, UNKNOWN_ERROR_TYPE};
use serde_json::{json, Value};

/// The error of a layer below: says which file.
#[derive(Debug)]
struct ReadFailed {
    path: String,
    source: std::io::Error,
}

impl fmt::Display for ReadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}", self.path)
    }
}

impl Error for ReadFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// What the app returns: wraps the layer below.
#[derive(Debug)]
struct ImportError(ReadFailed);

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("import of alice@example.com's contacts failed")
    }
}

impl Error for ImportError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn import_error() -> ImportError {
    ImportError(ReadFailed {
        path: "/home/alice/contacts.csv".into(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    })
}

/// An import failed.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailed {
    job: u32,
    /// Why.
    #[event(error)]
    error: ImportError,
}

/// An import failed; its messages may quote the user's data.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailedQuietly {
    #[event(error(redact_message))]
    error: ImportError,
}

/// The other shapes an error field takes: boxed,
#[derive(Event)]
#[event(kind = "error")]
struct TaskFailed {
    #[event(error, rename = "cause")]
    boxed: Box<dyn Error + Send + Sync>,
}

/// and shared, and optional.
#[derive(Event)]
#[event(kind = "error", version = "1.1")]
struct RetryFailed {
    attempt: u32,
    #[event(since = "1.1", error)]
    retry_error: Option<Arc<dyn Error + Send + Sync>>,
}

/// An error the code keeps: captured.
#[derive(Event)]
#[event(kind = "error")]
struct RequestFailed {
    #[event(error)]
    error: CapturedError,
}

const IMPORT_TYPE: &str = "error_fields::ImportError";

#[test]
fn an_error_is_written_as_its_type_message_and_the_messages_of_its_sources() {
    let event = ImportFailed {
        job: 7,
        error: import_error(),
    };
    assert_eq!(
        render_metadata(&event, None),
        json!({
            "job": 7,
            "error": {
                "type": IMPORT_TYPE,
                "message": "import of alice@example.com's contacts failed",
                "chain": ["cannot read /home/alice/contacts.csv", "no such file"],
            }
        })
    );
    assert_eq!(
        format!("{event:?}"),
        format!(
            r#"ImportFailed {{ job: 7, error: {{"type":"{IMPORT_TYPE}","message":"import of alice@example.com's contacts failed","chain":["cannot read /home/alice/contacts.csv","no such file"]}} }}"#
        )
    );
}

#[test]
fn redact_message_keeps_only_the_types() {
    let event = ImportFailedQuietly {
        error: import_error(),
    };
    let rendered = render_metadata(&event, None);
    assert_eq!(
        rendered,
        json!({
            "error": {
                "type": IMPORT_TYPE,
                // A source's type is read from the trait object it is: the standard library's
                // errors are recognized, others are not.
                "chain": [UNKNOWN_ERROR_TYPE, "std::io::error::Error"],
            }
        })
    );
    let debug = format!("{event:?}");
    for text in ["alice", "contacts", "no such file"] {
        assert!(!rendered.to_string().contains(text), "{rendered}");
        assert!(!debug.contains(text), "{debug}");
    }
}

#[test]
fn boxed_shared_and_optional_errors_are_errors_too() {
    let parse: Box<dyn Error + Send + Sync> = "x".parse::<u16>().unwrap_err().into();
    assert_eq!(
        render_metadata(&TaskFailed { boxed: parse }, None),
        json!({
            "cause": {
                "type": "core::num::error::ParseIntError",
                "message": "invalid digit found in string",
                "chain": [],
            },
        })
    );
    let event = RetryFailed {
        attempt: 2,
        retry_error: Some(Arc::new(import_error())),
    };
    assert_eq!(
        render_metadata(&event, None),
        json!({
            "attempt": 2,
            "retry_error": {
                // Behind the `Arc<dyn Error>`, a type of the app's own cannot be named.
                "type": UNKNOWN_ERROR_TYPE,
                "message": "import of alice@example.com's contacts failed",
                "chain": ["cannot read /home/alice/contacts.csv", "no such file"],
            }
        })
    );
    let event = TaskFailed {
        boxed: "free text".into(),
    };
    assert_eq!(
        render_metadata(&event, None),
        json!({ "cause": { "type": UNKNOWN_ERROR_TYPE, "message": "free text", "chain": [] } })
    );
    let event = RetryFailed {
        attempt: 3,
        retry_error: None,
    };
    assert_eq!(render_metadata(&event, None), json!({ "attempt": 3 }));
}

#[test]
fn a_captured_error_is_written_as_the_error_it_was_taken_from() {
    let error = import_error();
    // As an `anyhow::Error` would be passed: a reference to a trait object.
    let as_dyn: &(dyn Error + Send + Sync + 'static) = &error;
    let from_dyn = RequestFailed {
        error: CapturedError::from(as_dyn),
    };
    let from_typed = RequestFailed {
        error: CapturedError::new(&error),
    };
    let typed = render_metadata(
        &ImportFailed {
            job: 1,
            error: import_error(),
        },
        None,
    );
    assert_eq!(render_metadata(&from_typed, None)["error"], typed["error"]);
    let mut dynamic = typed["error"].clone();
    dynamic["type"] = UNKNOWN_ERROR_TYPE.into();
    assert_eq!(render_metadata(&from_dyn, None)["error"], dynamic);
    // Its own `Debug` shows the types only.
    assert_eq!(
        format!("{:?}", from_typed.error),
        format!(
            r#"CapturedError {{ type: "{IMPORT_TYPE}", chain: ["{UNKNOWN_ERROR_TYPE}", "std::io::error::Error"], .. }}"#
        )
    );
}

#[test]
fn the_schema_describes_the_error_object_and_rendered_events_match_it() {
    let schema = ImportFailed::schema().json_schema();
    let error = &schema["properties"]["error"];
    assert_eq!(error["type"], "object");
    assert_eq!(error["additionalProperties"], false);
    assert_eq!(error["required"], json!(["chain", "message", "type"]));
    assert_eq!(
        error["properties"]["chain"]["items"],
        json!({"type": "string"})
    );
    assert_eq!(error["x-sensitivity"]["treatment"], "error");
    assert_eq!(error["x-sensitivity"]["redact_message"], false);
    assert_eq!(error["description"], "Why.");

    let quiet = ImportFailedQuietly::schema().json_schema();
    let error = &quiet["properties"]["error"];
    assert_eq!(error["required"], json!(["chain", "type"]));
    assert!(error["properties"].get("message").is_none());
    assert_eq!(error["x-sensitivity"]["class"], "sensitive");

    let fields = RetryFailed::schema().fields();
    assert_eq!(
        fields[1].treatment(),
        Treatment::Error {
            redact_message: false
        }
    );
    assert!(fields[1].optional());
    assert_eq!(
        ImportFailedQuietly::schema().fields()[0].treatment(),
        Treatment::Error {
            redact_message: true
        }
    );
    // What the lock compares: redacting the message changes the wire type.
    assert_ne!(
        ImportFailed::schema().wire_type("error"),
        ImportFailedQuietly::schema().wire_type("error")
    );

    for (schema, instance) in [
        (
            ImportFailed::schema(),
            render_metadata(
                &ImportFailed {
                    job: 2,
                    error: import_error(),
                },
                None,
            ),
        ),
        (
            ImportFailedQuietly::schema(),
            render_metadata(
                &ImportFailedQuietly {
                    error: import_error(),
                },
                None,
            ),
        ),
    ] {
        let validator = jsonschema::draft202012::new(&schema.json_schema()).unwrap();
        assert!(validator.is_valid(&instance), "{instance}");
        let mut extra = instance.clone();
        extra["error"]["stack"] = Value::from("x");
        assert!(!validator.is_valid(&extra), "{extra}");
    }
}

#[test]
fn the_other_error_shapes_are_named_by_what_they_hold() {
    // Not `Sync`.
    #[derive(Event)]
    #[event(kind = "error")]
    struct SendOnlyFailed {
        #[event(error)]
        error: Box<dyn Error + Send>,
    }
    let parse: Box<dyn Error + Send> = Box::new("-".parse::<i8>().unwrap_err());
    assert_eq!(
        render_metadata(&SendOnlyFailed { error: parse }, None)["error"]["type"],
        "core::num::error::ParseIntError"
    );
    // A standard error behind an `Arc`, and serde_json's.
    let json = serde_json::from_str::<u8>("x").unwrap_err();
    let event = RetryFailed {
        attempt: 1,
        retry_error: Some(Arc::new(json)),
    };
    assert_eq!(
        render_metadata(&event, None)["retry_error"]["type"],
        "serde_json::error::Error"
    );
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct Explodes;
impl fmt::Display for Explodes {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display exploded")
    }
}
impl Error for Explodes {}

#[test]
fn capturing_an_error_whose_display_panics_does_not_unwind_into_the_app() {
    let captured = CapturedError::new(&Explodes);
    let rendered = render_metadata(&RequestFailed { error: captured }, None);
    assert_eq!(rendered["error"]["message"], "<panicked>");
}

/// Collects which `metadata` members a replayed line says are errors.
#[derive(Default)]
struct Errors {
    in_metadata: bool,
    errors: Vec<String>,
}

impl event_core::envelope::EnvelopeVisitor for Errors {
    fn head(&mut self, _: &event_core::envelope::EnvelopeHead<'_>) {}
    fn resource(&mut self, _: event_core::envelope::ResourceKey, _: &str) {}
    fn value(
        &mut self,
        key: &str,
        value: event_core::envelope::FieldValue<'_>,
    ) -> Result<(), serde_json::Error> {
        if self.in_metadata && value.is_error() {
            self.errors.push(key.to_owned());
        }
        Ok(())
    }
    fn begin_object(&mut self, object: event_core::envelope::EnvelopeObject) {
        self.in_metadata = object == event_core::envelope::EnvelopeObject::Metadata;
    }
    fn end_object(&mut self) {
        self.in_metadata = false;
    }
}

#[test]
fn a_line_replayed_by_a_later_minor_version_still_knows_its_error_fields() {
    // This binary defines `retry_failed` 1.1; lines spooled by 1.0 (the field was added in 1.1,
    // so it is not there) and by 1.1, and a `2.0` this binary does not know.
    let errors_in = |version: &str| {
        let line = format!(
            r#"{{"timestamp":"2026-11-21T10:30:00.123456Z","event_id":"0193a6f0-0000-7000-8000-000000000001","event_name":"retry_failed","event_type":"error","event_version":"{version}","level":"ERROR","metadata":{{"attempt":1,"retry_error":{{"type":"x","message":"m","chain":[]}}}}}}"#
        );
        let mut errors = Errors::default();
        event_core::envelope::StoredEnvelope::parse(line.as_bytes())
            .unwrap()
            .visit(&mut errors)
            .unwrap();
        errors.errors
    };
    let _ = RetryFailed::schema();
    assert_eq!(errors_in("1.1"), ["retry_error"]);
    assert_eq!(errors_in("1.0"), ["retry_error"]);
    assert!(errors_in("2.0").is_empty());
}
