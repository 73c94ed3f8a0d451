//! `KafkaSink`: one Kafka message per event, produced through librdkafka, with the same disk
//! spool and dead-letter file as `HttpSink`.

mod engine;
mod redact;
mod route;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_core::{Batch, BuildError, DropReason, Outcomes, Sink, SinkError};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::ClientConfig;

use crate::dead_letter::DeadLetter;
use crate::spool::Spool;
use engine::{Context, KafkaProducer, Sent, Shared, Tag};
use redact::Redactor;
use route::{Route, Router, Topic};

/// Sends each event to Kafka (or a Kafka-protocol service: Redpanda, Amazon MSK, Azure Event
/// Hubs, Confluent Cloud) as one message. Build one with [`KafkaSink::builder`].
///
/// The message's value is the event's NDJSON envelope (one JSON object, `event_id` included,
/// so consumers can de-duplicate); its headers are `event_name`, `event_type`,
/// `event_version`, `content-type: application/json`, and a W3C `traceparent` when the event
/// carries a trace id and span id. The producer is idempotent (`enable.idempotence=true`,
/// `acks=all`): librdkafka's own retries never write a message twice into a partition.
///
/// What happens to an event:
/// - the brokers acknowledge it: delivered;
/// - librdkafka retries what fails for a while (a leader election, a broker restart); those
///   retries are not losses;
/// - refused for good (too large for the topic, an unknown topic where topics are not
///   created automatically, not authorized): to the dead-letter file with librdkafka's error;
/// - not delivered within [`delivery_timeout`](KafkaSinkBuilder::delivery_timeout) (the
///   brokers are unreachable): to the spool, together with everything librdkafka still
///   held and everything emitted after it, replayed in order once the brokers take messages
///   again, in this run or the next. Without a spool these events are dropped (`sink_error`).
/// - shutdown: what the flush did not deliver in time is taken back from librdkafka, to the
///   spool or dropped (`shutdown`); never left pending.
pub struct KafkaSink {
    name: String,
    producer: Arc<KafkaProducer>,
    shared: Arc<Shared>,
    router: Arc<Router>,
    route: Route,
    flush_timeout: Duration,
    poller: Option<JoinHandle<()>>,
    start_error: Option<String>,
    /// The envelopes of a batch that an outage sends to the spool, reused.
    spill: Vec<u8>,
}

impl KafkaSink {
    /// A builder for a sink that produces to the brokers `bootstrap_servers`
    /// (`host:port[,host:port…]`). Name a topic with [`topic`](KafkaSinkBuilder::topic).
    pub fn builder(bootstrap_servers: impl Into<String>) -> KafkaSinkBuilder {
        KafkaSinkBuilder {
            name: "kafka".into(),
            bootstrap_servers: bootstrap_servers.into(),
            topic: None,
            key_from: None,
            client_config: Vec::new(),
            spool: None,
            dead_letter: None,
            dead_letter_max_bytes: 256 << 20,
            delivery_timeout: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// Configures a [`KafkaSink`]; [`build`](Self::build) checks everything.
#[derive(Clone)]
pub struct KafkaSinkBuilder {
    name: String,
    bootstrap_servers: String,
    topic: Option<String>,
    key_from: Option<String>,
    client_config: Vec<(String, String)>,
    spool: Option<(PathBuf, u64)>,
    dead_letter: Option<PathBuf>,
    dead_letter_max_bytes: u64,
    delivery_timeout: Duration,
    flush_timeout: Duration,
}

impl KafkaSinkBuilder {
    /// The sink's name in stats. Default `"kafka"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The topic: a name (`"events"`), or a template over envelope fields that picks a topic
    /// per event (`"events.{event_type}"`). A template may name `{event_name}`,
    /// `{event_type}`, `{event_version}`, `{level}`, `{service}`, `{environment}` and
    /// `{region}`: a bounded set, so a template never makes a topic per user. A character a
    /// topic name cannot hold becomes `_`; a resource field the layer does not set renders
    /// as `unknown`. Required.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// The envelope value that keys each message, so that all events with the same value
    /// land in the same partition, in order: a top-level key (`"user_id"`, `"request_id"`,
    /// `"event_name"`, …), or a field of the event as `"metadata.order_id"`. A string keys
    /// as it is, a number or a bool as its JSON text. An event without the value, or with
    /// `null`, is sent without a key. Default: no key, so librdkafka spreads events over the partitions
    /// (batching several per partition), which gives the most throughput but no order across
    /// partitions.
    ///
    /// librdkafka hashes keys with CRC32 (its `consistent_random` partitioner); Java clients
    /// use murmur2. If Java producers write the same keys to the same topic, add
    /// `.client_config("partitioner", "murmur2_random")` so that a key maps to the same
    /// partition from both.
    pub fn key_from(mut self, key: impl Into<String>) -> Self {
        self.key_from = Some(key.into());
        self
    }

    /// A librdkafka setting, passed through as it is: TLS (`security.protocol`,
    /// `ssl.ca.location`), SASL (`sasl.mechanism`, `sasl.username`, `sasl.password`; both
    /// need the cargo feature `kafka-tls`),
    /// `compression.type`, `linger.ms`, … (see librdkafka's CONFIGURATION.md). These override
    /// the sink's own defaults. Values never appear in `Debug`, stats, errors or the
    /// dead-letter file.
    pub fn client_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client_config.push((key.into(), value.into()));
        self
    }

    /// A disk spool in `dir` holding at most `max_bytes`: events go there while the brokers
    /// do not take them within the delivery timeout, and are replayed in order once they do,
    /// in this run or the next. Same format as `HttpSink`'s. When it is full, events are
    /// dropped with reason `spool_full`.
    pub fn spool(mut self, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.spool = Some((dir.into(), max_bytes));
        self
    }

    /// A file (NDJSON, created `0600`) for events the brokers refused for good, one line per
    /// event with the reason, librdkafka's error name and the topic. Without it, such events
    /// are dropped with reason `sink_error`.
    pub fn dead_letter(mut self, path: impl Into<PathBuf>) -> Self {
        self.dead_letter = Some(path.into());
        self
    }

    /// The most bytes the dead-letter file grows to; events that would take it further are
    /// dropped with reason `dead_letter_full`, counted. Default 256 MiB.
    pub fn dead_letter_max_bytes(mut self, max_bytes: u64) -> Self {
        self.dead_letter_max_bytes = max_bytes;
        self
    }

    /// How long librdkafka keeps trying to deliver a message (its `message.timeout.ms`)
    /// before the sink spools it (or, without a spool, drops it). Default 30 s.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// The longest a flush (and shutdown) waits for the brokers' acknowledgements, or less
    /// when the application's `EventGuard::flush`/`shutdown` timeout ends sooner. Default
    /// 30 s.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Checks the configuration, creates the producer (librdkafka checks every setting
    /// here), opens the spool and the dead-letter file, and builds the sink. It starts
    /// sending once added to a layer.
    pub fn build(self) -> Result<KafkaSink, BuildError> {
        let Some(topic) = &self.topic else {
            return Err(BuildError::new(
                "KafkaSink topic",
                "is not set; add .topic(\"events\") or a template such as .topic(\"events.{event_type}\")",
            ));
        };
        let topic = Topic::parse(topic)?;
        let key_from = self.key_from.as_deref().map(route::key_from).transpose()?;
        if self.bootstrap_servers.trim().is_empty() {
            return Err(BuildError::new(
                "KafkaSink bootstrap_servers",
                "is empty; name the brokers as host:port[,host:port…]",
            ));
        }
        const DAY: Duration = Duration::from_secs(24 * 3600);
        for (value, setting) in [
            (self.delivery_timeout, "KafkaSink delivery_timeout"),
            (self.flush_timeout, "KafkaSink flush_timeout"),
        ] {
            if value > DAY || value < Duration::from_millis(1) {
                return Err(BuildError::new(
                    setting,
                    format!("is {value:?}; use at least 1 ms and at most one day"),
                ));
            }
        }
        if self.dead_letter_max_bytes == 0 {
            return Err(BuildError::new(
                "KafkaSink dead_letter_max_bytes",
                "must be at least 1 byte",
            ));
        }
        let redactor = Redactor::new(
            self.client_config
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        );
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set(
                "client.id",
                concat!("event-sinks/", env!("CARGO_PKG_VERSION")),
            )
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            // librdkafka's own default is 1 GiB of messages in memory; the pipeline's queue
            // already absorbs bursts.
            .set("queue.buffering.max.kbytes", "65536")
            .set_log_level(RDKafkaLogLevel::Error);
        for (key, value) in &self.client_config {
            config.set(key, value);
        }
        // An unknown topic is reported (and dead-lettered) only after this wait for its
        // metadata, librdkafka's 30 s by default: half the delivery timeout (as finally
        // configured), so that the refusal comes before the timeout that would call it an
        // outage. Unless set explicitly.
        if config.get("topic.metadata.propagation.max.ms").is_none() {
            let timeout = config
                .get("message.timeout.ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or(self.delivery_timeout.as_millis() as u64);
            config.set(
                "topic.metadata.propagation.max.ms",
                (timeout / 2).max(1).to_string(),
            );
        }
        let spool = match &self.spool {
            Some((dir, max_bytes)) => Some(Spool::open(dir, *max_bytes).map_err(|err| {
                BuildError::with_source(
                    "KafkaSink spool",
                    format!("cannot use `{}` as the spool directory", dir.display()),
                    err,
                )
            })?),
            None => None,
        };
        let dead_letter = match &self.dead_letter {
            Some(path) => Some(DeadLetter::open(path, self.dead_letter_max_bytes).map_err(
                |err| {
                    BuildError::with_source(
                        "KafkaSink dead_letter",
                        format!("cannot open `{}` for appending", path.display()),
                        err,
                    )
                },
            )?),
            None => None,
        };
        let shared = Arc::new(Shared::new(spool, dead_letter, redactor.clone()));
        let producer: KafkaProducer = config
            .create_with_context(Context {
                shared: Arc::clone(&shared),
            })
            .map_err(|err| {
                let text = redactor.clean(&err.to_string());
                // TLS and SASL need librdkafka built with OpenSSL: name the feature that does.
                let hint = if text.contains("not available at build time") {
                    "; TLS and SASL need event-sinks' cargo feature `kafka-tls`"
                } else {
                    ""
                };
                BuildError::new(
                    "KafkaSink client_config",
                    format!("librdkafka refused the settings: {text}{hint}"),
                )
            })?;
        Ok(KafkaSink {
            name: self.name,
            producer: Arc::new(producer),
            shared,
            router: Arc::new(Router::new(topic, key_from)),
            route: Route::default(),
            flush_timeout: self.flush_timeout,
            poller: None,
            start_error: None,
            spill: Vec::new(),
        })
    }
}

impl KafkaSink {
    /// When the flush or shutdown under way must be done.
    fn deadline(&self, outcomes: Option<&Outcomes>) -> Instant {
        let own = Instant::now() + self.flush_timeout;
        outcomes
            .and_then(Outcomes::deadline)
            .map_or(own, |deadline| deadline.min(own))
    }

    fn stop_poller(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn attach(&mut self, outcomes: Outcomes) {
        self.shared.attach(outcomes);
        let producer = Arc::clone(&self.producer);
        let shared = Arc::clone(&self.shared);
        let router = Arc::clone(&self.router);
        let spawned = event_core::spawn_silenced(format!("event-kafka-{}", self.name), move || {
            let mut route = Route::default();
            while !shared.stop.load(Ordering::SeqCst) {
                producer.poll(Duration::from_millis(50));
                shared.tend(&producer, &router, &mut route);
            }
        });
        match spawned {
            Ok(poller) => self.poller = Some(poller),
            Err(err) => self.start_error = Some(format!("could not start its thread: {err}")),
        }
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if let Some(err) = &self.start_error {
            return Err(SinkError::new(err.clone()));
        }
        let outcomes = batch.take_over();
        let events: Vec<_> = batch.iter().collect();
        for (index, event) in events.iter().enumerate() {
            let counted = event.is_counted();
            if let Err(err) = self.router.route(event.envelope(), &mut self.route) {
                if counted {
                    outcomes.dropped(DropReason::SerializeError, 1);
                }
                outcomes.error(format!("routing an event failed: {err}"));
                continue;
            }
            let sent = self.shared.send(
                &self.producer,
                &self.route,
                event.json(),
                Tag::live(counted),
            );
            if let Sent::Spool = sent {
                // An outage: this event and the rest of the batch go to the spool, in order.
                self.spill.clear();
                let mut uncounted = Vec::new();
                for (offset, event) in events[index..].iter().enumerate() {
                    self.spill.extend_from_slice(event.json());
                    self.spill.push(b'\n');
                    if !event.is_counted() {
                        uncounted.push(offset as u64);
                    }
                }
                let spilled = (events.len() - index) as u64;
                self.shared.spool_lines(&self.spill, spilled, uncounted);
                break;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let deadline = self.deadline(self.shared.attached());
        // librdkafka sends what lingers at once, and serves reports here as well.
        let _ = self
            .producer
            .flush(deadline.saturating_duration_since(Instant::now()));
        match self.shared.wait_live(deadline) {
            0 => Ok(()),
            left => Err(SinkError::new(format!(
                "flush timed out with {left} events still waiting for the brokers' \
                 acknowledgement"
            ))),
        }
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        let deadline = self.deadline(self.shared.attached());
        self.shared.close();
        // What the flush did not deliver comes back from librdkafka now, as purged: to the
        // spool, or counted dropped (`shutdown`).
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let left = self.shared.wait_live(deadline);
        let abandoned = if left > 0 { self.shared.abandon() } else { 0 };
        self.stop_poller();
        self.shared.release();
        if abandoned > 0 {
            return Err(SinkError::new(format!(
                "shutdown timed out: {abandoned} events librdkafka still held were counted \
                 dropped (shutdown)"
            )));
        }
        Ok(())
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        self.stop_poller();
    }
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("started", &self.poller.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for KafkaSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // librdkafka settings carry passwords and keys: their names only.
        let client_config: Vec<String> = self
            .client_config
            .iter()
            .map(|(key, _)| format!("{key}=[REDACTED]"))
            .collect();
        f.debug_struct("KafkaSinkBuilder")
            .field("name", &self.name)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("topic", &self.topic)
            .field("key_from", &self.key_from)
            .field("client_config", &client_config)
            .field("spool", &self.spool)
            .field("dead_letter", &self.dead_letter)
            .field("dead_letter_max_bytes", &self.dead_letter_max_bytes)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}
