//! What a SIGKILL costs a `FileSink`, and that the application bounds it: a child process
//! emitting as fast as it can into a `FileSink` behind a 64 KiB queue with `Overflow::Block`
//! is killed at a random point, several times. Every event whose `emit!` returned is either
//! in the file, in order and without gaps, or was among the events the queue can hold
//! (each event is accounted at least 256 bytes, so at most 64 KiB / 256 = 256 of them).
//!
//! The children are this test binary again, running the ignored `file_crash_child` test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use event_core::{emit, Event, EventLayer, Overflow, SinkOptions};
use event_sinks::{FileSink, Fsync};
use tracing_subscriber::prelude::*;

const KILLS: u64 = 5;
const QUEUE_BYTES: usize = 64 << 10;
/// The least an event is accounted in a queue: its envelope's estimate is at least 256 bytes.
const LEAST_EVENT_BYTES: usize = 256;

/// Something happened; `n` counts up from 0 in each child.
#[derive(Event)]
#[event(kind = "business", version = 1)]
struct WorkDone {
    n: u64,
    /// Padding, so lines have a realistic size.
    detail: String,
}

/// Emits forever, printing each `n` once its `emit!` has returned, until it is killed.
#[test]
#[ignore = "a child process of `sigkill_loses_at_most_what_the_queue_holds`"]
fn file_crash_child() {
    let path = std::env::var("FILE_CRASH_PATH").expect("run by the parent test");
    // A sync after every batch keeps the sink slower than the caller, so the queue is full
    // when the kill comes.
    let sink = FileSink::builder(path)
        .fsync(Fsync::EveryBatch)
        .build()
        .unwrap();
    let options = SinkOptions::default()
        .max_queue_bytes(QUEUE_BYTES)
        .max_batch_events(64)
        .overflow(Overflow::Block {
            timeout: Duration::from_secs(600),
        });
    let (layer, _guard) = EventLayer::builder()
        .sink_with(sink, options)
        .build()
        .unwrap();
    let mut stdout = std::io::stdout().lock();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for n in 0.. {
            emit!(WorkDone {
                n,
                detail: "x".repeat(64),
            });
            writeln!(stdout, "EMITTED {n}").unwrap();
        }
    });
}

/// A child process, killed and reaped when dropped, so a failing assertion leaves no emitter
/// running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `n` of each `work_done` line in the file, after a `FileSink` opened it again (which
/// cuts a last line torn by the kill).
fn written(path: &Path) -> Vec<u64> {
    drop(FileSink::builder(path).build().unwrap());
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("only whole lines");
            assert_eq!(event["event_name"], "work_done", "{line}");
            event["metadata"]["n"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn sigkill_loses_at_most_what_the_queue_holds() {
    let bound = (QUEUE_BYTES / LEAST_EVENT_BYTES) as u64;
    let mut losses = Vec::new();
    for kill in 0..KILLS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        let mut child = Reaped(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "file_crash_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("FILE_CRASH_PATH", &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        // Killed once it has emitted a random number of events, well past the queue's size.
        let kill_after = 5_000 + fastrand::u64(0..20_000);
        let mut last = None;
        for line in lines.by_ref() {
            if let Some(n) = line.unwrap().strip_prefix("EMITTED ") {
                last = Some(n.parse::<u64>().unwrap());
                if last >= Some(kill_after) {
                    break;
                }
            }
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // What the child printed before it died is still in the pipe.
        for line in lines {
            if let Some(n) = line.unwrap().strip_prefix("EMITTED ") {
                last = Some(n.parse().unwrap());
            }
        }
        let last = last.expect("the child emitted");
        let written = written(&path);
        assert_eq!(
            written,
            (0..written.len() as u64).collect::<Vec<_>>(),
            "kill {kill}: the file holds the first events, in order, without gaps"
        );
        // The child may have emitted one more event than it printed.
        let lost = last + 2 - written.len() as u64;
        assert!(
            lost <= bound,
            "kill {kill}: {lost} events lost, more than the {bound} a {QUEUE_BYTES}-byte queue holds"
        );
        losses.push(lost);
    }
    println!("events lost per SIGKILL (bound {bound}): {losses:?}");
}
