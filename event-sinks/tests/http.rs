//! `HttpSink` against loopback servers with scripted faults: the status matrix,
//! retries, fail-over, the spool, dead letters, idempotency, and conservation in every case.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use event_core::{emit, DropReason, Event, EventGuard, EventLayer, SinkStats};
use event_sinks::{HttpSink, HttpSinkBuilder, Retry};
use support::http_server::{free_port, Fault, FaultServer};
use tracing_subscriber::prelude::*;

const FLUSH: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(30);

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

const CANARY: &str = "canary-7c1e-secret";

/// Fast retries, so tests take milliseconds.
fn quick_retry(max_attempts: u32) -> Retry {
    Retry {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn builder(url: &str) -> HttpSinkBuilder {
    HttpSink::builder(url)
        .retry(quick_retry(3))
        .timeout(Duration::from_millis(500))
        .linger(Duration::from_millis(5))
}

/// Emits `count` events (numbered from `from`) through a layer with `sink`.
fn emit_through(sink: HttpSink, from: u64, count: u64) -> EventGuard {
    let (layer, guard) = EventLayer::builder()
        .service("http-test")
        .sink(sink)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for n in from..from + count {
            emit!(JobFinished {
                n,
                secret: CANARY.into(),
            });
        }
    });
    guard
}

fn stats(guard: &EventGuard) -> SinkStats {
    guard.stats().sink("http").unwrap().clone()
}

fn assert_conserved(stats: &SinkStats) {
    assert!(stats.is_conserved(), "conservation broken: {stats:?}");
    assert_eq!(stats.pending, 0, "{stats:?}");
}

/// Waits for a condition the sink reaches on its own threads (checked every millisecond).
fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn numbers(events: &[serde_json::Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["metadata"]["n"].as_u64().expect("a JobFinished"))
        .collect()
}

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One request of 4 events with a scripted first answer; what became of it.
struct Case {
    requests: usize,
    stats: SinkStats,
    dead: Vec<serde_json::Value>,
    delivered: Vec<u64>,
}

fn run_case(first: Fault) -> Case {
    let server = FaultServer::start();
    server.script([first]);
    let dir = tempfile::tempdir().unwrap();
    let dead_letter = dir.path().join("dead.ndjson");
    let sink = builder(&server.url())
        .max_events(4)
        .concurrency(1)
        .timeout(Duration::from_millis(300))
        .dead_letter(&dead_letter)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 4);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_conserved(&stats);
    Case {
        requests: server.requests().len(),
        stats,
        dead: dead_letters(&dead_letter),
        delivered: numbers(&server.accepted_events()),
    }
}

#[test]
fn the_status_matrix() {
    // Delivered at once.
    for code in [200, 204] {
        let case = run_case(Fault::Status(code));
        assert_eq!(case.requests, 1, "{code}");
        assert_eq!(case.stats.delivered, 4, "{code}");
        assert_eq!(case.stats.retried, 0, "{code}");
    }
    // Retried once, then delivered by the default 200.
    for code in [408, 429, 500, 502, 503, 504] {
        let case = run_case(Fault::Status(code));
        assert_eq!(case.requests, 2, "{code}");
        assert_eq!(case.stats.delivered, 4, "{code}");
        assert_eq!(case.stats.retried, 1, "{code}");
        assert_eq!(case.delivered, [0, 1, 2, 3], "{code}");
    }
    // Permanent: dead-lettered with status and reason, never retried.
    for code in [400, 401, 403, 404, 410, 422, 501] {
        let case = run_case(Fault::Status(code));
        assert_eq!(case.requests, 1, "{code}");
        assert_eq!(case.stats.delivered, 0, "{code}");
        assert_eq!(case.stats.dead_lettered, 4, "{code}");
        assert_eq!(case.dead.len(), 4, "{code}");
        assert_eq!(case.dead[0]["status"], code, "{code}");
        let reason = case.dead[0]["reason"].as_str().unwrap();
        assert!(reason.starts_with(&format!("HTTP {code}")), "{reason}");
        assert_eq!(case.dead[0]["answer"], format!("scripted {code}"));
        assert_eq!(case.dead[0]["event"]["event_name"], "job_finished");
        let last_error = case.stats.last_error.unwrap();
        assert!(!last_error.contains("scripted"), "{last_error}");
    }
    // Redirects: never followed (the origin named gets no request, so neither the events nor
    // the headers reach it), never retried; dead-lettered with the status and the Location,
    // shown without userinfo or query, and the body repeating it is not kept.
    for code in [301, 302, 303, 307, 308] {
        let elsewhere = FaultServer::start();
        let location = format!(
            "http://u-secret:p-secret@{}/moved?token=t-secret",
            elsewhere.addr
        );
        let case = run_case(Fault::Redirect(code, location));
        let followed: Vec<String> = elsewhere
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(followed.is_empty(), "{code}: followed: {followed:?}");
        assert_eq!(case.requests, 1, "{code}");
        assert_eq!(case.stats.retried, 0, "{code}");
        assert_eq!(case.stats.delivered, 0, "{code}");
        assert_eq!(case.stats.dead_lettered, 4, "{code}");
        assert_eq!(case.dead.len(), 4, "{code}");
        let shown = format!(
            "with Location: http://{}/moved (query not shown); redirects are never followed",
            elsewhere.addr
        );
        for line in &case.dead {
            assert_eq!(line["status"], code, "{code}");
            let reason = line["reason"].as_str().unwrap();
            assert!(reason.starts_with(&format!("HTTP {code}")), "{reason}");
            assert!(reason.contains(&shown), "{reason}");
            assert!(!line.to_string().contains("-secret"), "{line}");
            assert_eq!(line["event"]["event_name"], "job_finished");
        }
        let last_error = case.stats.last_error.unwrap();
        assert!(last_error.contains(&shown), "{last_error}");
        assert!(!last_error.contains("-secret"), "{last_error}");
    }
    // 413: split in halves, each delivered.
    let case = run_case(Fault::Status(413));
    assert_eq!(case.requests, 3);
    assert_eq!(case.stats.delivered, 4);
    assert_eq!(case.delivered, [0, 1, 2, 3]);
    // 429 with Retry-After: honoured, then delivered.
    let case = run_case(Fault::RetryAfter(429, "1".into()));
    assert_eq!(case.requests, 2);
    assert_eq!(case.stats.delivered, 4);
    // Reset in the middle of the answer, and an answer slower than the timeout: retried.
    for fault in [Fault::Reset, Fault::Hang(Duration::from_secs(2))] {
        let case = run_case(fault.clone());
        assert_eq!(case.requests, 2, "{fault:?}");
        assert_eq!(case.stats.delivered, 4, "{fault:?}");
        assert_eq!(case.stats.retried, 1, "{fault:?}");
    }
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let server = FaultServer::start();
    server.script([
        Fault::RetryAfter(503, "1".into()),
        Fault::RetryAfter(
            429,
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600)),
        ),
        // More seconds than a u64 holds: as long as can be, so the cap.
        Fault::RetryAfter(503, "99999999999999999999999999".into()),
        // Now, and unreadable (the backoff applies): retried either way.
        Fault::RetryAfter(503, "0".into()),
        Fault::RetryAfter(429, "in a while".into()),
    ]);
    let sink = builder(&server.url())
        .concurrency(1)
        .retry(Retry {
            max_retry_after: Duration::from_millis(1500),
            ..quick_retry(6)
        })
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 1);
    assert!(guard.flush(FLUSH).is_complete());
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    // Waited what the server asked (backoff alone is at most 20 ms here)...
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(1));
    // ... and an hour was cut to the cap, as were 10²⁶ seconds.
    assert!(requests[2].at - requests[1].at >= Duration::from_millis(1500));
    assert!(requests[3].at - requests[2].at >= Duration::from_millis(1500));
    assert_conserved(&stats(&guard));
    assert_eq!(stats(&guard).delivered, 1);
}

#[test]
fn transient_failures_resend_the_same_key_and_bytes() {
    let server = FaultServer::start();
    server.script([Fault::Status(503), Fault::Status(500), Fault::Status(502)]);
    let sink = builder(&server.url())
        .max_events(10)
        .concurrency(1)
        .retry(quick_retry(5))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 10);
    assert!(guard.flush(FLUSH).is_complete());
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let keys: BTreeSet<_> = requests.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!requests[0].key.is_empty());
    assert!(requests.iter().all(|r| r.raw == requests[0].raw));
    assert_eq!(requests[0].headers["content-encoding"], "gzip");
    assert_eq!(requests[0].content_type, "application/x-ndjson");
    let stats = stats(&guard);
    assert_eq!((stats.delivered, stats.retried), (10, 3));
    assert_conserved(&stats);
    // event_id survives: the same ten ids in every attempt.
    let ids = |r: &support::http_server::Received| -> Vec<String> {
        r.events()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(requests.iter().all(|r| ids(r) == ids(&requests[0])));
}

#[test]
fn an_endpoint_absent_at_start_is_used_once_it_appears() {
    let addr = free_port();
    let sink = builder(&format!("http://{addr}/ingest"))
        .retry(quick_retry(2))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 50);
    // No spool: the sink keeps the events and keeps trying.
    assert!(wait_until(|| stats(&guard).retried >= 1));
    let server = FaultServer::start_on(addr);
    assert!(server.wait_for_events(50, WAIT));
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    assert_eq!(stats.delivered, 50);
    assert!(stats.retried >= 1, "{stats:?}");
    assert_conserved(&stats);
    let mut delivered = numbers(&server.accepted_events());
    delivered.sort_unstable();
    assert_eq!(delivered, (0..50).collect::<Vec<_>>());
}

#[test]
fn a_dead_primary_fails_over_at_once_and_is_probed_back() {
    let primary_addr = free_port();
    let fallback = FaultServer::start();
    let sink = builder(&format!("http://{primary_addr}/ingest"))
        .fallback(fallback.url())
        .max_events(10)
        .concurrency(1)
        .probe_interval(Duration::ZERO)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit_range = |range: std::ops::Range<u64>| {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in range {
                emit!(JobFinished {
                    n,
                    secret: CANARY.into()
                });
            }
        })
    };
    emit_range(0..10);
    assert!(guard.flush(FLUSH).is_complete());
    // The refused primary cost one request: the fallback got the batch in the same round.
    assert_eq!(
        numbers(&fallback.accepted_events()),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(stats(&guard).retried, 1);

    let primary = FaultServer::start_on(primary_addr);
    emit_range(10..20);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(
        numbers(&primary.accepted_events()),
        (10..20).collect::<Vec<_>>()
    );
    let stats = stats(&guard);
    assert_eq!(stats.delivered, 20);
    assert_conserved(&stats);
}

#[test]
fn a_slow_primary_fails_over_within_one_timeout() {
    let primary = FaultServer::start();
    primary.always(Some(Fault::Hang(Duration::from_secs(5))));
    let fallback = FaultServer::start();
    let sink = builder(&primary.url())
        .fallback(fallback.url())
        .timeout(Duration::from_millis(300))
        .concurrency(1)
        .probe_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 20);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(primary.requests().len(), 1);
    let mut delivered = numbers(&fallback.accepted_events());
    delivered.sort_unstable();
    assert_eq!(delivered, (0..20).collect::<Vec<_>>());
    let stats = stats(&guard);
    assert_eq!(
        stats.retried, 1,
        "one timeout, then the fallback: {stats:?}"
    );
    assert_conserved(&stats);
}

#[test]
fn an_outage_longer_than_memory_spools_and_recovery_drains_in_order() {
    let addr = free_port();
    let dir = tempfile::tempdir().unwrap();
    let sink = builder(&format!("http://{addr}/ingest"))
        .max_events(100)
        .concurrency(1)
        .memory_bytes(32 << 10)
        .spool(dir.path().join("spool"), 256 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 5_000);
    assert!(guard.flush(FLUSH).is_complete());
    let during = stats(&guard);
    // Nothing held in memory: every event is in the spool.
    assert_eq!(during.spooled, 5_000, "{during:?}");
    assert_conserved(&during);
    let on_disk: u64 = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk > 5_000 * 100, "{on_disk} bytes spooled");

    let server = FaultServer::start_on(addr);
    assert!(server.wait_for_events(5_000, WAIT));
    assert!(guard.flush(FLUSH).is_complete());
    let delivered = numbers(&server.accepted_events());
    let mut sorted = delivered.clone();
    sorted.sort_unstable();
    assert!(
        sorted.iter().copied().eq(0..5_000),
        "incomplete or duplicated"
    );
    // In order, except that the one request in flight when memory filled (concurrency 1) may
    // have been spooled behind newer ones: at most two breaks in the sequence.
    let breaks = delivered.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert!(breaks <= 2, "{breaks} breaks in the order");
    let after = stats(&guard);
    assert_eq!((after.delivered, after.spooled), (5_000, 0), "{after:?}");
    assert_conserved(&after);
}

#[test]
fn shutdown_with_endpoints_down_spools_and_the_next_start_delivers() {
    let addr = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let sink = builder(&format!("http://{addr}/ingest"))
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 1_000);
    assert!(guard.shutdown(FLUSH).is_complete());
    let first = stats(&guard);
    assert_eq!(first.spooled, 1_000, "{first:?}");
    assert_conserved(&first);
    drop(guard);

    let server = FaultServer::start_on(addr);
    let sink = builder(&server.url())
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 1_000, 0);
    assert!(server.wait_for_events(1_000, WAIT));
    assert!(guard.flush(FLUSH).is_complete());
    let mut delivered = numbers(&server.accepted_events());
    delivered.sort_unstable();
    assert_eq!(delivered, (0..1_000).collect::<Vec<_>>());
    let second = stats(&guard);
    assert_eq!((second.emitted, second.recovered), (0, 1_000), "{second:?}");
    assert_conserved(&second);
}

#[test]
fn a_poison_event_alone_is_dead_lettered_and_never_blocks_the_queue() {
    for spool in [false, true] {
        let server = FaultServer::start();
        // The batch holding event 13 is refused with 500 every time; the others pass.
        server.poison("\"n\":13,");
        let dir = tempfile::tempdir().unwrap();
        let dead_letter = dir.path().join("dead.ndjson");
        let mut sink = builder(&server.url())
            .max_events(10)
            .concurrency(1)
            .dead_letter(&dead_letter);
        if spool {
            sink = sink.spool(dir.path().join("spool"), 64 << 20);
        }
        let guard = emit_through(sink.build().unwrap(), 0, 30);
        assert!(guard.flush(FLUSH).is_complete());
        // Under a spool, the suspect may be judged on its replay, after the flush.
        assert!(wait_until(|| {
            let stats = stats(&guard);
            stats.dead_lettered > 0 && stats.spooled == 0 && stats.pending == 0
        }));
        let stats = stats(&guard);
        let mut delivered = numbers(&server.accepted_events());
        delivered.sort_unstable();
        let dead = dead_letters(&dead_letter);
        let mut dead_numbers =
            numbers(&dead.iter().map(|d| d["event"].clone()).collect::<Vec<_>>());
        dead_numbers.sort_unstable();
        // Split until the one event the endpoint refuses is found: only it is dead-lettered.
        assert_eq!(dead_numbers, [13], "spool {spool}");
        assert!(!delivered.contains(&13));
        let mut all = [delivered, dead_numbers].concat();
        all.sort_unstable();
        assert_eq!(all, (0..30).collect::<Vec<_>>(), "spool {spool}");
        assert!(dead[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("poison event"));
        assert_eq!(stats.dead_lettered as usize, dead.len(), "{stats:?}");
        assert_conserved(&stats);
    }
}

#[test]
fn secrets_reach_no_body_spool_or_dead_letter_file() {
    let server = FaultServer::start();
    server.script([Fault::Status(400)]);
    let dir = tempfile::tempdir().unwrap();
    let dead_letter = dir.path().join("dead.ndjson");
    let sink = builder(&server.url())
        .max_events(5)
        .concurrency(1)
        .bearer_token("token-5f2a-secret")
        .header("X-Api-Key", "key-91bd-secret")
        .dead_letter(&dead_letter)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 10);
    assert!(guard.flush(FLUSH).is_complete());
    let requests = server.requests();
    assert!(requests
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.body).contains(CANARY)));
    assert_eq!(
        requests[0].headers["authorization"],
        "Bearer token-5f2a-secret"
    );
    let dead = std::fs::read_to_string(&dead_letter).unwrap();
    assert!(!dead.contains(CANARY));
    assert!(dead.contains("\"secret\":\"[REDACTED]\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dead_letter)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stats = stats(&guard);
    assert!(!format!("{stats:?}").contains("-secret"));
    assert_conserved(&stats);

    // Spooled events too.
    let addr = free_port();
    let spool = dir.path().join("spool");
    let sink = builder(&format!("http://{addr}/ingest"))
        .spool(&spool, 1 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 10);
    assert!(guard.shutdown(FLUSH).is_complete());
    for entry in std::fs::read_dir(&spool).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(CANARY));
    }
    let shown = format!(
        "{:?}",
        HttpSink::builder("http://127.0.0.1:1/x?password=p-secret")
            .bearer_token("token-5f2a-secret")
            .header("X-Api-Key", "key-91bd-secret")
    );
    assert!(!shown.contains("-secret"), "{shown}");
    // Also a password in the URL (which `build` refuses) and a string that is no URL.
    let shown = format!(
        "{:?}",
        HttpSink::builder("https://user:pw-77c1-secret@collector.example/v1/logs")
            .fallback("not a url, token-e3-secret")
    );
    assert!(!shown.contains("-secret"), "{shown}");
    assert!(
        shown.contains("https://collector.example/v1/logs"),
        "{shown}"
    );
}

#[test]
fn bad_configuration_is_a_build_error_naming_the_setting() {
    let cases: Vec<(HttpSinkBuilder, &str)> = vec![
        (HttpSink::builder("not a url"), "HttpSink url"),
        (HttpSink::builder("ftp://host/x"), "scheme"),
        (HttpSink::builder("http://user:pw@host/x"), "credentials"),
        (HttpSink::builder("http://h/x").fallback("::"), "fallback 1"),
        (
            HttpSink::builder("http://h/x").header("bad header", "v"),
            "header",
        ),
        (
            HttpSink::builder("http://h/x").header("X-Key", "line\nbreak"),
            "header",
        ),
        (HttpSink::builder("http://h/x").max_events(0), "max_events"),
        (
            HttpSink::builder("http://h/x").concurrency(0),
            "concurrency",
        ),
        (
            HttpSink::builder("http://h/x").format(event_sinks::HttpFormat::ClickHouse {
                table: "t; DROP".into(),
            }),
            "ClickHouse table",
        ),
        (
            HttpSink::builder("http://h/x").retry(Retry {
                max_attempts: 0,
                ..Retry::default()
            }),
            "max_attempts",
        ),
        (
            HttpSink::builder("http://h/x").linger(Duration::MAX),
            "linger",
        ),
        (
            HttpSink::builder("http://h/x").ca_certificate_pem("nope"),
            "PEM",
        ),
        (
            HttpSink::builder("http://h/x").spool("/proc/no-such/spool", 1 << 20),
            "spool",
        ),
        (
            HttpSink::builder("http://h/x").dead_letter("/proc/no-such/dead"),
            "dead_letter",
        ),
    ];
    for (builder, expected) in cases {
        let err = builder.build().expect_err(expected).to_string();
        assert!(err.contains(expected), "`{err}` should name `{expected}`");
        assert!(!err.contains("line\nbreak"));
    }
}

/// The records of one spool segment file: (start offset, end offset, event numbers).
fn spool_records(path: &Path) -> Vec<(usize, usize, Vec<u64>)> {
    let data = std::fs::read(path).unwrap();
    let mut records = Vec::new();
    let mut offset = 0;
    while offset + 12 <= data.len() {
        assert_eq!(data[offset..offset + 4], [0xFF, 0xE5, 0x56, 0x31]);
        let len = u32::from_le_bytes(data[offset + 4..offset + 8].try_into().unwrap()) as usize;
        let payload = &data[offset + 12..offset + 12 + len];
        let events: Vec<serde_json::Value> = payload
            .split(|&b| b == b'\n')
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        records.push((offset, offset + 12 + len, numbers(&events)));
        offset += 12 + len;
    }
    records
}

#[test]
fn a_damaged_spool_delivers_every_valid_record_and_counts_the_losses() {
    let addr = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    // 4 MiB spool: 256 KiB segments; 50 events (~17 KiB) per record.
    let sink = builder(&format!("http://{addr}/ingest"))
        .max_events(50)
        .spool(&spool, 4 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 3_000);
    assert!(guard.shutdown(FLUSH).is_complete());
    assert_eq!(stats(&guard).spooled, 3_000);
    drop(guard);

    let mut segments: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let mut lost: BTreeSet<u64> = BTreeSet::new();
    // A deleted middle segment.
    for (_, _, events) in spool_records(&segments[1]) {
        lost.extend(events);
    }
    std::fs::remove_file(&segments[1]).unwrap();
    // Flipped bytes inside the second record of the first segment.
    let first = spool_records(&segments[0]);
    let (start, end, events) = &first[1];
    lost.extend(events.iter().copied());
    let mut data = std::fs::read(&segments[0]).unwrap();
    data[(start + end) / 2] ^= 0x5A;
    data[(start + end) / 2 + 1] ^= 0x5A;
    std::fs::write(&segments[0], data).unwrap();
    // A torn tail: the last record of the last segment cut short.
    let last = segments.last().unwrap();
    let (start, end, events) = spool_records(last).pop().unwrap();
    lost.extend(events);
    let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    file.set_len((start + (end - start) / 2) as u64).unwrap();

    let expected: Vec<u64> = (0..3_000).filter(|n| !lost.contains(n)).collect();
    let server = FaultServer::start_on(addr);
    let sink = builder(&server.url())
        .spool(&spool, 4 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 0);
    assert!(server.wait_for_events(expected.len(), WAIT));
    assert!(wait_until(|| stats(&guard).spool_corrupt >= 3));
    assert!(guard.flush(FLUSH).is_complete());
    let mut delivered = numbers(&server.accepted_events());
    delivered.sort_unstable();
    assert!(
        delivered == expected,
        "{} delivered, {} expected",
        delivered.len(),
        expected.len()
    );
    let stats = stats(&guard);
    assert_eq!(stats.recovered, expected.len() as u64, "{stats:?}");
    assert_eq!(stats.spool_corrupt, 3, "{stats:?}");
    assert_conserved(&stats);
}

#[test]
fn shutdown_with_endpoints_down_and_no_spool_settles_every_event() {
    // As a new user would: the defaults (long retries), nothing listening, no spool.
    let sink = HttpSink::builder(format!("http://{}/ingest", free_port()))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 10);
    let report = guard.shutdown(Duration::from_secs(2));
    assert!(report.is_complete(), "{report:?}");
    let stats = stats(&guard);
    assert_conserved(&stats);
    assert_eq!(stats.dropped(DropReason::Shutdown), 10, "{stats:?}");
}

#[test]
fn shutdown_with_a_request_hanging_settles_it_by_the_deadline() {
    // An endpoint that accepts connections and never answers: the request is in flight when
    // the application's shutdown timeout ends.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sink = HttpSink::builder(format!("http://{}/ingest", listener.local_addr().unwrap()))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 10);
    let report = guard.shutdown(Duration::from_secs(1));
    assert!(report.is_complete(), "{report:?}");
    let stats = stats(&guard);
    assert_conserved(&stats);
    assert_eq!(stats.dropped(DropReason::Shutdown), 10, "{stats:?}");
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("abandoned"),
        "{stats:?}"
    );
    drop(listener);
}

#[test]
fn overload_answers_never_make_a_batch_poison() {
    for status in [429, 503] {
        let server = FaultServer::start();
        // The batch holding event 13 is refused three rounds of attempts in a row while the
        // others pass; then the endpoint takes it.
        server.refuse("\"n\":13,", status, 9);
        let dir = tempfile::tempdir().unwrap();
        let dead_letter = dir.path().join("dead.ndjson");
        let sink = builder(&server.url())
            .max_events(10)
            .concurrency(1)
            .dead_letter(&dead_letter)
            .build()
            .unwrap();
        let guard = emit_through(sink, 0, 30);
        assert!(server.wait_for_events(30, WAIT), "{status}");
        assert!(guard.flush(FLUSH).is_complete());
        let stats = stats(&guard);
        assert_eq!(
            (stats.delivered, stats.dead_lettered),
            (30, 0),
            "{status}: {stats:?}"
        );
        let lines = std::fs::read(&dead_letter).unwrap_or_default();
        assert!(lines.is_empty(), "{status}");
        assert_conserved(&stats);
    }
}

/// The events of a dead-letter file (not the pipeline's own `events_dropped` reports, which
/// are not counted in `emitted`); every line must be whole JSON.
fn whole_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|err| panic!("a torn line ({err}): {line}"))
        })
        .filter(|line| line["event"]["event_name"] != "events_dropped")
        .count()
}

#[test]
fn a_dead_letter_file_on_a_full_disk_keeps_whole_lines_and_resumes() {
    let Some(disk) = support::tmpfs::Tmpfs::mount(64 << 10) else {
        return;
    };
    let server = FaultServer::start();
    server.always(Some(Fault::Status(400)));
    let dead_letter = disk.join("dead.ndjson");
    let sink = builder(&server.url())
        .max_events(7)
        .concurrency(1)
        .dead_letter(&dead_letter)
        .build()
        .unwrap();
    let (layer, guard) = EventLayer::builder().sink(sink).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let emit = |from: u64, count: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in from..from + count {
                emit!(JobFinished {
                    n,
                    secret: CANARY.into(),
                });
            }
        });
        assert!(guard.flush(FLUSH).is_complete());
    };
    // Far more than 64 KiB of dead letters.
    emit(0, 1_000);
    let full = stats(&guard);
    assert!(full.dropped(DropReason::SinkError) > 0, "{full:?}");
    assert_eq!(
        whole_lines(&dead_letter) as u64,
        full.dead_lettered,
        "{full:?}"
    );
    assert_conserved(&full);
    // Room again: the next ones are written, after the last whole line.
    disk.resize(4 << 20);
    emit(1_000, 20);
    let resumed = stats(&guard);
    assert_eq!(
        resumed.dead_lettered,
        full.dead_lettered + 20,
        "{resumed:?}"
    );
    assert_eq!(whole_lines(&dead_letter) as u64, resumed.dead_lettered);
    assert_conserved(&resumed);
}

#[test]
fn a_dead_letter_file_stops_at_its_bound_and_counts_the_rest() {
    let server = FaultServer::start();
    server.always(Some(Fault::Status(400)));
    let dir = tempfile::tempdir().unwrap();
    let dead_letter = dir.path().join("dead.ndjson");
    let sink = builder(&server.url())
        .max_events(5)
        .concurrency(1)
        .dead_letter(&dead_letter)
        .dead_letter_max_bytes(8 << 10)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 200);
    assert!(guard.flush(FLUSH).is_complete());
    let stats = stats(&guard);
    let lines = whole_lines(&dead_letter) as u64;
    assert!(std::fs::metadata(&dead_letter).unwrap().len() <= 8 << 10);
    assert!(lines > 0 && lines == stats.dead_lettered, "{stats:?}");
    assert_eq!(
        stats.dropped(DropReason::DeadLetterFull),
        200 - lines,
        "{stats:?}"
    );
    assert_conserved(&stats);
}

#[test]
fn a_spool_on_a_full_disk_keeps_whole_records_and_replays_them_all() {
    let Some(disk) = support::tmpfs::Tmpfs::mount(96 << 10) else {
        return;
    };
    let addr = free_port();
    let spool = disk.join("spool");
    let sink = builder(&format!("http://{addr}/ingest"))
        .max_events(20)
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    // Far more than the disk holds, with the endpoint down.
    let guard = emit_through(sink, 0, 3_000);
    assert!(guard.shutdown(FLUSH).is_complete());
    let first = stats(&guard);
    assert!(first.spooled > 0, "{first:?}");
    assert!(first.dropped(DropReason::SinkError) > 0, "{first:?}");
    assert_conserved(&first);
    drop(guard);

    disk.resize(8 << 20);
    let server = FaultServer::start_on(addr);
    let sink = builder(&server.url())
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 3_000, 0);
    assert!(server.wait_for_events(first.spooled as usize, WAIT));
    assert!(guard.flush(FLUSH).is_complete());
    let second = stats(&guard);
    assert_eq!(second.recovered, first.spooled, "{second:?}");
    assert_eq!(second.spool_corrupt, 0, "no torn record: {second:?}");
}

#[test]
fn a_tls_failure_is_retried_on_the_next_endpoint_and_named() {
    // `https://` to an endpoint that speaks plain HTTP: the handshake fails. That is no answer
    // about the batch, so it is retried like a refused connection: the fallback gets it.
    let primary = FaultServer::start();
    let fallback = FaultServer::start();
    let sink = builder(&format!("https://{}/ingest", primary.addr))
        .fallback(fallback.url())
        .max_events(4)
        .concurrency(1)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 4);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(numbers(&fallback.accepted_events()), [0, 1, 2, 3]);
    assert!(primary.accepted_events().is_empty());
    let stats = stats(&guard);
    assert_eq!((stats.delivered, stats.dead_lettered), (4, 0), "{stats:?}");
    assert!(stats.retried >= 1, "{stats:?}");
    assert_conserved(&stats);
    let last_error = stats.last_error.unwrap();
    assert!(
        last_error.starts_with(&format!("https://{}/ingest: ", primary.addr)),
        "{last_error}"
    );
    // Named as what it is, with the likely fix.
    assert!(
        last_error.contains("TLS handshake failed: ")
            && last_error.contains("does the endpoint speak plain HTTP?"),
        "{last_error}"
    );
}

/// Builds, emits, flushes, shuts down and drops a pipeline, all on a task of the app's own
/// tokio runtime: the pipeline runs on threads of its own, so this neither panics ("cannot
/// start a runtime from within a runtime") nor deadlocks, even on a runtime with one thread.
async fn pipeline_on_a_task(url: String, failing: String) {
    let sink = builder(&url).max_events(10).build().unwrap();
    let guard = emit_through(sink, 0, 25);
    assert!(guard.flush(FLUSH).is_complete());
    assert_eq!(stats(&guard).delivered, 25);
    let report = guard.shutdown(FLUSH);
    assert!(report.is_complete(), "{report:?}");
    drop(guard);
    // A sink that cannot deliver, dropped without a shutdown: its guard's drop shuts it down.
    let sink = builder(&failing).build().unwrap();
    let guard = emit_through(sink, 0, 3);
    drop(guard);
    // And a build that fails drops what it had started.
    assert!(builder(&url).max_events(0).build().is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn flush_and_shutdown_work_inside_a_current_thread_runtime() {
    let server = FaultServer::start();
    let failing = format!("http://{}/ingest", free_port());
    pipeline_on_a_task(server.url(), failing).await;
    assert_eq!(server.accepted_events().len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn flush_and_shutdown_work_inside_a_one_worker_runtime() {
    let server = FaultServer::start();
    let failing = format!("http://{}/ingest", free_port());
    // On the runtime's only worker, as a spawned task.
    tokio::spawn(pipeline_on_a_task(server.url(), failing))
        .await
        .unwrap();
    assert_eq!(server.accepted_events().len(), 25);
}

/// A sink given `spool`, and one given `dead_letter`, each fail to build: the error names the
/// path, and its cause (`source()`) says `cause`.
fn assert_spool_and_dead_letter_refused(spool: &Path, dead_letter: &Path, cause: &str) {
    for (sink, path) in [
        (builder("http://127.0.0.1:9/y").spool(spool, 1 << 20), spool),
        (
            builder("http://127.0.0.1:9/y").dead_letter(dead_letter),
            dead_letter,
        ),
    ] {
        let Err(err) = sink.build() else {
            panic!("built with `{}`", path.display())
        };
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        let said = std::error::Error::source(&err)
            .expect("a cause")
            .to_string();
        assert!(said.contains(cause), "{text}: {said}");
    }
}

#[test]
fn a_spool_or_dead_letter_file_on_a_read_only_file_system_is_a_build_error() {
    let Some(disk) = support::tmpfs::Tmpfs::mount(1 << 20) else {
        return;
    };
    std::fs::create_dir(disk.join("spool")).unwrap();
    disk.remount("ro");
    let spool = disk.join("spool");
    let dead_letter = disk.join("dead.ndjson");
    // The path named, the cause as `source()`.
    assert_spool_and_dead_letter_refused(&spool, &dead_letter, "Read-only file system");
    disk.remount("rw");
    assert!(builder("http://127.0.0.1:9/x")
        .spool(&spool, 1 << 20)
        .dead_letter(&dead_letter)
        .build()
        .is_ok());
}

#[test]
fn an_earlier_runs_events_refused_without_a_dead_letter_file_are_counted_dropped() {
    let addr = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let sink = builder(&format!("http://{addr}/ingest"))
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 100);
    assert!(guard.shutdown(FLUSH).is_complete());
    assert_eq!(stats(&guard).spooled, 100);
    drop(guard);

    // The next run finds the endpoint refusing them for good, and no dead-letter file.
    let server = FaultServer::start_on(addr);
    server.always(Some(Fault::Status(400)));
    let sink = builder(&server.url())
        .spool(&spool, 64 << 20)
        .build()
        .unwrap();
    let guard = emit_through(sink, 100, 0);
    assert!(wait_until(|| stats(&guard).recovered_dropped == 100));
    assert!(guard.flush(FLUSH).is_complete());
    let after = stats(&guard);
    assert_eq!(
        (
            after.recovered,
            after.recovered_dead_lettered,
            after.recovered_dropped
        ),
        (0, 0, 100),
        "{after:?}"
    );
    assert_conserved(&after);
}

#[test]
fn two_sinks_never_share_a_spool_or_a_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let dead_letter = dir.path().join("dead.ndjson");
    let first = builder("http://127.0.0.1:9/x")
        .spool(&spool, 1 << 20)
        .dead_letter(&dead_letter)
        .build()
        .unwrap();
    assert_spool_and_dead_letter_refused(&spool, &dead_letter, "is in use by another sink");
    // Free again once the first sink is gone.
    drop(first);
    assert!(builder("http://127.0.0.1:9/y")
        .spool(&spool, 1 << 20)
        .dead_letter(&dead_letter)
        .build()
        .is_ok());
}

#[test]
fn poison_events_are_found_however_many_a_batch_holds() {
    // `"n":1` is in events 1 and 10..=19: one poison event in the first batch, a batch of
    // nothing but poison in the second, none in the third.
    let server = FaultServer::start();
    server.poison("\"n\":1");
    let dir = tempfile::tempdir().unwrap();
    let dead_letter = dir.path().join("dead.ndjson");
    let sink = builder(&server.url())
        .max_events(10)
        .linger(Duration::from_secs(60))
        .concurrency(1)
        .dead_letter(&dead_letter)
        .build()
        .unwrap();
    let guard = emit_through(sink, 0, 30);
    assert!(guard.flush(FLUSH).is_complete());
    let ok = wait_until(|| stats(&guard).dead_lettered == 11);
    assert!(
        ok,
        "{:?} requests={}",
        stats(&guard),
        server.requests().len()
    );
    let poison: Vec<u64> = [1].into_iter().chain(10..20).collect();
    let dead = dead_letters(&dead_letter);
    let mut dead_numbers = numbers(&dead.iter().map(|d| d["event"].clone()).collect::<Vec<_>>());
    dead_numbers.sort_unstable();
    assert_eq!(dead_numbers, poison);
    let mut delivered = numbers(&server.accepted_events());
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        (0..30).filter(|n| !poison.contains(n)).collect::<Vec<_>>()
    );
    for line in &dead {
        let reason = line["reason"].as_str().unwrap();
        assert!(reason.starts_with("poison"), "{reason}");
    }
    let stats = stats(&guard);
    assert_conserved(&stats);
    // Bounded: far fewer requests than every event's attempts one by one would take.
    assert!(
        server.requests().len() < 60,
        "{} requests",
        server.requests().len()
    );
}
