//! `KafkaSink` against a plain `rdkafka` `FutureProducer` loop: the same 10-field event, from
//! one emitting thread into librdkafka's in-process mock cluster (three brokers, a topic of
//! three partitions), timed from the first event until the brokers acknowledged the last.
//!
//! - `ours`: `emit!` → `EventLayer` (queue policy `Block`) → `KafkaSink`, keyed by `user_id`;
//! - `plain`: a loop that writes the same fields (treated the same way by hand: the IP
//!   truncated, the card masked, the email hashed) with an `event_id` and `timestamp` as one
//!   serde_json line, and hands it to `FutureProducer::send_result` keyed by the user, keeping
//!   the delivery futures and awaiting them at the end (awaiting each in turn would wait a
//!   broker round trip per event); when librdkafka's queue is full it awaits the oldest.
//!
//! Both producers have the same settings: idempotent, `acks=all`, `linger.ms=5`. The mock
//! brokers run in the same process, so what they spend per event is taken from both alike.
//!
//! Each stack runs `KAFKA_BENCH_RUNS` times (default 3), each in a child process of its own,
//! with `KAFKA_BENCH_EVENTS` events (default 200,000); the median is reported. Run:
//! `cargo bench -p event-benches --features bench-kafka --bench kafka` (it builds librdkafka:
//! a C compiler and make are needed). The table is printed and written to
//! `target/bench-kafka.md`.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

#[path = "common/mod.rs"]
mod common;

use common::Inputs;
use event_core::{emit, EventLayer, Overflow, SinkOptions};
use event_sinks::rdkafka::mocking::MockCluster;
use event_sinks::rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use event_sinks::rdkafka::ClientConfig;
use event_sinks::KafkaSink;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing_subscriber::prelude::*;

const STACKS: [&str; 2] = ["ours", "plain"];
const TOPIC: &str = "events";

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn main() {
    let events: u64 = env("KAFKA_BENCH_EVENTS", 200_000);
    let runs: usize = env("KAFKA_BENCH_RUNS", 3);
    if let Ok(stack) = std::env::var("KAFKA_BENCH_CHILD") {
        let cluster: Cluster = MockCluster::new(3).unwrap();
        cluster.create_topic(TOPIC, 3, 3).unwrap();
        let inputs = Inputs::new();
        let (rate, delivered) = match stack.as_str() {
            "ours" => ours(&cluster, &inputs, events),
            "plain" => plain(&cluster, &inputs, events),
            other => panic!("no stack {other}"),
        };
        println!("RUN {rate} {delivered}");
        return;
    }
    let mut rows = Vec::new();
    for stack in STACKS {
        let mut results: Vec<(f64, u64)> = (0..runs)
            .map(|_| {
                let output = std::process::Command::new(std::env::current_exe().unwrap())
                    .env("KAFKA_BENCH_CHILD", stack)
                    .env("KAFKA_BENCH_EVENTS", events.to_string())
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
                (f[0].parse().unwrap(), f[1].parse().unwrap())
            })
            .collect();
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        let all: Vec<String> = results.iter().map(|r| format!("{:.0}", r.0)).collect();
        let (rate, delivered) = results[results.len() / 2];
        eprintln!(
            "{stack:>6}: {rate:>9.0} ev/s (runs: {}), delivered {delivered}/{events}",
            all.join(", ")
        );
        rows.push((stack, rate, delivered, all));
    }
    let plain = rows[1].1;
    let mut table = format!(
        "`cargo bench -p event-benches --features bench-kafka --bench kafka`: {events} events, one emitting thread, librdkafka's mock cluster (3 brokers), median of {runs} runs\n\n\
         | stack | events/s until acknowledged | × plain | delivered / emitted | runs |\n\
         |---|---|---|---|---|\n"
    );
    for (stack, rate, delivered, all) in &rows {
        table += &format!(
            "| {stack} | {rate:.0} | {:.2} | {:.3} | {} |\n",
            rate / plain,
            *delivered as f64 / events as f64,
            all.join(", ")
        );
    }
    println!("{table}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let path = std::path::Path::new(&target).join("bench-kafka.md");
    std::fs::write(&path, &table).unwrap();
    println!("written to {}", path.display());
}

fn ours(cluster: &Cluster, inputs: &Inputs, events: u64) -> (f64, u64) {
    let sink = KafkaSink::builder(cluster.bootstrap_servers())
        .topic(TOPIC)
        .key_from("user_id")
        .build()
        .unwrap();
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
    let elapsed = start.elapsed();
    let stats = guard.stats().sink("kafka").unwrap().clone();
    assert!(stats.is_conserved(), "{stats:?}");
    (events as f64 / elapsed.as_secs_f64(), stats.delivered)
}

/// The same fields as the envelope's, written by hand.
#[derive(serde::Serialize)]
struct Line<'a> {
    timestamp: String,
    event_id: String,
    event_name: &'static str,
    service: &'static str,
    user_id: &'a str,
    session_id: &'a str,
    ip: &'static str,
    user_agent: &'static str,
    result: &'static str,
    failure_reason: &'static str,
    attempt_count: u32,
    latency_ms: f64,
    card_number: String,
    email: String,
}

fn plain(cluster: &Cluster, inputs: &Inputs, events: u64) -> (f64, u64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "65536")
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let delivered = runtime.block_on(async {
        let mut pending = VecDeque::new();
        let mut delivered = 0u64;
        let mut line = Vec::with_capacity(512);
        for i in 0..events {
            let event = inputs.event(i);
            let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
            mac.update(event.email.as_bytes());
            let email = format!("hmac-sha256:k1:{:x}", mac.finalize().into_bytes());
            let card = format!("************{}", &event.card_number[12..]);
            line.clear();
            serde_json::to_writer(
                &mut line,
                &Line {
                    timestamp: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
                    event_id: uuid::Uuid::now_v7().to_string(),
                    event_name: "login_attempted",
                    service: "bench",
                    user_id: &event.user_id,
                    session_id: &event.session_id,
                    ip: "203.0.113.0",
                    user_agent: common::USER_AGENT,
                    result: event.result,
                    failure_reason: event.failure_reason,
                    attempt_count: event.attempt_count,
                    latency_ms: event.latency_ms,
                    card_number: card,
                    email,
                },
            )
            .unwrap();
            loop {
                let record = FutureRecord::to(TOPIC)
                    .payload(&line)
                    .key(event.user_id.as_str());
                match producer.send_result(record) {
                    Ok(future) => {
                        pending.push_back(future);
                        break;
                    }
                    Err(_) => {
                        // librdkafka's queue is full: wait for the oldest acknowledgement.
                        let oldest = pending.pop_front().expect("a full queue holds some");
                        if matches!(oldest.await, Ok(Ok(_))) {
                            delivered += 1;
                        }
                    }
                }
            }
        }
        for future in pending {
            if matches!(future.await, Ok(Ok(_))) {
                delivered += 1;
            }
        }
        delivered
    });
    (events as f64 / start.elapsed().as_secs_f64(), delivered)
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
