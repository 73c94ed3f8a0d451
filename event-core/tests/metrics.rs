//! The `metrics` feature: each sink's counters, read back from `metrics-util`'s debugging
//! recorder, are the sink's stats, with Vector's names, units and labels. (That recorder
//! resets each value it reads: `Read` adds up the counters of every snapshot, and keeps the
//! gauges of the last.)

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_core::{emit, Batch, DropReason, Event, EventLayer, Outcomes, Overflow, Sink, SinkError};
use event_core::{SinkOptions, SinkStats};
use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);

#[derive(Event)]
#[event(kind = "system_event")]
struct JobFinished {
    job: u64,
}

#[derive(Event)]
#[event(kind = "system_event")]
struct RefusedByTheSink;

/// Waits for the test's go before its first batch, refuses batches holding
/// `refused_by_the_sink`, and takes the others over, leaving them to the test to settle.
struct GatedSink {
    go: Option<mpsc::Receiver<()>>,
    outcomes: Arc<Mutex<Option<Outcomes>>>,
    held: Arc<Mutex<u64>>,
}

impl Sink for GatedSink {
    fn name(&self) -> String {
        "gated".into()
    }

    fn attach(&mut self, outcomes: Outcomes) {
        *self.outcomes.lock().unwrap() = Some(outcomes);
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if let Some(go) = self.go.take() {
            go.recv().unwrap();
        }
        if batch
            .iter()
            .any(|event| event.name() == "refused_by_the_sink")
        {
            return Err(SinkError::new("refused"));
        }
        let _ = batch.take_over();
        *self.held.lock().unwrap() += batch.iter().filter(|e| e.is_counted()).count() as u64;
        Ok(())
    }
}

/// Every metric read so far: (name, labels other than `component_id`) → (value, unit).
#[derive(Default)]
struct Read {
    metrics: Metrics,
}

impl Read {
    /// Reads a snapshot: counters add to what was read before, gauges replace it.
    fn read(&mut self, snapshotter: &Snapshotter) -> &Metrics {
        for (key, unit, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels = Vec::new();
            for label in key.labels() {
                match label.key() {
                    "component_id" => assert_eq!(label.value(), "gated"),
                    "component_kind" => assert_eq!(label.value(), "sink"),
                    other => labels.push(format!("{other}={}", label.value())),
                }
            }
            labels.sort();
            let entry = self
                .metrics
                .entry((key.name().to_owned(), labels))
                .or_insert((0.0, unit));
            match value {
                DebugValue::Counter(value) => entry.0 += value as f64,
                DebugValue::Gauge(value) => entry.0 = value.into_inner(),
                DebugValue::Histogram(_) => unreachable!("no histograms"),
            }
        }
        &self.metrics
    }
}

fn metric(metrics: &Metrics, name: &str, labels: &[&str]) -> f64 {
    let key = (
        name.to_owned(),
        labels.iter().map(|l| l.to_string()).collect(),
    );
    metrics.get(&key).unwrap_or_else(|| panic!("no {key:?}")).0
}

type Metrics = BTreeMap<(String, Vec<String>), (f64, Option<Unit>)>;

/// The metrics say what the stats say.
fn assert_published(metrics: &Metrics, stats: &SinkStats) {
    let counted = |name, labels: &[&str]| metric(metrics, name, labels) as u64;
    assert_eq!(
        counted("component_received_events_total", &[]),
        stats.emitted
    );
    assert_eq!(counted("component_sent_events_total", &[]), stats.delivered);
    assert_eq!(
        counted("component_dead_lettered_events_total", &[]),
        stats.dead_lettered
    );
    assert_eq!(
        counted("component_retried_requests_total", &[]),
        stats.retried
    );
    for reason in DropReason::ALL {
        let intentional = format!("intentional={}", reason.is_intentional());
        let reason_label = format!("reason={reason}");
        assert_eq!(
            counted(
                "component_discarded_events_total",
                &[&intentional, &reason_label]
            ),
            stats.dropped(reason),
            "{reason}"
        );
    }
    assert_eq!(counted("component_pending_events", &[]), stats.pending);
    assert_eq!(counted("component_spooled_events", &[]), stats.spooled);
    assert_eq!(counted("buffer_byte_size", &[]), stats.queue_bytes);
}

#[test]
fn each_sink_publishes_its_counters_through_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (go, wait) = mpsc::channel();
    let outcomes = Arc::new(Mutex::new(None));
    let held = Arc::new(Mutex::new(0));
    let sink = GatedSink {
        go: Some(wait),
        outcomes: Arc::clone(&outcomes),
        held: Arc::clone(&held),
    };
    // The handles are registered with the recorder in place when the layer is built.
    let (layer, guard) = metrics::with_local_recorder(&recorder, || {
        EventLayer::builder()
            .sink_with(
                sink,
                SinkOptions::default()
                    .max_queue_bytes(16 << 10)
                    .overflow(Overflow::DropNewest),
            )
            .build()
            .unwrap()
    });
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        // The sink waits on its first batch, so the small queue fills and overflows.
        for job in 0..2_000 {
            emit!(JobFinished { job });
        }
    });
    go.send(()).unwrap();
    assert!(guard.flush(FLUSH).is_complete());
    tracing::dispatcher::with_default(&dispatch, || emit!(RefusedByTheSink));
    assert!(guard.flush(FLUSH).is_complete());

    let stats = guard.stats().sinks.remove(0);
    assert!(stats.dropped(DropReason::QueueFull) > 0, "{stats:?}");
    assert_eq!(stats.dropped(DropReason::SinkError), 1, "{stats:?}");
    assert!(stats.pending > 0, "{stats:?}");
    let mut read = Read::default();
    let metrics = read.read(&snapshotter).clone();
    assert_published(&metrics, &stats);
    assert_eq!(
        metrics[&("buffer_max_byte_size".to_owned(), vec![])],
        ((16 << 10) as f64, Some(Unit::Bytes))
    );
    let unit = |name: &str| metrics[&(name.to_owned(), vec![])].1;
    assert_eq!(unit("component_sent_events_total"), Some(Unit::Count));
    assert_eq!(unit("buffer_byte_size"), Some(Unit::Bytes));

    // What the sink settles on its own, after its worker handed the batches over, is
    // published while the worker waits for more.
    let outcomes = outcomes.lock().unwrap().clone().unwrap();
    outcomes.delivered(*held.lock().unwrap());
    let stats = guard.stats().sinks.remove(0);
    assert_eq!(stats.pending, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(read.read(&snapshotter), "component_sent_events_total", &[])
        != stats.delivered as f64
    {
        assert!(Instant::now() < deadline, "the idle worker never published");
        std::thread::yield_now();
    }
    assert!(guard.shutdown(FLUSH).is_complete());
    // And the last word, at shutdown.
    let stats = guard.stats().sinks.remove(0);
    assert_published(read.read(&snapshotter), &stats);
}
