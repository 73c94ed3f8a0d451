//! A few typed events of different kinds, emitted inside a request span: printed readably to
//! stdout and written as NDJSON under `./events/`.
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use event_core::{emit, Event, EventLayer};
use event_sinks::{FileSink, StdoutSink};
use schemars::JsonSchema;
use serde::Serialize;
use tracing_subscriber::prelude::*;

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    Success,
    BadPassword,
}

/// A user tried to log in.
#[derive(Event)]
#[event(kind = "security", version = "1.1")]
pub struct UserLoginAttempt {
    pub user_id: String,
    /// Where the attempt came from.
    #[event(pii)]
    pub ip: std::net::IpAddr,
    pub result: LoginResult,
    #[event(redact)]
    pub password: String,
    #[event(hash)]
    pub email: String,
    #[event(since = "1.1")]
    pub mfa_used: Option<bool>,
}

/// An order was paid.
#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPaid {
    pub order_id: u64,
    pub amount_cents: u64,
    #[event(mask)]
    pub card_number: String,
    pub coupon: Option<String>,
}

/// A user opened a page.
#[derive(Event)]
#[event(kind = "user_action")]
pub struct PageViewed {
    pub path: String,
}

/// A call to a partner failed.
#[derive(Event)]
#[event(kind = "error")]
pub struct PartnerCallFailed {
    pub partner: String,
    pub status: u16,
    pub retryable: bool,
    /// Written as its type, message and sources.
    #[event(error)]
    pub error: std::io::Error,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = FileSink::builder("events/quickstart.ndjson")
        .rotate_size(10 << 20)
        .keep_files(5)
        .build()?;
    let (layer, guard) = EventLayer::builder()
        .service("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"))
        .environment("dev")
        // In production the key comes from your secret store; at least 32 bytes.
        .hash_key("k1", b"quickstart-demo-key-0123456789abcdef")
        .sink(StdoutSink::pretty())
        .sink(file)
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    let request = tracing::info_span!("request", request_id = "req-7f3a", session_id = "s-91");
    request.in_scope(|| {
        emit!(PageViewed {
            path: "/login".into()
        });
        emit!(UserLoginAttempt {
            user_id: "u-42".into(),
            ip: "203.0.113.9".parse().expect("an IP address"),
            result: LoginResult::BadPassword,
            password: "hunter2".into(),
            email: "ada@example.com".into(),
            mfa_used: Some(false),
        });
        emit!(OrderPaid {
            order_id: 981,
            amount_cents: 4599,
            card_number: "4111111111111111".into(),
            coupon: None,
        });
        emit!(PartnerCallFailed {
            partner: "acme-shipping".into(),
            status: 503,
            retryable: true,
            error: std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 2 s"),
        });
    });

    let report = guard.flush(Duration::from_secs(5));
    let stats = guard.stats();
    let sinks: Vec<String> = stats
        .sinks
        .iter()
        .map(|sink| {
            format!(
                "{}: {} delivered, {} dropped",
                sink.name,
                sink.delivered,
                sink.dropped_total()
            )
        })
        .collect();
    println!(
        "\n{} events emitted -> {} | serialize errors {}, flush complete: {} (NDJSON in events/quickstart.ndjson)",
        stats.emitted,
        sinks.join("; "),
        stats.serialize_errors,
        report.is_complete()
    );
    Ok(())
}
