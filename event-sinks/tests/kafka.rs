//! `KafkaSink` against librdkafka's in-process mock cluster (three brokers): delivery with
//! headers, order per key, brokers down and up with the spool, injected request errors,
//! refused events dead-lettered, and shutdown with the cluster down; conservation in every
//! case.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use event_core::{
    emit, DropReason, Event, EventGuard, EventLayer, Overflow, SinkOptions, SinkStats,
};
use event_sinks::rdkafka::consumer::{BaseConsumer, Consumer};
use event_sinks::rdkafka::message::{Headers, Message};
use event_sinks::rdkafka::mocking::MockCluster;
use event_sinks::rdkafka::producer::DefaultProducerContext;
use event_sinks::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use event_sinks::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use event_sinks::{KafkaSink, KafkaSinkBuilder};
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(30);
const CANARY: &str = "canary-5d2a-secret";

/// A job ended.
#[derive(Event)]
#[event(kind = "business", version = 1)]
struct JobFinished {
    /// Its number, in emission order.
    n: u64,
    /// Never to be seen outside.
    #[event(redact)]
    secret: String,
}

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(topic: &str) -> Cluster {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(topic, 3, 3).unwrap();
    cluster
}

fn builder(cluster: &Cluster, topic: &str) -> KafkaSinkBuilder {
    KafkaSink::builder(cluster.bootstrap_servers())
        .topic(topic)
        .client_config("linger.ms", "1")
}

/// Emits `count` events (numbered from `from`), each inside a span whose `user_id` is one of
/// five, through a layer with `sink`, waiting for room in its queue rather than dropping.
fn emit_through(sink: KafkaSink, from: u64, count: u64) -> EventGuard {
    let options = SinkOptions::new().overflow(Overflow::Block {
        timeout: Duration::from_secs(60),
    });
    let (layer, guard) = EventLayer::builder()
        .service("kafka-test")
        .sink_with(sink, options)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for n in from..from + count {
            let user = format!("u-{}", n % 5);
            let span = tracing::info_span!(
                "request",
                user_id = user.as_str(),
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id = "7dac9621a2ff46d4"
            );
            let _entered = span.enter();
            emit!(JobFinished {
                n,
                secret: CANARY.into(),
            });
        }
    });
    guard
}

fn stats(guard: &EventGuard) -> SinkStats {
    guard.stats().sink("kafka").unwrap().clone()
}

fn assert_conserved(stats: &SinkStats) {
    assert!(stats.is_conserved(), "conservation broken: {stats:?}");
    assert_eq!(stats.pending, 0, "{stats:?}");
}

/// Whether all `events` were delivered and nothing is left in the spool or pending. (The
/// counters are read one at a time: `delivered` can be seen a moment before `pending` goes
/// down, so a wait for the first alone does not mean the second.)
fn all_delivered(guard: &EventGuard, events: u64) -> bool {
    let stats = stats(guard);
    stats.delivered == events && stats.spooled == 0 && stats.pending == 0
}

/// Waits for a condition the sink reaches on its own threads (checked every millisecond).
fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// One consumed message.
struct Consumed {
    partition: i32,
    key: Option<String>,
    envelope: serde_json::Value,
    headers: BTreeMap<String, String>,
}

/// Reads every partition of `topic` from the start until `expected` messages came, or
/// nothing more comes for a while (10 s).
fn consume(cluster: &Cluster, topic: &str, expected: usize) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "kafka-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for partition in 0..3 {
        partitions
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&partitions).unwrap();
    let mut out = Vec::new();
    let mut idle = Instant::now();
    while out.len() < expected && idle.elapsed() < Duration::from_secs(10) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        // A broker that is away is reported and retried by the consumer: the counts that
        // the tests check tell whether everything came.
        let Ok(message) = message else {
            continue;
        };
        idle = Instant::now();
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8(h.value.unwrap().to_vec()).unwrap();
                        (h.key.to_owned(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Consumed {
            partition: message.partition(),
            key: message
                .key()
                .map(|key| String::from_utf8(key.to_vec()).unwrap()),
            envelope: serde_json::from_slice(message.payload().unwrap()).unwrap(),
            headers,
        });
    }
    out
}

fn number(message: &Consumed) -> u64 {
    message.envelope["metadata"]["n"].as_u64().unwrap()
}

/// Each key's events came in the order they were emitted (by their number).
fn assert_order_per_key(messages: &[Consumed]) {
    let mut last_of_key: BTreeMap<String, u64> = BTreeMap::new();
    for message in messages {
        let n = number(message);
        if let Some(last) = last_of_key.insert(message.key.clone().unwrap(), n) {
            assert!(n > last, "order per key: {n} after {last}");
        }
    }
}

#[test]
fn events_arrive_once_with_headers_keys_and_order_per_key() {
    let cluster = cluster("jobs");
    let sink = builder(&cluster, "jobs")
        .key_from("user_id")
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 1000);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_eq!(stats.delivered, 1000, "{stats:?}");
    assert_conserved(&stats);
    // Reading the route stops its walk early on purpose: that is no serialize error.
    assert_eq!(guard.stats().serialize_errors, 0);

    let messages = consume(&cluster, "jobs", 1000);
    assert_eq!(messages.len(), 1000);
    let ids: BTreeSet<&str> = messages
        .iter()
        .map(|m| m.envelope["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000, "every event once, by event_id");
    let mut partitions_of_key: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut last_of_key: BTreeMap<String, u64> = BTreeMap::new();
    for message in &messages {
        let key = message.key.clone().expect("keyed by user_id");
        assert_eq!(key, message.envelope["user_id"].as_str().unwrap());
        partitions_of_key
            .entry(key.clone())
            .or_default()
            .insert(message.partition);
        // Within a partition, in emission order.
        let n = number(message);
        if let Some(last) = last_of_key.insert(key, n) {
            assert!(n > last, "{n} after {last}");
        }
        assert_eq!(message.headers["event_name"], "job_finished");
        assert_eq!(message.headers["event_type"], "business");
        assert_eq!(message.headers["event_version"], "1.0");
        assert_eq!(message.headers["content-type"], "application/json");
        assert_eq!(
            message.headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-7dac9621a2ff46d4-01"
        );
        assert_eq!(message.envelope["metadata"]["secret"], "[REDACTED]");
    }
    assert_eq!(partitions_of_key.len(), 5);
    assert!(partitions_of_key.values().all(|p| p.len() == 1));
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn a_topic_template_routes_each_event_by_its_fields() {
    let cluster = cluster("events.business");
    let sink = builder(&cluster, "events.{event_type}").build().unwrap();
    let guard = emit_through(sink, 0, 10);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(stats(&guard).delivered, 10);
    let messages = consume(&cluster, "events.business", 10);
    assert_eq!(messages.len(), 10);
    // No key configured: librdkafka's partitioner picks partitions, the message has no key.
    assert!(messages.iter().all(|m| m.key.is_none()));
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn a_key_from_the_events_own_field_is_its_value_as_it_is() {
    /// An account was closed.
    #[derive(Event)]
    #[event(kind = "user_action", version = 1)]
    struct AccountClosed {
        /// Lifted to the top of the envelope, as a correlation field.
        user_id: String,
        /// A field of the event, in `metadata`; a number, keyed as its JSON text.
        account: u64,
    }
    let cluster = cluster("accounts");
    // A correlation field, a field of the event, and keys of the envelope's head.
    let keys_from = [
        "user_id",
        "metadata.account",
        "event_type",
        "event_version",
        "level",
        "event_id",
    ];
    let mut layer = EventLayer::builder();
    for key in keys_from {
        let sink = builder(&cluster, "accounts")
            .key_from(key)
            .name(format!("by-{}", key.replace('.', "-")));
        layer = layer.sink(sink.build().unwrap());
    }
    let (layer, guard) = layer.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(AccountClosed {
            user_id: "u-\"9\"".into(),
            account: 42,
        });
    });
    assert!(guard.flush(FLUSH).is_complete());
    let messages = consume(&cluster, "accounts", 6);
    // Each as the envelope writes it.
    let envelope = messages[0].envelope.clone();
    let text = |key: &str| envelope[key].as_str().unwrap().to_owned();
    let mut keys: Vec<String> = messages.into_iter().map(|m| m.key.unwrap()).collect();
    keys.sort();
    let (version, level, id) = (text("event_version"), text("level"), text("event_id"));
    assert_eq!((version.as_str(), level.as_str()), ("1.0", "INFO"));
    let mut expected = vec!["42", "u-\"9\"", "user_action", &version, &level, &id];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn retried_request_errors_are_not_losses() {
    let cluster = cluster("jobs");
    // The first produce requests fail with errors librdkafka retries on its own.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let sink = builder(&cluster, "jobs").build().unwrap();
    let guard = emit_through(sink, 0, 200);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_eq!(stats.delivered, 200, "{stats:?}");
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_conserved(&stats);
    let messages = consume(&cluster, "jobs", 200);
    let ids: BTreeSet<&str> = messages
        .iter()
        .map(|m| m.envelope["event_id"].as_str().unwrap())
        .collect();
    // Idempotent producer: retries wrote nothing twice.
    assert_eq!((messages.len(), ids.len()), (200, 200));
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn refused_events_go_to_the_dead_letter_file_with_the_error() {
    let cluster = cluster("jobs");
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 50],
    );
    let sink = builder(&cluster, "jobs")
        .dead_letter(&dead)
        .client_config("sasl.password", CANARY)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 5);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_eq!(stats.dead_lettered, 5, "{stats:?}");
    assert_conserved(&stats);
    let text = std::fs::read_to_string(&dead).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for line in &lines {
        assert_eq!(line["error"], "TopicAuthorizationFailed");
        assert_eq!(line["topic"], "jobs");
        assert!(line["reason"]
            .as_str()
            .unwrap()
            .contains("refused for good"));
        assert_eq!(line["event"]["event_name"], "job_finished");
    }
    assert!(!text.contains(CANARY));
    assert!(!format!("{stats:?}").contains(CANARY));
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn a_message_over_the_size_limit_is_dead_lettered_not_retried() {
    let cluster = cluster("jobs");
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let sink = builder(&cluster, "jobs")
        .dead_letter(&dead)
        .client_config("message.max.bytes", "1000")
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        emit!(JobFinished {
            n: 1,
            secret: String::new(),
        });
        #[derive(Event)]
        #[event(kind = "business", version = 1)]
        struct ReportUploaded {
            body: String,
        }
        emit!(ReportUploaded {
            body: "x".repeat(5000),
        });
    });
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_eq!((stats.delivered, stats.dead_lettered), (1, 1), "{stats:?}");
    assert_conserved(&stats);
    let text = std::fs::read_to_string(&dead).unwrap();
    assert!(text.contains("MessageSizeTooLarge"), "{text}");
    assert!(text.contains("report_uploaded"));
    assert!(guard.shutdown(FLUSH).is_complete());
}

/// A cluster with every broker down, and a sink keyed by user with a spool (in the directory
/// returned, kept while it lives) and a delivery timeout of 300 ms.
fn outage() -> (Cluster, tempfile::TempDir, KafkaSink) {
    let cluster = cluster("jobs");
    let dir = tempfile::tempdir().unwrap();
    for broker in 1..=3 {
        cluster.broker_down(broker).unwrap();
    }
    let sink = builder(&cluster, "jobs")
        .key_from("user_id")
        .delivery_timeout(Duration::from_millis(300))
        .spool(dir.path().join("spool"), 64 << 20)
        .build()
        .unwrap();
    (cluster, dir, sink)
}

#[test]
fn an_outage_longer_than_the_delivery_timeout_spools_and_replays_in_order() {
    let (cluster, _dir, sink) = outage();
    let guard = emit_through(sink, 0, 100);
    assert!(
        wait_until(|| stats(&guard).spooled == 100),
        "{:?}",
        stats(&guard)
    );
    for broker in 1..=3 {
        cluster.broker_up(broker).unwrap();
    }
    assert!(
        wait_until(|| all_delivered(&guard, 100)),
        "{:?}",
        stats(&guard)
    );
    let stats = stats(&guard);
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_conserved(&stats);
    let messages = consume(&cluster, "jobs", 100);
    let numbers: BTreeSet<u64> = messages.iter().map(number).collect();
    assert_eq!(numbers.len(), 100, "every event, by number");
    assert_order_per_key(&messages);
    assert!(guard.shutdown(FLUSH).is_complete());
}

/// A replay that only part of the cluster takes (a partition without a leader) is tried
/// again for the events not yet acknowledged, not for all of them.
#[test]
fn a_partly_failed_replay_sends_again_only_what_was_not_acknowledged() {
    let (cluster, _dir, sink) = outage();
    let guard = emit_through(sink, 0, 100);
    assert!(
        wait_until(|| stats(&guard).spooled == 100),
        "{:?}",
        stats(&guard)
    );
    // The brokers back, but partition 2 without a leader: the events of the other partitions
    // are acknowledged, those of partition 2 time out, and the records stay in the spool.
    cluster.partition_leader("jobs", 2, None).unwrap();
    for broker in 1..=3 {
        cluster.broker_up(broker).unwrap();
    }
    // Some events arrived; from now on every try fails: wait for one to be counted as
    // failed, so that the partly delivered try is over.
    assert!(!consume(&cluster, "jobs", 1).is_empty());
    let retried = stats(&guard).retried;
    assert!(
        wait_until(|| stats(&guard).retried > retried),
        "{:?}",
        stats(&guard)
    );
    assert_eq!(
        stats(&guard).delivered,
        0,
        "the records are not settled yet"
    );
    cluster.partition_leader("jobs", 2, Some(3)).unwrap();
    assert!(
        wait_until(|| all_delivered(&guard, 100)),
        "{:?}",
        stats(&guard)
    );
    let stats = stats(&guard);
    assert_conserved(&stats);
    let messages = consume(&cluster, "jobs", 200);
    let numbers: BTreeSet<u64> = messages.iter().map(number).collect();
    assert_eq!(numbers.len(), 100, "every event, by number");
    assert_eq!(messages.len(), 100, "no event sent twice");
    assert_order_per_key(&messages);
    assert!(guard.shutdown(FLUSH).is_complete());
}

/// Events that trickle in during an outage are spooled a record each; after recovery the
/// replay must catch up with them while more keep coming, and leave nothing behind.
#[test]
fn a_trickle_through_an_outage_and_its_recovery_is_all_delivered_in_order() {
    const EACH: u64 = 400;
    let (cluster, _dir, sink) = outage();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    let emit = |n: u64| {
        let user = format!("u-{}", n % 5);
        let span = tracing::info_span!("request", user_id = user.as_str());
        let _entered = span.enter();
        emit!(JobFinished {
            n,
            secret: CANARY.into(),
        });
    };
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        // One event at a time, each spooled before the next: a record per event.
        for n in 0..EACH {
            emit(n);
            assert!(
                wait_until(|| stats(&guard).spooled == n + 1),
                "{:?}",
                stats(&guard)
            );
        }
        for broker in 1..=3 {
            cluster.broker_up(broker).unwrap();
        }
        // More events, one at a time (each settled, spooled or delivered, before the next),
        // while the spool is replayed.
        for n in EACH..2 * EACH {
            emit(n);
            assert!(
                wait_until(|| stats(&guard).pending == 0),
                "{:?}",
                stats(&guard)
            );
        }
    });
    assert!(
        wait_until(|| all_delivered(&guard, 2 * EACH)),
        "{:?}",
        stats(&guard)
    );
    let stats = stats(&guard);
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_conserved(&stats);
    let messages = consume(&cluster, "jobs", 2 * EACH as usize);
    let numbers: BTreeSet<u64> = messages.iter().map(number).collect();
    assert_eq!(numbers.len(), 2 * EACH as usize, "every event, by number");
    assert_order_per_key(&messages);
    assert!(guard.shutdown(FLUSH).is_complete());
}

#[test]
fn shutdown_with_the_cluster_down_counts_or_spools_everything() {
    // Without a spool: dropped, reason `shutdown`, nothing left pending.
    let cluster = cluster("jobs");
    for broker in 1..=3 {
        cluster.broker_down(broker).unwrap();
    }
    let sink = builder(&cluster, "jobs")
        .flush_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 50);
    guard.shutdown(Duration::from_secs(2));
    let dropped = stats(&guard);
    assert_eq!(dropped.dropped(DropReason::Shutdown), 50, "{dropped:?}");
    assert_conserved(&dropped);

    // With a spool: spooled, and the next run on the same spool delivers them.
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let sink = builder(&cluster, "jobs")
        .flush_timeout(Duration::from_millis(300))
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 50);
    guard.shutdown(Duration::from_secs(2));
    let spooled = stats(&guard);
    assert_eq!(spooled.spooled, 50, "{spooled:?}");
    assert_conserved(&spooled);
    drop(guard);

    // The next run starts while the brokers are still down: its own events go straight to
    // the spool behind the earlier run's (long before any delivery timeout), not to the
    // brokers ahead of them.
    let sink = builder(&cluster, "jobs")
        .delivery_timeout(Duration::from_secs(120))
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 50, 10);
    assert!(
        wait_until(|| stats(&guard).spooled == 10),
        "{:?}",
        stats(&guard)
    );
    for broker in 1..=3 {
        cluster.broker_up(broker).unwrap();
    }
    assert!(
        wait_until(|| {
            let stats = stats(&guard);
            stats.recovered == 50 && stats.delivered == 10
        }),
        "{:?}",
        stats(&guard)
    );
    assert!(guard.shutdown(FLUSH).is_complete());
    let messages = consume(&cluster, "jobs", 60);
    let numbers: Vec<u64> = messages.iter().map(number).collect();
    assert_eq!(numbers.iter().collect::<BTreeSet<_>>().len(), 60);
    // The earlier run's events first: replayed before the new ones were sent.
    let mut per_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for message in &messages {
        per_partition
            .entry(message.partition)
            .or_default()
            .push(number(message));
    }
    for numbers in per_partition.values() {
        let first_new = numbers
            .iter()
            .position(|n| *n >= 50)
            .unwrap_or(numbers.len());
        assert!(numbers[first_new..].iter().all(|n| *n >= 50), "{numbers:?}");
    }
}

#[test]
fn settings_are_checked_when_the_sink_is_built_and_secrets_never_shown() {
    let err = KafkaSink::builder("localhost:9092").build().unwrap_err();
    assert!(err.to_string().contains(".topic("), "{err}");
    let err = KafkaSink::builder("localhost:9092")
        .topic("events.{user_id}")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("may name"), "{err}");
    let err = KafkaSink::builder("localhost:9092")
        .topic("events")
        .client_config("acks", CANARY)
        .build()
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("librdkafka refused"), "{text}");
    assert!(!text.contains(CANARY), "{text}");
    let builder = KafkaSink::builder("localhost:9092")
        .topic("events")
        .client_config("sasl.password", CANARY);
    assert!(!format!("{builder:?}").contains(CANARY));
    let sink = builder.build().unwrap();
    assert!(!format!("{sink:?}").contains(CANARY));
}

/// The brokers of a Kafka-protocol server on loopback, started by `scripts/kafka.sh`.
fn real_broker() -> String {
    std::env::var("KAFKA_BOOTSTRAP").expect(
        "KAFKA_BOOTSTRAP is not set: run scripts/kafka-interop.sh, which installs and starts a \
         broker (tansu) on loopback and runs this test against it",
    )
}

/// 100,000 events through a real broker's wire protocol and storage, read back by a consumer:
/// each exactly once by `event_id` (or with identical duplicates), headers intact.
#[test]
#[ignore = "needs a broker: scripts/kafka-interop.sh"]
fn a_real_broker_round_trip_of_100_000_events() {
    const EVENTS: u64 = 100_000;
    let bootstrap = real_broker();
    let topic = std::env::var("KAFKA_TOPIC").unwrap_or_else(|_| "events-interop".into());
    let sink = KafkaSink::builder(&bootstrap)
        .topic(&topic)
        .key_from("user_id")
        .build()
        .unwrap();
    let started = Instant::now();
    let guard = emit_through(sink, 0, EVENTS);
    let emitted = started.elapsed();
    assert!(guard.flush(Duration::from_secs(120)).is_complete());
    let flushed = started.elapsed();
    let stats = stats(&guard);
    assert_eq!(stats.delivered, EVENTS, "{stats:?}");
    assert_conserved(&stats);
    assert!(guard.shutdown(FLUSH).is_complete());

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "kafka-interop-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let read_started = Instant::now();
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut duplicates = 0u64;
    let mut idle = Instant::now();
    while (seen.len() as u64) < EVENTS && idle.elapsed() < Duration::from_secs(20) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        // A broker that is away is reported and retried by the consumer: the counts that
        // the tests check tell whether everything came.
        let Ok(message) = message else {
            continue;
        };
        idle = Instant::now();
        let payload = message.payload().unwrap().to_vec();
        let envelope: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let headers: BTreeMap<&str, &[u8]> = message
            .headers()
            .unwrap()
            .iter()
            .map(|h| (h.key, h.value.unwrap()))
            .collect();
        assert_eq!(headers["event_name"], b"job_finished");
        assert_eq!(headers["event_type"], b"business");
        assert_eq!(headers["event_version"], b"1.0");
        assert_eq!(headers["content-type"], b"application/json");
        assert_eq!(
            headers["traceparent"],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-7dac9621a2ff46d4-01"
        );
        assert_eq!(
            message.key().unwrap(),
            envelope["user_id"].as_str().unwrap().as_bytes()
        );
        let id = envelope["event_id"].as_str().unwrap().to_owned();
        if let Some(earlier) = seen.insert(id, payload.clone()) {
            assert_eq!(earlier, payload, "a duplicate differs from its original");
            duplicates += 1;
        }
    }
    let read = read_started.elapsed();
    assert_eq!(seen.len() as u64, EVENTS, "every event read back");
    let numbers: BTreeSet<u64> = seen
        .values()
        .map(|payload| {
            let envelope: serde_json::Value = serde_json::from_slice(payload).unwrap();
            envelope["metadata"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(numbers.len() as u64, EVENTS);
    println!(
        "kafka round trip: {EVENTS} events emitted in {emitted:?}, acknowledged after \
         {flushed:?} ({:.0} events/s), read back in {read:?}: {} distinct, {duplicates} \
         duplicates",
        EVENTS as f64 / flushed.as_secs_f64(),
        seen.len()
    );
}

/// The README's `KafkaSink` snippet is the builder of `examples/kafka.rs`, which CI runs, so
/// what a user copies from the README is what runs.
#[test]
fn the_readme_snippet_is_the_example_that_runs() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/kafka.rs");
    let start = readme
        .find("let sink = KafkaSink::builder(")
        .expect("the README shows a KafkaSink builder");
    let end = start + readme[start..].find("```").expect("inside a code block");
    let normalize = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        normalize(example).contains(&normalize(&readme[start..end])),
        "the README's KafkaSink builder differs from examples/kafka.rs"
    );
}

/// TLS and SASL settings: accepted with the `kafka-tls` feature (librdkafka with OpenSSL);
/// without it, refused when the sink is built, with the feature named.
#[test]
fn tls_and_sasl_settings_need_the_kafka_tls_feature() {
    let built = KafkaSink::builder("localhost:9093")
        .topic("events")
        .client_config("security.protocol", "SASL_SSL")
        .client_config("sasl.mechanism", "SCRAM-SHA-512")
        .client_config("sasl.username", "events-writer")
        .client_config("sasl.password", CANARY)
        .build();
    if cfg!(feature = "kafka-tls") {
        let sink = built.unwrap();
        assert!(!format!("{sink:?}").contains(CANARY));
    } else {
        let err = built.unwrap_err().to_string();
        assert!(err.contains("`kafka-tls`"), "{err}");
        assert!(!err.contains(CANARY), "{err}");
    }
}
