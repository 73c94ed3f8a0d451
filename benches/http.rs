//! `HttpSink` against the OpenTelemetry Rust SDK: the same 10-field event, from one
//! emitting thread to the same loopback receiver, timed from the first emit until the stack is
//! done: our flush returned (everything delivered), or the SDK's `force_flush` returned (its
//! last export answered; what it dropped never arrives).
//!
//! - `ours-ndjson`: `emit!` → `EventLayer` (queue policy `Block`) → `HttpSink` with its
//!   defaults: NDJSON, gzip, batches of 1000, 2 requests in flight;
//! - `ours-otlp`: the same with `HttpFormat::OtlpProtobuf`;
//! - `otel-default`: `tracing::warn!` with the same fields → `opentelemetry-appender-tracing`
//!   → `BatchLogProcessor` with its defaults (queue 2048, batches of 512, every 1 s) → OTLP
//!   HTTP protobuf exporter (reqwest blocking client), gzip on;
//! - `otel-tuned`: the same with a queue of 262,144, batches of 8,192 every 100 ms, the
//!   settings that made it lose nothing here.
//!
//! The receiver shares the machine with the stack under test, so what it spends per event is
//! taken from the sender: it counts NDJSON lines by their newlines and OTLP log records by
//! walking the protobuf framing (records are counted, not decoded), after gunzipping either.
//! The first OTLP request of each run is also decoded in full with the official protos, and
//! must hold as many records. `HTTP_BENCH_RECEIVER=decode` decodes every OTLP request in full
//! instead, as a collector would (and charges that to the sender on a small machine).
//!
//! Each stack runs `HTTP_BENCH_RUNS` times (default 3), each run in a child process of its own,
//! with `HTTP_BENCH_EVENTS` events (default 200,000); the median run is reported, with what
//! landed. Run: `cargo bench -p event-benches --bench http`. The table is printed and written to
//! `target/bench-http.md`.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use common::Inputs;
use event_core::{emit, EventLayer, Overflow, SinkOptions};
use event_sinks::{HttpFormat, HttpSink};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{Compression, LogExporter, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::Resource;
use prost::Message;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

const STACKS: [&str; 4] = ["ours-ndjson", "ours-otlp", "otel-default", "otel-tuned"];

/// Records the receiver counted, and the bytes it was sent.
static RECORDS: AtomicU64 = AtomicU64::new(0);
static WIRE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Whether the next OTLP request is also decoded in full (the first one of a run).
static CHECK_NEXT: AtomicBool = AtomicBool::new(true);

/// Just enough of OTLP's `ExportLogsServiceRequest` to count its log records: prost skips
/// every other field, and each record stays an undecoded slice of the body.
#[derive(Clone, PartialEq, prost::Message)]
struct RecordCount {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<ResourceCount>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceCount {
    #[prost(message, repeated, tag = "2")]
    scope_logs: Vec<ScopeCount>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ScopeCount {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    log_records: Vec<Bytes>,
}

/// The log records of an OTLP protobuf body, or `None` if it is not one.
fn otlp_records(body: Bytes) -> Option<u64> {
    let full = CHECK_NEXT.swap(false, Ordering::Relaxed)
        || env("HTTP_BENCH_RECEIVER", String::new()) == "decode";
    let decoded = if full {
        let request = ExportLogsServiceRequest::decode(body.clone()).ok()?;
        Some(
            request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len() as u64)
                .sum::<u64>(),
        )
    } else {
        None
    };
    let counted = RecordCount::decode(body)
        .ok()?
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum();
    match decoded {
        Some(decoded) if decoded != counted => None,
        _ => Some(counted),
    }
}

/// Counts NDJSON lines or OTLP log records; answers 200 with an empty body (a full success
/// in OTLP).
async fn receive(headers: HeaderMap, body: Bytes) -> StatusCode {
    WIRE_BYTES.fetch_add(body.len() as u64, Ordering::Relaxed);
    let body = if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip")
    {
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .is_err()
        {
            return StatusCode::BAD_REQUEST;
        }
        Bytes::from(plain)
    } else {
        body
    };
    let protobuf = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    let records = if protobuf {
        let Some(records) = otlp_records(body) else {
            return StatusCode::BAD_REQUEST;
        };
        records
    } else {
        body.iter().filter(|&&b| b == b'\n').count() as u64
    };
    RECORDS.fetch_add(records, Ordering::Relaxed);
    StatusCode::OK
}

/// A receiver on its own thread and current-thread runtime; its URL.
fn start_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1/logs", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .fallback(axum::routing::post(receive))
                    .layer(DefaultBodyLimit::disable());
                axum::serve(listener, app).await.unwrap();
            });
    });
    url
}

/// Waits until the receiver has counted `events` records, or `timeout` passed.
fn wait_landed(events: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while RECORDS.load(Ordering::SeqCst) < events && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One run: (events/s until done, records landed).
fn ours(format: HttpFormat, url: &str, inputs: &Inputs, events: u64) -> (f64, u64) {
    let sink = HttpSink::builder(url).format(format).build().unwrap();
    let (layer, guard) = EventLayer::builder()
        .service("bench")
        .hash_key("k1", [7u8; 32])
        .sink_with(
            sink,
            SinkOptions::new()
                .max_queue_bytes(16 << 20)
                .overflow(Overflow::Block {
                    timeout: Duration::from_secs(60),
                }),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..events {
            emit!(inputs.event(i));
        }
    });
    assert!(guard.flush(Duration::from_secs(120)).is_complete());
    wait_landed(events, Duration::from_secs(10));
    let elapsed = start.elapsed();
    let stats = guard.stats().sink("http").unwrap().clone();
    assert!(stats.is_conserved(), "{stats:?}");
    (
        events as f64 / elapsed.as_secs_f64(),
        RECORDS.load(Ordering::SeqCst),
    )
}

fn otel(tuned: bool, url: &str, inputs: &Inputs, events: u64) -> (f64, u64) {
    let exporter = LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_compression(Compression::Gzip)
        .with_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut config = BatchConfigBuilder::default();
    if tuned {
        config = config
            .with_max_queue_size(262_144)
            .with_max_export_batch_size(8_192)
            .with_scheduled_delay(Duration::from_millis(100));
    }
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(config.build())
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_resource(Resource::builder().with_service_name("bench").build())
        .with_log_processor(processor)
        .build();
    // The SDK's and the HTTP client's own events stay out of the bridge (no feedback).
    let quiet = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("opentelemetry-http", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF);
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(OpenTelemetryTracingBridge::new(&provider).with_filter(quiet)),
    );
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..events {
            let e = inputs.event(i);
            tracing::warn!(
                name: "login_attempted",
                target: "bench",
                user_id = e.user_id.as_str(),
                session_id = e.session_id.as_str(),
                ip = %e.ip,
                user_agent = e.user_agent.as_str(),
                result = e.result,
                failure_reason = e.failure_reason,
                attempt_count = e.attempt_count,
                latency_ms = e.latency_ms,
                card_number = e.card_number.as_str(),
                email = e.email.as_str(),
            );
        }
    });
    let _ = provider.force_flush();
    // `force_flush` returns once the last export was answered: the clock stops here, and
    // what the SDK dropped (never to arrive) costs it no waiting.
    let elapsed = start.elapsed();
    wait_landed(events, Duration::from_millis(500));
    let _ = provider.shutdown();
    (
        events as f64 / elapsed.as_secs_f64(),
        RECORDS.load(Ordering::SeqCst),
    )
}

fn main() {
    let events: u64 = env("HTTP_BENCH_EVENTS", 200_000);
    let runs: usize = env("HTTP_BENCH_RUNS", 3);
    if let Ok(stack) = std::env::var("HTTP_BENCH_CHILD") {
        let url = start_receiver();
        let inputs = Inputs::new();
        let (rate, landed) = match stack.as_str() {
            "ours-ndjson" => ours(HttpFormat::Ndjson, &url, &inputs, events),
            "ours-otlp" => ours(HttpFormat::OtlpProtobuf, &url, &inputs, events),
            "otel-default" => otel(false, &url, &inputs, events),
            "otel-tuned" => otel(true, &url, &inputs, events),
            other => panic!("no stack {other}"),
        };
        let wire = WIRE_BYTES.load(Ordering::SeqCst) as f64 / landed.max(1) as f64;
        println!("RUN {rate} {landed} {wire}");
        return;
    }
    let mut rows = Vec::new();
    for stack in STACKS {
        let mut results: Vec<(f64, u64, f64)> = (0..runs)
            .map(|_| {
                let output = std::process::Command::new(std::env::current_exe().unwrap())
                    .env("HTTP_BENCH_CHILD", stack)
                    .env("HTTP_BENCH_EVENTS", events.to_string())
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&output.stdout);
                let line = stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("RUN "))
                    .unwrap_or_else(|| {
                        panic!("{stack}: {}", String::from_utf8_lossy(&output.stderr))
                    });
                let f: Vec<&str> = line.split(' ').collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        let all: Vec<String> = results.iter().map(|r| format!("{:.0}", r.0)).collect();
        let (rate, landed, wire) = results[results.len() / 2];
        eprintln!(
            "{stack:>13}: {rate:>9.0} ev/s (runs: {}), landed {landed}/{events}",
            all.join(", ")
        );
        rows.push((stack, rate, landed, wire));
    }
    let tuned = rows[3].1;
    let mut table = format!(
        "`cargo bench -p event-benches --bench http`: {events} events, one emitting thread, median of {runs} runs\n\n\
         | stack | events/s until done | × otel-tuned | landed / emitted | bytes on the wire per event |\n\
         |---|---|---|---|---|\n"
    );
    for (stack, rate, landed, wire) in &rows {
        table += &format!(
            "| {stack} | {rate:.0} | {:.2} | {:.3} | {wire:.0} |\n",
            rate / tuned,
            *landed as f64 / events as f64
        );
    }
    println!("{table}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let path = std::path::Path::new(&target).join("bench-http.md");
    std::fs::write(&path, &table).unwrap();
    println!("written to {}", path.display());
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
