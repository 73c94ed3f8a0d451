//! The spool survives SIGKILL: a child process emitting under load while
//! its endpoint is down is killed at a random point, 20 times; after each kill, a restarted
//! child with the endpoint up delivers every event that had reached the spool, and no restart
//! fails.
//!
//! The children are this test binary again, running the ignored `crash_child` test with
//! `CRASH_CHILD=emit|drain`.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use event_core::{emit, Event, EventLayer};
use event_sinks::{HttpSink, Retry};
use support::http_server::{free_port, FaultServer};
use tracing_subscriber::prelude::*;

const KILLS: u64 = 20;
/// Events the restarted child emits itself, besides replaying the spool.
const FRESH: u64 = 100;
const WAIT: Duration = Duration::from_secs(60);

/// Something happened; `n` is unique across every child of the test.
#[derive(Event)]
#[event(kind = "business", version = 1)]
struct WorkDone {
    /// `round × 10⁹ + k` for the k-th event of the child of `round`.
    n: u64,
    /// Padding, so records have a realistic size.
    detail: String,
}

fn sink(url: &str, spool: &Path) -> HttpSink {
    HttpSink::builder(url)
        .spool(spool, 256 << 20)
        .max_events(200)
        .linger(Duration::from_millis(5))
        .timeout(Duration::from_secs(2))
        .retry(Retry {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(1),
        })
        .build()
        .expect("the sink builds, whatever the spool holds")
}

fn emit_range(from: u64, count: u64) {
    for n in from..from + count {
        emit!(WorkDone {
            n,
            detail: "x".repeat(64),
        });
    }
}

/// One child process: `emit` emits forever to a dead endpoint (and is killed); `drain` starts
/// with a live endpoint, emits `FRESH` events, and on stdin's end shuts down and prints its
/// stats.
#[test]
#[ignore = "a child process of `sigkill_never_loses_a_spooled_event`"]
fn crash_child() {
    let mode = std::env::var("CRASH_CHILD").expect("run by sigkill_never_loses_a_spooled_event");
    let url = std::env::var("CRASH_URL").unwrap();
    let spool = std::env::var("CRASH_SPOOL").unwrap();
    let base: u64 = std::env::var("CRASH_BASE").unwrap().parse().unwrap();
    let (layer, guard) = EventLayer::builder()
        .service("crash-test")
        .sink(sink(&url, Path::new(&spool)))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        if mode == "emit" {
            let mut next = base;
            loop {
                emit_range(next, 1000);
                next += 1000;
            }
        }
        emit_range(base, FRESH);
    });
    // Until the parent has seen everything arrive.
    std::io::stdin().lines().for_each(drop);
    assert!(guard.shutdown(WAIT).is_complete());
    let stats = guard.stats().sink("http").unwrap().clone();
    println!(
        "STATS delivered={} recovered={} recovered_dead_lettered={} spool_corrupt={} dead_lettered={} spooled={} pending={} conserved={}",
        stats.delivered,
        stats.recovered,
        stats.recovered_dead_lettered,
        stats.spool_corrupt,
        stats.dead_lettered,
        stats.spooled,
        stats.pending,
        stats.is_conserved()
    );
}

fn child(mode: &str, url: &str, spool: &Path, base: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CRASH_CHILD", mode)
        .env("CRASH_URL", url)
        .env("CRASH_SPOOL", spool)
        .env("CRASH_BASE", base.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The events of every whole, intact record in the spool: what a killed process had
/// spooled for sure. Damaged stretches (the record being written at the kill) are skipped as
/// the spool's reader skips them: to the next magic.
fn spooled_events(dir: &Path) -> BTreeSet<u64> {
    const MAGIC: [u8; 4] = [0xFF, 0xE5, 0x56, 0x31];
    let mut events = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return events;
    };
    for entry in entries {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let mut offset = 0;
        while offset + 12 <= data.len() {
            let len = u32::from_le_bytes(data[offset + 4..offset + 8].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(data[offset + 8..offset + 12].try_into().unwrap());
            let end = offset + 12 + len;
            let whole = data[offset..offset + 4] == MAGIC
                && end <= data.len()
                && crc32fast::hash(&data[offset + 12..end]) == crc;
            if !whole {
                offset += 1;
                while offset < data.len() && data[offset] != MAGIC[0] {
                    offset += 1;
                }
                continue;
            }
            for line in data[offset + 12..end].split(|&b| b == b'\n').skip(1) {
                if !line.is_empty() {
                    let event: serde_json::Value = serde_json::from_slice(line).unwrap();
                    // Not the pipeline's own `events_dropped` reports (the child emits
                    // faster than the spool syncs, so its queue overflows).
                    if let Some(n) = work_done(&event) {
                        events.insert(n);
                    }
                }
            }
            offset = end;
        }
    }
    events
}

/// The `n` of a `work_done` event.
fn work_done(event: &serde_json::Value) -> Option<u64> {
    (event["event_name"] == "work_done").then(|| event["metadata"]["n"].as_u64().unwrap())
}

/// A child process, killed (SIGKILL) and reaped when dropped, so a failing assertion leaves
/// no emitter running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spool_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn stat(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_owned()
}

#[test]
fn sigkill_never_loses_a_spooled_event() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let mut torn = 0;
    let mut total = 0;
    for round in 1..=KILLS {
        // Emit under load with every endpoint down; kill once the spool holds a random amount
        // (the child keeps writing, so the kill lands anywhere in a write).
        let dead = format!("http://{}/ingest", free_port());
        let mut emitter = Reaped(child("emit", &dead, &spool, round * 1_000_000_000));
        // A record (200 events) is about 66 KB: past 256 KiB at least one is whole.
        let threshold = fastrand::u64(256 << 10..1 << 20);
        let deadline = Instant::now() + WAIT;
        while spool_bytes(&spool) < threshold {
            assert!(
                Instant::now() < deadline,
                "round {round}: the spool never grew"
            );
            assert!(
                emitter.0.try_wait().unwrap().is_none(),
                "round {round}: the emitting child exited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(emitter); // SIGKILL
        let spooled = spooled_events(&spool);
        assert!(!spooled.is_empty(), "round {round}: nothing spooled");

        // Restart with the endpoint up: everything spooled arrives, and the new process works.
        let server = FaultServer::start();
        let drain_base = round * 1_000_000_000 + 900_000_000;
        let mut drainer = Reaped(child("drain", &server.url(), &spool, drain_base));
        assert!(
            server.wait_for_events(spooled.len() + FRESH as usize, WAIT),
            "round {round}: not everything arrived"
        );
        let arrived: BTreeSet<u64> = server
            .accepted_events()
            .iter()
            .filter_map(work_done)
            .collect();
        let missing: Vec<&u64> = spooled.difference(&arrived).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} spooled events never arrived",
            missing.len()
        );
        assert!((drain_base..drain_base + FRESH).all(|n| arrived.contains(&n)));

        drop(drainer.0.stdin.take());
        // Read to the end: the child still writes its test summary after the stats.
        let output: Vec<String> = BufReader::new(drainer.0.stdout.take().unwrap())
            .lines()
            .map(Result::unwrap)
            .collect();
        let line = output
            .iter()
            // The test harness may have written "test crash_child ... " before it.
            .find_map(|l| l.find("STATS ").map(|at| l[at..].to_owned()))
            .unwrap_or_else(|| panic!("round {round}: the restarted child printed no stats"));
        assert!(
            drainer.0.wait().unwrap().success(),
            "round {round}: the restart failed"
        );
        assert_eq!(stat(&line, "conserved"), "true", "{line}");
        assert_eq!(stat(&line, "pending"), "0", "{line}");
        assert_eq!(stat(&line, "delivered"), FRESH.to_string(), "{line}");
        assert_eq!(
            stat(&line, "recovered"),
            spooled.len().to_string(),
            "round {round}: {line}"
        );
        assert!(
            spooled_events(&spool).is_empty(),
            "round {round}: the spool still holds records"
        );
        torn += stat(&line, "spool_corrupt").parse::<u64>().unwrap();
        total += spooled.len();
    }
    println!("{KILLS} kills: {total} spooled events all delivered; {torn} torn records skipped");
}
