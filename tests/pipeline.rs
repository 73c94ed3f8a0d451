//! The pipeline end to end: envelope, span context, other layers, conservation
//! under overload, isolation, faults, flush and shutdown.

mod support;

use std::thread;
use std::time::Duration;

use event_core::{emit, DropReason, Event, EventLayer, Overflow, SinkOptions};
use event_sinks::{FileSink, MemorySink, StdoutSink};
use support::sinks::{key_order, SharedBuffer, SlowSink, StuckSink};
use support::*;
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

#[test]
fn envelope_keys_are_written_in_order() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .service("checkout")
        .service_version("1.4.2")
        .environment("prod")
        .region("eu-west-1")
        .host("web-1")
        .context_field("tenant_id")
        .hash_key("k1", [7u8; 32])
        .sink(sink.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            request_id = "req-1",
            session_id = "s-1",
            tenant_id = "acme"
        );
        let _entered = span.enter();
        emit!(login_attempt());
    });
    assert!(guard.flush(FLUSH).is_complete());
    let lines = sink.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        key_order(&lines[0]),
        [
            "timestamp",
            "event_id",
            "event_name",
            "event_type",
            "event_version",
            "level",
            "service",
            "service_version",
            "environment",
            "region",
            "host",
            "trace_id",
            "span_id",
            "request_id",
            "user_id",
            "session_id",
            "tenant_id",
            "source",
            "metadata",
        ]
    );
    let event = &sink.events()[0];
    let timestamp = event["timestamp"].as_str().unwrap();
    assert_eq!(
        timestamp.len(),
        "2026-11-21T10:30:00.123456Z".len(),
        "{timestamp}"
    );
    assert!(
        timestamp.ends_with('Z') && timestamp.as_bytes()[19] == b'.',
        "{timestamp}"
    );
    let id = event["event_id"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(parsed.get_version_num(), 7);
    assert_eq!(id, parsed.hyphenated().to_string(), "lowercase hyphenated");
    assert_eq!(event["event_name"], "user_login_attempt");
    assert_eq!(event["event_type"], "security");
    assert_eq!(event["event_version"], "1.1");
    assert_eq!(event["level"], "WARN");
    // The payload's `user_id` is written at the top level, not in `metadata`.
    assert_eq!(event["user_id"], "u-42");
    assert!(event["metadata"].get("user_id").is_none());
    assert_eq!(event["source"]["module"], "pipeline");
    assert!(event["source"]["line"].as_u64().unwrap() > 0);
    assert_eq!(event["metadata"]["password"], "[REDACTED]");
    assert_eq!(event["metadata"]["card_number"], "********1111");
    assert!(event["metadata"]["email"]
        .as_str()
        .unwrap()
        .starts_with("hmac-sha256:k1:"));
}

#[test]
fn span_context_innermost_wins_and_follows_record() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let outer = tracing::info_span!(
            "outer",
            request_id = "outer-req",
            user_id = 7u64,
            trace_id = tracing::field::Empty
        );
        let _outer = outer.enter();
        {
            let inner = tracing::info_span!("inner", request_id = "inner-req");
            let _inner = inner.enter();
            emit!(CacheWarmed);
            outer.record("trace_id", "t-9");
            emit!(CacheWarmed);
        }
        emit!(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    let events = sink.events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["request_id"], "inner-req");
    assert_eq!(events[0]["user_id"], 7);
    assert!(events[0].get("trace_id").is_none());
    assert_eq!(events[1]["trace_id"], "t-9", "Span::record is seen");
    assert_eq!(events[1]["request_id"], "inner-req");
    assert_eq!(events[2]["request_id"], "outer-req");
    assert_eq!(events[2]["trace_id"], "t-9");
}

#[test]
fn other_layers_and_sinks_never_see_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    let fmt_text = SharedBuffer::default();
    let fmt_json = SharedBuffer::default();
    let stdout = SharedBuffer::default();
    let (layer, guard) = EventLayer::builder()
        .hash_key("k1", [9u8; 32])
        .sink(FileSink::builder(&file).build().unwrap())
        .sink(StdoutSink::builder().writer(stdout.clone()).build())
        .sink(
            StdoutSink::builder()
                .name("stdout-pretty")
                .format(event_sinks::StdoutFormat::Pretty)
                .writer(stdout.clone())
                .build(),
        )
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(fmt_text.clone())
                .with_ansi(false),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(fmt_json.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit!(login_attempt());
        emit!(payment());
        emit!(session_started());
        emit!(export_failed());
    });
    assert!(guard.flush(FLUSH).is_complete());
    for (what, output) in [
        ("fmt", fmt_text.text()),
        ("fmt json", fmt_json.text()),
        ("stdout", stdout.text()),
        ("file", std::fs::read_to_string(&file).unwrap()),
    ] {
        for canary in canaries() {
            assert!(
                !output.contains(canary),
                "`{canary}` leaked into {what}: {output}"
            );
        }
        assert!(output.contains("user_login_attempt"), "{what}: {output}");
        assert!(
            output.contains("********1111"),
            "{what} shows masked values: {output}"
        );
    }
    let fmt = fmt_text.text();
    assert!(fmt.contains("event.version=1.1"), "{fmt}");
    assert!(fmt.contains(r#"password="[REDACTED]""#), "{fmt}");
    // One event is one line, in every format, whatever the values hold.
    assert_eq!(stdout.text().lines().count(), 8, "{}", stdout.text());
}

/// Every kind of value another layer can be shown.
#[derive(Event)]
#[event(kind = "business")]
struct CheckoutCompleted {
    items: u32,
    total: f64,
    refund: i64,
    express: bool,
    currency: String,
    code: &'static str,
    tags: Vec<String>,
    coupon: Option<String>,
    gift_note: Option<String>,
    #[event(redact)]
    voucher_secret: String,
    #[event(mask)]
    card_number: String,
    #[event(hash)]
    email: String,
    #[event(error)]
    warning: Option<std::io::Error>,
    ratio: f32,
    path: std::path::PathBuf,
    #[event(error(redact_message))]
    lookup_error: Box<dyn std::error::Error + Send + Sync>,
}

#[test]
fn the_fmt_json_layer_sees_typed_treated_values() {
    let fmt_json = SharedBuffer::default();
    let fmt_text = SharedBuffer::default();
    let memory = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .hash_key("k1", [9u8; 32])
        .sink(memory.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(fmt_json.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(fmt_text.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit!(CheckoutCompleted {
            items: 3,
            total: 19.5,
            refund: -4,
            express: true,
            currency: "EUR".into(),
            code: "X-1",
            tags: vec!["gift".into(), "eu".into()],
            coupon: None,
            gift_note: Some("for \"you\"".into()),
            voucher_secret: "canary-voucher".into(),
            card_number: "4111111111111111".into(),
            email: "canary@example.com".into(),
            warning: Some(std::io::Error::other("disk nearly full")),
            ratio: 0.1,
            path: "/tmp/a\nforged line \u{1b}[2J".into(),
            lookup_error: "no voucher canary-voucher-2".into(),
        });
    });
    assert!(guard.flush(FLUSH).is_complete());
    let line: serde_json::Value = serde_json::from_str(fmt_json.text().trim()).unwrap();
    let fields = &line["fields"];
    assert_eq!(
        fields,
        &serde_json::json!({
            "event.name": "checkout_completed",
            "event.version": "1.0",
            "items": 3,
            "total": 19.5,
            "refund": -4,
            "express": true,
            "currency": "EUR",
            "code": "X-1",
            // Structured values as their JSON text.
            "tags": r#"["gift","eu"]"#,
            "gift_note": "for \"you\"",
            "voucher_secret": "[REDACTED]",
            "card_number": "********1111",
            // Another layer has no hash key: a hash without one would leak.
            "email": "[REDACTED]",
            "warning": r#"{"type":"std::io::error::Error","message":"disk nearly full","chain":[]}"#,
            // As the sinks write it, not widened to 0.10000000149011612.
            "ratio": 0.1,
            // Control characters escaped: text layers write text values as they are.
            "path": "/tmp/a\\nforged line \\u{1b}[2J",
            "lookup_error": r#"{"type":"dyn core::error::Error","chain":[]}"#,
        }),
        "`coupon` is `None`: left out"
    );
    let text = fmt_text.text();
    assert_eq!(text.lines().count(), 1, "one event, one line: {text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(
        text.contains("express=true") && text.contains("ratio=0.1 "),
        "{text}"
    );
    for output in [&text, &fmt_json.text()] {
        for canary in ["canary-voucher", "canary@example.com"] {
            assert!(!output.contains(canary), "{canary} leaked: {output}");
        }
    }
    // The event's own sinks are unchanged: typed JSON.
    let envelope = &memory.events()[0];
    assert_eq!(envelope["metadata"]["express"], true);
    assert_eq!(envelope["metadata"]["tags"][1], "eu");
    assert_eq!(
        envelope["metadata"]["warning"]["message"],
        "disk nearly full"
    );
}

/// An import failed; `cause` holds the user's file name.
#[derive(Event)]
#[event(kind = "error")]
struct ImportFailed {
    job: u32,
    #[event(error)]
    error: std::io::Error,
    #[event(error(redact_message))]
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[test]
fn error_fields_reach_the_ndjson_lines_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    let stdout = SharedBuffer::default();
    let (layer, guard) = EventLayer::builder()
        .sink(FileSink::builder(&file).build().unwrap())
        .sink(StdoutSink::builder().writer(stdout.clone()).build())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let cause: Box<dyn std::error::Error + Send + Sync> =
            "canary-file.csv: not a number".into();
        emit!(ImportFailed {
            job: 1,
            error: std::io::Error::new(std::io::ErrorKind::InvalidData, "bad row\nat line 3"),
            cause: Some(cause),
        });
    });
    assert!(guard.flush(FLUSH).is_complete());
    for (what, text) in [
        ("file", std::fs::read_to_string(&file).unwrap()),
        ("stdout", stdout.text()),
    ] {
        assert_eq!(
            text.lines().count(),
            1,
            "{what}: one line, whatever the messages hold"
        );
        assert!(!text.contains("canary"), "{what}: {text}");
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["event_type"], "error");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(
            line["metadata"],
            serde_json::json!({
                "job": 1,
                "error": {
                    "type": "std::io::error::Error",
                    "message": "bad row\nat line 3",
                    "chain": [],
                },
                "cause": { "type": event_core::UNKNOWN_ERROR_TYPE, "chain": [] },
            }),
            "{what}"
        );
    }
}

#[test]
fn drop_newest_under_overload_conserves_and_reports() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .sink_with(
            SlowSink {
                inner: sink.clone(),
                delay: Duration::from_millis(2),
            },
            SinkOptions::new()
                .max_queue_bytes(16 << 10)
                .overflow(Overflow::DropNewest),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    emit_from_threads(&dispatch, 4, 100_000);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = guard.stats();
    let memory = &stats.sinks[0];
    assert_eq!(stats.emitted, 400_000);
    assert_eq!(memory.emitted, 400_000);
    assert!(memory.dropped(DropReason::QueueFull) > 0, "{memory:?}");
    assert_eq!(
        memory.emitted,
        memory.delivered + memory.dropped_total(),
        "{memory:?}"
    );
    assert!(memory.is_conserved());
    assert_eq!(memory.pending, 0);
    assert_eq!(memory.queue_bytes, 0);
    // The losses were reported in-band, in full.
    let events = sink.events();
    let reports: Vec<_> = events
        .iter()
        .filter(|e| e["event_name"] == "events_dropped")
        .collect();
    assert!(!reports.is_empty());
    assert_eq!(reports.len() as u64, memory.drop_reports);
    let reported: u64 = reports
        .iter()
        .map(|e| e["metadata"]["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, memory.dropped_total());
    assert_eq!(reports[0]["event_type"], "system_event");
    let user_events = events.len() as u64 - reports.len() as u64;
    assert_eq!(user_events, memory.delivered);
}

#[test]
fn block_under_overload_loses_nothing() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .sink_with(
            SlowSink {
                inner: sink.clone(),
                delay: Duration::from_micros(200),
            },
            SinkOptions::new()
                .max_queue_bytes(64 << 10)
                .overflow(Overflow::Block {
                    timeout: Duration::from_secs(60),
                }),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // 100,000 events into a 64 KiB queue: the emitters wait most of the time.
    emit_from_threads(&dispatch, 4, 25_000);
    assert!(guard.flush(FLUSH).is_complete());
    let memory = &guard.stats().sinks[0];
    assert_eq!(memory.emitted, 100_000);
    assert_eq!(memory.delivered, 100_000, "{memory:?}");
    assert_eq!(memory.dropped_total(), 0);
    assert_eq!(sink.len(), 100_000);
    // Every thread's events arrive, each thread's in order.
    let mut next = [0u64; 4];
    for event in sink.events() {
        let thread = event["metadata"]["thread"].as_u64().unwrap() as usize;
        assert_eq!(event["metadata"]["seq"].as_u64().unwrap(), next[thread]);
        next[thread] += 1;
    }
}

#[derive(Event)]
#[event(kind = "system_event")]
struct LoadTick {
    thread: u64,
    seq: u64,
}

fn emit_from_threads(dispatch: &tracing::Dispatch, threads: u64, per_thread: u64) {
    thread::scope(|scope| {
        for thread in 0..threads {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for seq in 0..per_thread {
                        emit!(LoadTick { thread, seq });
                    }
                })
            });
        }
    });
}

#[test]
fn a_stuck_sink_delays_neither_other_sinks_nor_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    let (layer, guard) = EventLayer::builder()
        .sink_with(StuckSink, SinkOptions::new().max_queue_bytes(8 << 10))
        .sink(FileSink::builder(&file).build().unwrap())
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // Far more than the stuck sink's queue holds: were `emit!` to wait, this would hang.
        for seq in 0..5_000 {
            emit!(LoadTick { thread: 0, seq });
        }
    });
    // Long enough for the healthy sink; the stuck one holds the flush for all of it.
    let timeout = Duration::from_secs(2);
    let report = guard.flush(timeout);
    assert!(!report.is_complete());
    assert!(report.elapsed() >= timeout);
    let stuck = &report.sinks()[0];
    assert!(!stuck.done && stuck.pending > 0, "{report:?}");
    assert!(report.sinks()[1].done, "{report:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        5_000
    );
    let stats = guard.stats();
    let stuck = stats.sink("stuck").unwrap();
    assert!(stuck.dropped(DropReason::QueueFull) > 0);
    assert_eq!(stuck.emitted, stuck.pending + stuck.dropped_total());
    let shutdown = guard.shutdown(Duration::from_millis(100));
    assert!(
        !shutdown.is_complete(),
        "the stuck sink is reported, not waited for"
    );
}

#[test]
fn failing_user_code_is_counted_and_the_next_event_flows() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(sync_failed(true));
        emit!(CacheWarmed);
        emit!(sync_failed(false));
        emit!(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    let stats = guard.stats();
    assert_eq!(stats.serialize_errors, 2);
    let memory = &stats.sinks[0];
    assert_eq!(memory.dropped(DropReason::SerializeError), 2);
    assert_eq!(memory.delivered, 2);
    assert!(memory.is_conserved());
    let error = stats.last_serialize_error.unwrap();
    assert!(
        error.contains("field `flaky` of event `sync_failed`"),
        "{error}"
    );
    assert!(!error.contains(CANARY_PASSWORD));
    let names: Vec<_> = sink
        .events()
        .iter()
        .map(|e| e["event_name"].as_str().unwrap().to_owned())
        .collect();
    // However the worker batched them, the events that did serialize all arrive, with a report
    // of the losses.
    let events: Vec<_> = names
        .iter()
        .filter(|name| *name != "events_dropped")
        .collect();
    assert_eq!(events, ["cache_warmed", "cache_warmed"], "{names:?}");
    assert!(names.contains(&"events_dropped".to_owned()), "{names:?}");
}

#[test]
fn emit_after_shutdown_is_counted() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || emit!(CacheWarmed));
    assert!(guard.shutdown(FLUSH).is_complete());
    tracing::dispatcher::with_default(&dispatch, || emit!(CacheWarmed));
    let stats = guard.stats();
    let memory = &stats.sinks[0];
    assert_eq!((stats.emitted, memory.delivered), (2, 1));
    assert_eq!(memory.dropped(DropReason::Shutdown), 1);
    assert!(memory.is_conserved());
    assert_eq!(sink.len(), 1);
}

#[test]
fn no_hash_key_fails_closed_and_counts() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(login_attempt());
    });
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(sink.events()[0]["metadata"]["email"], "[REDACTED]");
    assert_eq!(guard.stats().hash_key_missing, 1);
}

#[test]
fn filtered_out_events_are_not_emitted() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let filter = tracing_subscriber::filter::LevelFilter::WARN;
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer.with_filter(filter)),
        || {
            emit!(CacheWarmed); // INFO: filtered out
            emit!(login_attempt()); // WARN
        },
    );
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(guard.stats().emitted, 1);
    assert_eq!(sink.events()[0]["event_name"], "user_login_attempt");
}

/// The README's advice for a service whose logs are filtered at `warn`: a filter on the `fmt`
/// layer alone keeps INFO events flowing to the event layer, and a global one would not.
#[test]
fn a_filter_on_the_fmt_layer_alone_keeps_info_events() {
    let sink = MemorySink::new();
    let fmt = SharedBuffer::default();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(fmt.clone())
                .with_filter(tracing_subscriber::EnvFilter::new("warn")),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit!(CacheWarmed); // INFO
        emit!(login_attempt()); // WARN
    });
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(guard.stats().emitted, 2);
    let names: Vec<_> = sink
        .events()
        .iter()
        .map(|e| e["event_name"].clone())
        .collect();
    assert_eq!(names, ["cache_warmed", "user_login_attempt"]);
    let fmt = fmt.text();
    assert!(
        fmt.contains("user_login_attempt") && !fmt.contains("cache_warmed"),
        "{fmt}"
    );

    // The trap: the same filter on the whole subscriber hides the INFO event from the layer.
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("warn"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit!(CacheWarmed);
        emit!(login_attempt());
    });
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(guard.stats().emitted, 1);
    assert_eq!(sink.len(), 1);
}

#[test]
fn configuration_mistakes_are_build_errors() {
    let err = EventLayer::builder()
        .hash_key("k1", b"CANARY-KEY-short")
        .sink(MemorySink::new())
        .build()
        .err()
        .unwrap();
    assert_eq!(err.setting(), "hash_key");
    assert!(err.to_string().contains("at least 32"), "{err}");
    assert!(!err.to_string().contains("CANARY-KEY"));

    let err = EventLayer::builder().build().err().unwrap();
    assert!(err.to_string().contains("no sink"), "{err}");

    let err = EventLayer::builder()
        .context_field("Tenant ID")
        .sink(MemorySink::new())
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("snake_case"), "{err}");

    // A context field is written untreated: a secret or PII word in its name is refused...
    for (name, word) in [("auth_token", "token"), ("client_email", "email")] {
        let err = EventLayer::builder()
            .context_field(name)
            .sink(MemorySink::new())
            .build()
            .err()
            .unwrap();
        assert_eq!(err.setting(), format!("context_field({name:?})"));
        let text = err.to_string();
        assert!(text.contains(&format!("the word `{word}`")), "{text}");
        assert!(text.contains(".context_field_not_sensitive("), "{text}");
    }
    // ... unless it is declared not sensitive.
    assert!(EventLayer::builder()
        .context_field_not_sensitive("token_budget")
        .sink(MemorySink::new())
        .build()
        .is_ok());
}

#[test]
fn every_event_layer_gets_every_event() {
    let (first, second) = (MemorySink::new(), MemorySink::new());
    let (layer_a, guard_a) = EventLayer::builder()
        .service("a")
        .sink(first.clone())
        .build()
        .unwrap();
    let (layer_b, guard_b) = EventLayer::builder()
        .service("b")
        .sink(second.clone())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer_a).with(layer_b);
    tracing::subscriber::with_default(subscriber, || {
        emit!(login_attempt());
        emit!(CacheWarmed);
    });
    assert!(guard_a.flush(FLUSH).is_complete() && guard_b.flush(FLUSH).is_complete());
    let (a, b) = (first.events(), second.events());
    assert_eq!((a.len(), b.len()), (2, 2));
    assert_eq!(
        (&a[0]["service"], &b[0]["service"]),
        (&"a".into(), &"b".into())
    );
    // One emit, one id and time, whichever layer writes it.
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["event_id"], y["event_id"]);
        assert_eq!(x["timestamp"], y["timestamp"]);
        assert_eq!(x["metadata"], y["metadata"]);
    }
}

/// `emit!` in a generic function: one `static` callsite, many event types.
fn emit_any<E: Event + Send>(event: E) {
    emit!(event);
}

#[test]
fn a_generic_emit_keeps_each_type_apart() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit_any(CacheWarmed);
        emit_any(login_attempt());
        emit_any(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| e["event_name"].clone()).collect();
    assert_eq!(
        names,
        ["cache_warmed", "user_login_attempt", "cache_warmed"]
    );
    assert_eq!(events[1]["level"], "WARN");
    assert_eq!(events[1]["metadata"]["password"], "[REDACTED]");
}

/// Records the `tracing` metadata of every event it sees.
#[derive(Clone, Default)]
struct MetadataSpy(std::sync::Arc<std::sync::Mutex<Vec<(String, String, tracing::Level)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for MetadataSpy {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        self.0.lock().unwrap().push((
            meta.name().to_owned(),
            meta.target().to_owned(),
            *meta.level(),
        ));
    }
}

#[test]
fn emit_dispatches_one_tracing_event_named_after_the_event() {
    let spy = MetadataSpy::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(spy.clone()), || {
        emit!(login_attempt());
        emit!(export_failed());
        emit!(CacheWarmed);
    });
    let seen = spy.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (
                "user_login_attempt".into(),
                "pipeline".into(),
                tracing::Level::WARN
            ),
            (
                "export_failed".into(),
                "pipeline".into(),
                tracing::Level::ERROR
            ),
            (
                "cache_warmed".into(),
                "pipeline".into(),
                tracing::Level::INFO
            ),
        ]
    );
}

#[test]
fn a_panicking_field_never_reaches_the_caller_through_fmt() {
    let fmt = SharedBuffer::default();
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(fmt.clone())
                .with_ansi(false),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit!(sync_failed(true));
        emit!(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    let text = fmt.text();
    assert!(text.contains("flaky=<panicked>"), "{text}");
    assert!(!text.contains(CANARY_PASSWORD));
    assert_eq!(guard.stats().serialize_errors, 1);
    let names: Vec<_> = sink
        .events()
        .iter()
        .map(|e| e["event_name"].clone())
        .collect();
    assert!(names.contains(&"cache_warmed".into()), "{names:?}");
}

#[derive(Event)]
#[event(kind = "business")]
struct BlobStored {
    blob: String,
}

#[test]
fn oversized_events_are_dropped_and_do_not_block_their_type() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .max_event_bytes(2_000)
        .sink_with(sink.clone(), SinkOptions::new().max_queue_bytes(64 << 10))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(BlobStored {
            blob: "x".repeat(200_000)
        });
        for _ in 0..10 {
            emit!(BlobStored {
                blob: "small".into()
            });
        }
    });
    assert!(guard.flush(FLUSH).is_complete());
    let stats = &guard.stats().sinks[0];
    assert_eq!(stats.dropped(DropReason::TooLarge), 1);
    assert_eq!(stats.delivered, 10);
    assert!(stats.is_conserved());
}

#[derive(Event)]
#[event(kind = "system_event")]
struct FailureRequested;

#[derive(Event)]
#[event(kind = "system_event")]
struct PanicRequested;

/// Fails batches holding `failure_requested`, panics on `panic_requested`, else writes.
struct FailingSink {
    inner: MemorySink,
}

impl event_core::Sink for FailingSink {
    fn name(&self) -> String {
        "failing".into()
    }

    async fn write_batch(
        &mut self,
        batch: &event_core::Batch<'_>,
    ) -> Result<(), event_core::SinkError> {
        if batch.iter().any(|e| e.name() == "failure_requested") {
            return Err(event_core::SinkError::new("the endpoint said no"));
        }
        if batch.iter().any(|e| e.name() == "panic_requested") {
            panic!("the sink broke");
        }
        self.inner.write_batch(batch).await
    }
}

#[test]
fn sink_errors_and_panics_are_counted_and_the_sink_goes_on() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder()
        .sink(FailingSink {
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // One event per batch: each flush waits until the worker has written it, and then writes
    // the report of what was lost.
    tracing::dispatcher::with_default(&dispatch, || emit!(FailureRequested));
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(
        guard.stats().sinks[0].last_error.as_deref(),
        Some("the endpoint said no")
    );
    tracing::dispatcher::with_default(&dispatch, || emit!(PanicRequested));
    assert!(guard.flush(FLUSH).is_complete());
    tracing::dispatcher::with_default(&dispatch, || emit!(CacheWarmed));
    assert!(guard.flush(FLUSH).is_complete());

    let stats = &guard.stats().sinks[0];
    assert_eq!(stats.dropped(DropReason::SinkError), 1);
    assert_eq!(stats.dropped(DropReason::SinkPanic), 1);
    assert_eq!(stats.delivered, 1);
    assert_eq!(stats.drop_reports, 2);
    assert!(stats.is_conserved());
    let events = sink.events();
    let names: Vec<_> = events.iter().map(|e| e["event_name"].clone()).collect();
    assert_eq!(names, ["events_dropped", "events_dropped", "cache_warmed"]);
    assert_eq!(
        events[0]["metadata"]["reasons"],
        serde_json::json!({ "sink_error": 1 })
    );
    assert_eq!(
        events[1]["metadata"]["reasons"],
        serde_json::json!({ "sink_panic": 1 })
    );
}

#[test]
fn block_gives_up_after_its_timeout_and_counts() {
    let (layer, guard) = EventLayer::builder()
        .sink_with(
            StuckSink,
            SinkOptions::new()
                .max_queue_bytes(1_000)
                .overflow(Overflow::Block {
                    timeout: Duration::from_millis(50),
                }),
        )
        .shutdown_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for seq in 0..50 {
            emit!(LoadTick { thread: 0, seq });
        }
    });
    let stats = &guard.stats().sinks[0];
    assert!(stats.dropped(DropReason::BlockTimeout) > 0, "{stats:?}");
    assert_eq!(stats.emitted, stats.pending + stats.dropped_total());
}

#[test]
fn shutdown_racing_emitters_loses_nothing_uncounted() {
    for _ in 0..20 {
        let sink = MemorySink::new();
        let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        thread::scope(|scope| {
            for thread in 0..4 {
                let dispatch = dispatch.clone();
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for seq in 0..2_000 {
                            emit!(LoadTick { thread, seq });
                        }
                    })
                });
            }
            let _ = guard.shutdown(Duration::ZERO);
        });
        // After shutdown, a flush answers once the worker has stopped and counted leftovers.
        assert!(guard.flush(FLUSH).is_complete());
        let stats = guard.stats();
        let memory = &stats.sinks[0];
        assert_eq!(memory.emitted, 8_000);
        assert!(memory.is_conserved(), "{memory:?}");
        assert_eq!((memory.pending, memory.queue_bytes), (0, 0), "{memory:?}");
        let delivered = sink
            .events()
            .iter()
            .filter(|e| e["event_name"] == "load_tick")
            .count();
        assert_eq!(delivered as u64, memory.delivered);
    }
}

#[test]
fn dropping_the_guard_delivers_what_was_emitted() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for seq in 0..1_000 {
            emit!(LoadTick { thread: 0, seq });
        }
    });
    drop(guard);
    assert_eq!(sink.len(), 1_000);
}

#[test]
fn emit_at_a_level_sets_the_envelope_level_and_is_filtered_at_it() {
    use tracing_subscriber::filter::LevelFilter;

    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        // `session_started` is declared `level = "debug"`: below the filter unless raised.
        emit!(level = tracing::Level::ERROR, session_started());
        emit!(level = tracing::Level::INFO, session_started());
        emit!(session_started());
        emit!(level = tracing::Level::TRACE, session_started());
    });
    assert!(guard.flush(FLUSH).is_complete());
    let levels: Vec<String> = sink
        .events()
        .iter()
        .map(|e| e["level"].as_str().unwrap().to_owned())
        .collect();
    // The DEBUG and TRACE ones are below the filter: not emitted, so not counted as lost.
    assert_eq!(levels, ["ERROR", "INFO"]);
    let stats = guard.stats();
    assert_eq!(stats.emitted, 2);
    assert!(stats.sinks[0].dropped.is_empty(), "{stats:?}");
}

/// Which call was given which deadline.
type Deadlines = std::sync::Arc<std::sync::Mutex<Vec<(&'static str, Option<std::time::Instant>)>>>;

/// Records the deadline its `flush` and `shutdown` were given.
struct DeadlineSink {
    outcomes: Option<event_core::Outcomes>,
    seen: Deadlines,
}

impl event_core::Sink for DeadlineSink {
    fn name(&self) -> String {
        "deadline".into()
    }
    async fn write_batch(
        &mut self,
        _: &event_core::Batch<'_>,
    ) -> Result<(), event_core::SinkError> {
        Ok(())
    }
    fn attach(&mut self, outcomes: event_core::Outcomes) {
        self.outcomes = Some(outcomes);
    }
    async fn flush(&mut self) -> Result<(), event_core::SinkError> {
        let deadline = self.outcomes.as_ref().and_then(|o| o.deadline());
        self.seen.lock().unwrap().push(("flush", deadline));
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), event_core::SinkError> {
        let deadline = self.outcomes.as_ref().and_then(|o| o.deadline());
        self.seen.lock().unwrap().push(("shutdown", deadline));
        Ok(())
    }
}

#[test]
fn sinks_are_told_the_deadline_of_a_flush_and_a_shutdown() {
    let seen = Deadlines::default();
    let sink = DeadlineSink {
        outcomes: None,
        seen: std::sync::Arc::clone(&seen),
    };
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    drop(layer);
    let before = std::time::Instant::now();
    assert!(guard.flush(Duration::from_secs(10)).is_complete());
    assert!(guard.shutdown(Duration::from_secs(8)).is_complete());
    let after = std::time::Instant::now();
    let seen = seen.lock().unwrap().clone();
    let [("flush", Some(flush)), ("flush", Some(last_flush)), ("shutdown", Some(stop))] = seen[..]
    else {
        panic!("{seen:?}");
    };
    // The flush's own timeout; at shutdown three quarters of it for the flush, the rest but a
    // twentieth for the shutdown.
    assert!(flush >= before + Duration::from_secs(10) && flush <= after + Duration::from_secs(10));
    assert!(
        last_flush >= before + Duration::from_secs(6)
            && last_flush <= after + Duration::from_secs(6)
    );
    assert!(
        stop >= before + Duration::from_millis(7_600)
            && stop <= after + Duration::from_millis(7_600)
    );
    assert!(last_flush < stop);
}

/// Fails its first `failures` batches, then delivers.
struct FlakySink {
    failures: usize,
}

impl event_core::Sink for FlakySink {
    fn name(&self) -> String {
        "flaky".into()
    }
    async fn write_batch(
        &mut self,
        _: &event_core::Batch<'_>,
    ) -> Result<(), event_core::SinkError> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(event_core::SinkError::new("the disk is gone"));
        }
        Ok(())
    }
}

#[test]
fn the_app_is_told_once_what_its_counters_show() {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<event_core::Diagnostic>>> = Default::default();
    let record = std::sync::Arc::clone(&seen);
    let (layer, guard) = EventLayer::builder()
        .sink(FlakySink { failures: 1 })
        .on_diagnostic(move |d| record.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        // No hash key: its `email` is written redacted.
        emit!(login_attempt());
        emit!(login_attempt());
    });
    assert!(guard.flush(FLUSH).is_complete());
    tracing::dispatcher::with_default(&dispatch, || emit!(CacheWarmed));
    assert!(guard.flush(FLUSH).is_complete());
    guard.shutdown(FLUSH);
    tracing::dispatcher::with_default(&dispatch, || {
        emit!(CacheWarmed);
        emit!(CacheWarmed);
    });
    use event_core::DiagnosticKind::*;
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<_> = seen.iter().map(|d| d.kind()).collect();
    for (kind, times) in [
        (HashKeyMissing, 1),
        (SinkFailing, 1),
        (SinkRecovered, 1),
        (EmittedAfterShutdown, 1),
    ] {
        let count = kinds.iter().filter(|k| **k == kind).count();
        assert_eq!(count, times, "{kind:?} in {seen:?}");
    }
    let failing = seen.iter().find(|d| d.kind() == SinkFailing).unwrap();
    assert_eq!(failing.sink(), Some("flaky"));
    // Not quoted (a sink's error may echo an endpoint's answer): it is in the stats.
    assert!(!failing.message().contains("the disk is gone"), "{failing}");
    assert!(failing.message().contains("last_error"), "{failing}");
    let after = seen
        .iter()
        .find(|d| d.kind() == EmittedAfterShutdown)
        .unwrap();
    assert!(after.message().contains("_guard"), "{after}");
    for diagnostic in &seen {
        assert!(
            !diagnostic.message().contains(CANARY_PASSWORD),
            "{diagnostic}"
        );
    }
}

/// Where each `DropProbe` was dropped.
type DropThreads = std::sync::Arc<std::sync::Mutex<Vec<thread::ThreadId>>>;

/// A field that records the thread it is dropped on, and then panics if `panics`.
struct DropProbe {
    drops: DropThreads,
    panics: bool,
}

impl DropProbe {
    fn new(drops: DropThreads) -> Self {
        DropProbe {
            drops,
            panics: false,
        }
    }
}

impl serde::Serialize for DropProbe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("probe")
    }
}

impl schemars::JsonSchema for DropProbe {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DropProbe".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(thread::current().id());
        if self.panics {
            panic!("a Drop that panics");
        }
    }
}

#[derive(Event)]
#[event(kind = "system_event")]
struct CacheEntryEvicted {
    probe: DropProbe,
}

#[test]
fn written_events_are_freed_on_the_thread_that_emitted_them() {
    // glibc's allocator makes a worker that frees an emitting thread's memory wait on that
    // thread's arena lock; the events go back to be freed where they were allocated.
    let (first, second) = (MemorySink::named("first"), MemorySink::named("second"));
    let (layer, guard) = EventLayer::builder()
        .sink(first.clone())
        .sink(second.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let drops = DropThreads::default();
    let evicted = || CacheEntryEvicted {
        probe: DropProbe::new(drops.clone()),
    };
    // A thread that ends: what the sinks have written is freed as it exits.
    let emitter = thread::scope(|scope| {
        scope
            .spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    for _ in 0..10 {
                        emit!(evicted());
                    }
                });
                assert!(guard.flush(FLUSH).is_complete());
                thread::current().id()
            })
            .join()
            .unwrap()
    });
    assert_eq!(first.lines().len(), 10);
    assert_eq!(second.lines().len(), 10);
    let dropped_on = |drops: &DropThreads| drops.lock().unwrap().clone();
    assert_eq!(
        dropped_on(&drops),
        vec![emitter; 10],
        "each freed once, on the thread that emitted it (it ended)"
    );
    // A thread that goes on: freed at its next emit.
    drops.lock().unwrap().clear();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..5 {
            emit!(evicted());
        }
        assert!(guard.flush(FLUSH).is_complete());
        emit!(evicted());
    });
    assert_eq!(dropped_on(&drops), vec![thread::current().id(); 5]);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(first.lines().len(), 16);
}

/// A sink that writes nothing until `open` is sent something.
struct GatedSink(std::sync::mpsc::Receiver<()>);

impl event_core::Sink for GatedSink {
    fn name(&self) -> String {
        "gated".into()
    }
    async fn write_batch(
        &mut self,
        _: &event_core::Batch<'_>,
    ) -> Result<(), event_core::SinkError> {
        let _ = self.0.recv();
        Ok(())
    }
}

#[test]
fn events_of_a_thread_that_ended_before_they_were_written_are_freed() {
    let (open, gate) = std::sync::mpsc::channel();
    let (layer, guard) = EventLayer::builder().sink(GatedSink(gate)).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let drops = DropThreads::default();
    thread::scope(|scope| {
        scope.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                for _ in 0..3 {
                    emit!(CacheEntryEvicted {
                        probe: DropProbe::new(drops.clone()),
                    });
                }
            })
        });
    });
    // The emitting thread has ended; the sink now writes its events.
    for _ in 0..3 {
        let _ = open.send(());
    }
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(guard.stats().sinks[0].delivered, 3);
    assert_eq!(
        drops.lock().unwrap().len(),
        3,
        "freed, by the worker, not kept"
    );
}

/// Checks every batch's `ndjson()` against its events, and keeps what it saw, batch by batch.
#[derive(Clone, Default)]
struct NdjsonCheck(std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl NdjsonCheck {
    /// The event names of each batch that came as one buffer.
    fn names(&self) -> Vec<Vec<String>> {
        let batches = self.0.lock().unwrap();
        batches
            .iter()
            .map(|batch| {
                let lines = batch.as_deref().expect("one buffer for the only sink");
                lines
                    .lines()
                    .map(|line| {
                        let event: serde_json::Value = serde_json::from_str(line).unwrap();
                        event["event_name"].as_str().unwrap().to_owned()
                    })
                    .collect()
            })
            .collect()
    }
}

impl event_core::Sink for NdjsonCheck {
    fn name(&self) -> String {
        "ndjson-check".into()
    }
    async fn write_batch(
        &mut self,
        batch: &event_core::Batch<'_>,
    ) -> Result<(), event_core::SinkError> {
        let joined: Vec<u8> = batch
            .iter()
            .flat_map(|event| event.json().iter().copied().chain([b'\n']))
            .collect();
        if let Some(lines) = batch.ndjson() {
            assert_eq!(
                lines,
                &joined[..],
                "the lines of the batch's events, in order"
            );
        }
        let seen = batch
            .ndjson()
            .map(|lines| String::from_utf8(lines.to_vec()).unwrap());
        self.0.lock().unwrap().push(seen);
        Ok(())
    }
}

#[test]
fn a_layers_only_sink_gets_the_batch_as_one_ndjson_buffer() {
    let check = NdjsonCheck::default();
    let (layer, guard) = EventLayer::builder().sink(check.clone()).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(CacheWarmed);
        // Fails to serialize: the batch then ends with the report of that loss.
        emit!(sync_failed(true));
        emit!(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    let batches = check.names();
    // However the events were batched, the report of the loss is the last line of the batch
    // that counted it, and nothing else is lost.
    for batch in &batches {
        let reports = batch
            .iter()
            .filter(|name| *name == "events_dropped")
            .count();
        assert!(reports <= 1, "{batches:?}");
        if reports == 1 {
            assert_eq!(batch.last().unwrap(), "events_dropped", "{batches:?}");
        }
    }
    let mut names: Vec<_> = batches.concat();
    names.sort();
    assert_eq!(names, ["cache_warmed", "cache_warmed", "events_dropped"]);

    // With two sinks, the envelopes are shared and each sink joins the lines itself.
    let check = NdjsonCheck::default();
    let (layer, guard) = EventLayer::builder()
        .sink(check.clone())
        .sink(MemorySink::new())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(CacheWarmed);
    });
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(*check.0.lock().unwrap(), [None]);
}

#[derive(Event)]
#[event(kind = "system_event")]
struct ConnectionClosed {
    handle: DropProbe,
}

#[test]
fn events_whose_drop_panics_are_all_freed_and_the_app_goes_on() {
    let sink = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(sink.clone()).build().unwrap();
    let dropped = DropThreads::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..3 {
            emit!(ConnectionClosed {
                handle: DropProbe {
                    drops: dropped.clone(),
                    panics: true,
                },
            });
        }
        assert!(guard.flush(FLUSH).is_complete());
        // Frees the three that came back, in this thread: each panic is caught on its own.
        emit!(CacheWarmed);
    });
    assert_eq!(dropped.lock().unwrap().len(), 3);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(sink.lines().len(), 4);
}
