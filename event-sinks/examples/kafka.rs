//! `KafkaSink`: events onto a Kafka topic, keyed by user so each user's events stay in order,
//! and read back by a consumer that de-duplicates by `event_id`. The cluster is librdkafka's
//! in-process mock cluster (three brokers), so the example runs anywhere; point
//! `KafkaSink::builder` at your brokers instead (`"kafka-1:9092,kafka-2:9092"`).
//!
//! Run with `cargo run -p event-sinks --features kafka --example kafka`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use event_core::{emit, Event, EventLayer};
use event_sinks::rdkafka::consumer::{BaseConsumer, Consumer};
use event_sinks::rdkafka::message::{Headers, Message};
use event_sinks::rdkafka::mocking::MockCluster;
use event_sinks::rdkafka::producer::DefaultProducerContext;
use event_sinks::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use event_sinks::KafkaSink;
use tracing_subscriber::prelude::*;

/// An order was shipped.
#[derive(Event)]
#[event(kind = "business", version = 1)]
struct OrderShipped {
    order_id: u64,
    carrier: String,
    /// Personal: never leaves the process in clear.
    #[event(redact)]
    address: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster: MockCluster<'static, DefaultProducerContext> = MockCluster::new(3)?;
    cluster.create_topic("events.business", 3, 3)?;
    let dir = tempfile::tempdir()?;

    let sink = KafkaSink::builder(cluster.bootstrap_servers())
        // One topic per kind of event: this one goes to `events.business`.
        .topic("events.{event_type}")
        // Every event of one user in one partition, in order.
        .key_from("user_id")
        // While the brokers are unreachable for longer than the delivery timeout, events
        // wait here, and are replayed in order (also after a restart).
        .spool(dir.path().join("spool"), 256 << 20)
        .dead_letter(dir.path().join("refused.ndjson"))
        .client_config("compression.type", "lz4")
        .build()?;
    let (layer, guard) = EventLayer::builder().service("shop").sink(sink).build()?;
    tracing_subscriber::registry().with(layer).init();

    for order_id in 1..=30 {
        let user = format!("u-{}", order_id % 3);
        let span = tracing::info_span!("request", user_id = user.as_str());
        let _entered = span.enter();
        emit!(OrderShipped {
            order_id,
            carrier: "dhl".into(),
            address: "1 Main St".into(),
        });
    }
    // Shutdown flushes: it returns once the brokers acknowledged every event (or the
    // timeout passed, and what was left is spooled or counted).
    let report = guard.shutdown(Duration::from_secs(10));
    let stats = guard.stats();
    let kafka = stats.sink("kafka").expect("the sink's stats");
    println!(
        "shutdown complete: {}; delivered {} of {} emitted",
        report.is_complete(),
        kafka.delivered,
        kafka.emitted
    );

    // The consumer side: read every partition, skip any event_id already seen (a replay
    // after a crash can deliver an event twice; the copies are identical).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "warehouse-loader")
        .create()?;
    let mut partitions = TopicPartitionList::new();
    for partition in 0..3 {
        partitions.add_partition_offset("events.business", partition, Offset::Beginning)?;
    }
    consumer.assign(&partitions)?;
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 30 && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let envelope: serde_json::Value =
            serde_json::from_slice(message.payload().unwrap_or_default())?;
        let event_id = envelope["event_id"].as_str().unwrap_or_default().to_owned();
        if !seen.insert(event_id) {
            continue;
        }
        if seen.len() <= 3 {
            let name = message
                .headers()
                .and_then(|headers| headers.iter().find(|h| h.key == "event_name"))
                .and_then(|h| h.value)
                .map(String::from_utf8_lossy);
            println!(
                "partition {} key {:?} header event_name {:?}: {envelope}",
                message.partition(),
                message.key().map(String::from_utf8_lossy),
                name,
            );
        }
    }
    println!("read back {} distinct events", seen.len());
    if seen.len() != 30 || kafka.delivered != 30 {
        return Err("not every event arrived".into());
    }
    Ok(())
}
