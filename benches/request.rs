//! Per-request cost of our request context against the tower-http stack that does the same
//! job, both called as plain `tower` services (no sockets: the numbers are the layers' own).
//!
//! Every iteration builds `GET /orders/42` with a `traceparent` and a `user-agent` (no
//! `x-request-id`, so both stacks make one), calls `ready()` + `call()` on a tokio
//! current-thread runtime, and collects the response body to its end.
//!
//! - `ours`: `RequestContextLayer::builder().build()` (request id made and echoed,
//!   `traceparent` parsed, trace and span ids, the INFO span `http_request`, the
//!   `http_request_completed` event at the end of the body) around a handler that
//!   `emit!`s `OrderPlaced` (3 fields); subscriber `registry().with(EventLayer)` with one
//!   `FileSink` (NDJSON). 2 lines per request, encoded and written on the sink's worker thread.
//!   The sink never fsyncs (`Fsync::Never`: theirs does not either, and the default `OnFlush`
//!   would fsync at every drain below) and its queue blocks when full (`Overflow::Block`, as in
//!   `compare.rs`; theirs is `lossy(false)`), so neither stack may drop a line. `http.route` is
//!   `"unmatched"`: without axum's `MatchedPath` or a `.route(..)` function the layer has none.
//! - `theirs`: `SetRequestIdLayer::x_request_id(MakeRequestUuid)` → `TraceLayer::new_for_http()`
//!   with an INFO span `http_request` {request_id (the header SetRequestId set), method, uri},
//!   `on_response` = `DefaultOnResponse::new().level(INFO)` (status, latency), `on_request` and
//!   `on_eos` off (their defaults log at DEBUG, and the subscriber has no level filter) →
//!   `PropagateRequestIdLayer::x_request_id()` around a handler that `tracing::info!`s the same
//!   3 fields; subscriber `registry().with(fmt::layer().json().with_writer(non_blocking))`,
//!   `tracing_appender::non_blocking` (lossy = false) to a file, as stack A of `compare.rs`.
//!   2 lines per request, encoded on the caller's thread and written on the appender's thread.
//!   It does less than ours: no `traceparent`, no trace or span id, no user agent, and its
//!   last line comes with the response head, not at the end of the body.
//! - `baseline-emit` / `baseline-info`: each handler alone, no layer, no subscriber at all; a
//!   stack's overhead is its time minus its own handler's.
//!
//! Both stacks write off the caller's thread. Each criterion sample runs its requests in
//! bursts of [`BURST`]; after each burst, untimed for criterion, the stack is drained (ours:
//! `EventGuard::flush`, theirs: until the file writer has counted the burst's lines), so the
//! queues never fill and a caller is never slowed by back-pressure. Four numbers per stack:
//! - `caller`: the request thread's wall time, what criterion measures (median over its
//!   samples);
//! - `caller CPU`: the request thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) over the same
//!   bursts: unlike wall time, not inflated when another process takes the core, nor by waits
//!   on locks (the allocator's, the queue's);
//! - `CPU, all threads`: the process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`) from a sample's
//!   first request until its last drain: the caller's work plus the background encoding and
//!   writing;
//! - `until written`: wall time over that same window, drains included.
//!
//! Isolation: every stack runs in a child process of its own (as `compare.rs` does), with its
//! subscriber installed once by `set_global_default`, as an application does. Not
//! `with_default` in one process: `tracing` caches each callsite's interest over every live
//! dispatcher, so a callsite one stack enables and the other does not becomes "sometimes" and
//! asks `enabled` on every hit; once a scoped dispatcher exists, every dispatch looks up the
//! thread-local default; and the other stack's worker thread and heap would stay around. The
//! baselines run with no dispatcher at all. `REQUEST_BENCH_ROUNDS` rounds (default 3) run the
//! four children in a rotated order each, to spread the machine's drift; the table gives each
//! stack's median over the rounds. Criterion does the warm-up and the sampling (its report is
//! printed as it runs); the table is computed from the same samples, which criterion does not
//! hand back. Run: `cargo bench -p event-benches --bench request`; the table is printed and
//! written to `target/bench-request.md`.

use std::convert::Infallible;
use std::fmt::Debug;
use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;

use bytes::Bytes;
use criterion::Criterion;
use event_core::http::RequestContextLayer;
use event_core::{emit, Event, EventGuard, EventLayer, Overflow, SinkOptions};
use event_sinks::{FileSink, Fsync};
use http::{header, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_subscriber::prelude::*;

const STACKS: [&str; 4] = ["baseline-emit", "baseline-info", "ours", "theirs"];
/// Criterion samples per stack and round.
const SAMPLES: usize = 20;
/// Requests between two drains of the background writers.
const BURST: u64 = 1000;
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const RESPONSE: &[u8] = br#"{"order_id":42,"status":"placed"}"#;
const AMOUNT_CENTS: u64 = 4_999;
const CURRENCY: &str = "EUR";

/// An order was placed.
#[derive(Event)]
#[event(kind = "business")]
struct OrderPlaced {
    order_id: u64,
    amount_cents: u64,
    currency: &'static str,
}

type Req = Request<Empty<Bytes>>;

fn request() -> Req {
    Request::get("/orders/42")
        .header(header::USER_AGENT, USER_AGENT)
        .header("traceparent", TRACEPARENT)
        .body(Empty::new())
        .unwrap()
}

fn order_id(request: &Req) -> u64 {
    request
        .uri()
        .path()
        .strip_prefix("/orders/")
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

async fn handler_emit(request: Req) -> Result<Response<Full<Bytes>>, Infallible> {
    let order_id = order_id(&request);
    emit!(OrderPlaced {
        order_id,
        amount_cents: AMOUNT_CENTS,
        currency: CURRENCY,
    });
    Ok(Response::new(Full::new(Bytes::from_static(RESPONSE))))
}

async fn handler_info(request: Req) -> Result<Response<Full<Bytes>>, Infallible> {
    let order_id = order_id(&request);
    tracing::info!(
        order_id,
        amount_cents = AMOUNT_CENTS,
        currency = CURRENCY,
        "order placed"
    );
    Ok(Response::new(Full::new(Bytes::from_static(RESPONSE))))
}

/// One request through `service`, its body read to the end; the response's `x-request-id`.
async fn one<S, B>(service: &mut S) -> Option<http::HeaderValue>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Debug,
    B: Body,
    B::Error: Debug,
{
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    let (mut parts, body) = response.into_parts();
    black_box(body.collect().await.unwrap().to_bytes());
    parts.headers.remove("x-request-id")
}

/// Counts the lines written through it, and wakes who waits for a count.
struct CountingWriter<W> {
    inner: W,
    lines: Arc<(Mutex<u64>, Condvar)>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if newlines > 0 {
            let (count, written) = &*self.lines;
            *count.lock().unwrap() += newlines;
            written.notify_all();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stack's background side: how to drain it, and how to stop it.
enum Output {
    None,
    Ours(EventGuard),
    Theirs {
        guard: Option<tracing_appender::non_blocking::WorkerGuard>,
        lines: Arc<(Mutex<u64>, Condvar)>,
    },
}

impl Output {
    /// Waits until every line of the first `requests` requests is written.
    fn drain(&self, requests: u64) {
        match self {
            Output::None => {}
            Output::Ours(guard) => assert!(guard.flush(Duration::from_secs(60)).is_complete()),
            Output::Theirs { lines, .. } => {
                let (count, written) = &**lines;
                let count = count.lock().unwrap();
                let _count = written
                    .wait_while(count, |count| *count < 2 * requests)
                    .unwrap();
            }
        }
    }

    /// Stops the background writer, everything written.
    fn finish(self) -> Option<u64> {
        match self {
            Output::None => None,
            Output::Ours(guard) => {
                assert!(guard.shutdown(Duration::from_secs(60)).is_complete());
                let stats = guard.stats();
                Some(stats.sinks[0].dropped_total())
            }
            Output::Theirs { mut guard, .. } => {
                drop(guard.take());
                Some(0)
            }
        }
    }
}

/// One criterion sample: its requests, and what they took.
struct Sample {
    requests: u64,
    caller: Duration,
    caller_cpu_ns: u64,
    wall: Duration,
    cpu_ns: u64,
}

/// A child's result.
struct Row {
    stack: String,
    caller_ns: f64,
    caller_cpu_ns: f64,
    wall_ns: f64,
    cpu_ns: f64,
    requests: u64,
    lines: u64,
    bytes: u64,
    dropped: u64,
}

impl Row {
    fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {}",
            self.stack,
            self.caller_ns,
            self.caller_cpu_ns,
            self.wall_ns,
            self.cpu_ns,
            self.requests,
            self.lines,
            self.bytes,
            self.dropped
        )
    }

    fn from_line(line: &str) -> Row {
        let f: Vec<&str> = line.split(' ').collect();
        Row {
            stack: f[0].to_owned(),
            caller_ns: f[1].parse().unwrap(),
            caller_cpu_ns: f[2].parse().unwrap(),
            wall_ns: f[3].parse().unwrap(),
            cpu_ns: f[4].parse().unwrap(),
            requests: f[5].parse().unwrap(),
            lines: f[6].parse().unwrap(),
            bytes: f[7].parse().unwrap(),
            dropped: f[8].parse().unwrap(),
        }
    }
}

fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000)
        .without_plots()
}

/// Benchmarks `service` with criterion; the row from the measurement samples.
fn run<S, B>(stack: &str, mut service: S, output: Output, path: &Path) -> Row
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Debug,
    B: Body,
    B::Error: Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Both stacks echo a request id; the bare handlers do not.
    let echoed = runtime.block_on(one(&mut service));
    assert_eq!(echoed.is_some(), !matches!(output, Output::None), "{stack}");
    let mut requests = 1;
    output.drain(requests);

    let mut samples = Vec::new();
    let mut c = criterion();
    c.bench_function(&format!("request/{stack}"), |b| {
        b.iter_custom(|iters| {
            let (mut caller, mut caller_cpu_ns, mut done) = (Duration::ZERO, 0, 0);
            let (start, cpu) = (
                Instant::now(),
                common::cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID),
            );
            while done < iters {
                let n = BURST.min(iters - done);
                let (wall, cpu) = runtime.block_on(async {
                    let cpu = common::cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID);
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(one(&mut service).await);
                    }
                    let wall = start.elapsed();
                    (wall, common::cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID) - cpu)
                });
                caller += wall;
                caller_cpu_ns += cpu;
                done += n;
                requests += n;
                output.drain(requests);
            }
            samples.push(Sample {
                requests: iters,
                caller,
                caller_cpu_ns,
                wall: start.elapsed(),
                cpu_ns: common::cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu,
            });
            caller
        })
    });
    // The last `sample_size` calls are the measurement; the ones before, the warm-up.
    let measured = &samples[samples.len() - SAMPLES..];
    let mut per_request: Vec<f64> = measured
        .iter()
        .map(|s| s.caller.as_nanos() as f64 / s.requests as f64)
        .collect();
    let mut cpu_per_request: Vec<f64> = measured
        .iter()
        .map(|s| s.caller_cpu_ns as f64 / s.requests as f64)
        .collect();
    let total: u64 = measured.iter().map(|s| s.requests).sum();
    let wall: Duration = measured.iter().map(|s| s.wall).sum();
    let cpu: u64 = measured.iter().map(|s| s.cpu_ns).sum();
    let dropped = output.finish();
    let (lines, bytes) = if dropped.is_some() {
        count_lines(path)
    } else {
        (0, 0)
    };
    Row {
        stack: stack.to_owned(),
        caller_ns: median(&mut per_request),
        caller_cpu_ns: median(&mut cpu_per_request),
        wall_ns: wall.as_nanos() as f64 / total as f64,
        cpu_ns: cpu as f64 / total as f64,
        requests,
        lines,
        bytes,
        dropped: dropped.unwrap_or(0),
    }
}

/// Lines and bytes in `path`, and the first two lines (one request's) on stdout.
fn count_lines(path: &Path) -> (u64, u64) {
    let (mut lines, mut bytes) = (0, 0);
    for line in io::BufReader::with_capacity(1 << 20, File::open(path).unwrap()).lines() {
        let line = line.unwrap();
        if lines < 2 {
            println!("SAMPLE {line}");
        }
        lines += 1;
        bytes += line.len() as u64 + 1;
    }
    (lines, bytes)
}

fn child(stack: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{stack}.ndjson"));
    let row = match stack {
        "baseline-emit" => run(stack, tower::service_fn(handler_emit), Output::None, &path),
        "baseline-info" => run(stack, tower::service_fn(handler_info), Output::None, &path),
        "ours" => {
            let sink = FileSink::builder(&path)
                .fsync(Fsync::Never)
                .build()
                .unwrap();
            let (layer, guard) = EventLayer::builder()
                .service("bench")
                .sink_with(
                    sink,
                    SinkOptions::new().overflow(Overflow::Block {
                        timeout: Duration::from_secs(60),
                    }),
                )
                .build()
                .unwrap();
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .unwrap();
            let service = ServiceBuilder::new()
                .layer(RequestContextLayer::builder().build().unwrap())
                .service_fn(handler_emit);
            run(stack, service, Output::Ours(guard), &path)
        }
        "theirs" => {
            let lines = Arc::new((Mutex::new(0), Condvar::new()));
            let writer = CountingWriter {
                inner: File::create(&path).unwrap(),
                lines: Arc::clone(&lines),
            };
            let (non_blocking, guard) =
                tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(false)
                    .finish(writer);
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(non_blocking),
                ),
            )
            .unwrap();
            let service = ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Req| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|id| id.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!(
                                "http_request",
                                request_id,
                                method = request.method().as_str(),
                                uri = %request.uri(),
                            )
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO))
                        .on_eos(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .service_fn(handler_info);
            let output = Output::Theirs {
                guard: Some(guard),
                lines,
            };
            run(stack, service, output, &path)
        }
        other => panic!("no stack {other}"),
    };
    println!("ROW {}", row.to_line());
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs `stack` in a child process; its row, and its sample lines.
fn spawn(stack: &str) -> (Row, Vec<String>) {
    let output = Command::new(std::env::current_exe().unwrap())
        .env("REQUEST_BENCH_CHILD", stack)
        .stderr(Stdio::inherit())
        .output()
        .expect("the bench can start itself");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (mut row, mut samples) = (None, Vec::new());
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("ROW ") {
            row = Some(Row::from_line(rest));
        } else if let Some(rest) = line.strip_prefix("SAMPLE ") {
            samples.push(rest.to_owned());
        } else if !line.trim().is_empty() {
            eprintln!("    {line}");
        }
    }
    let row = row.unwrap_or_else(|| panic!("stack {stack} failed ({})", output.status));
    (row, samples)
}

fn main() {
    if let Ok(stack) = std::env::var("REQUEST_BENCH_CHILD") {
        child(&stack);
        return;
    }
    let rounds: usize = std::env::var("REQUEST_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let load_before = load_average();
    let mut rows: Vec<Vec<Row>> = STACKS.iter().map(|_| Vec::new()).collect();
    let mut samples: Vec<Vec<String>> = STACKS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..STACKS.len() {
            let index = (k + round) % STACKS.len();
            let (row, lines) = spawn(STACKS[index]);
            eprintln!(
                "round {}: {:>13}: caller {:>6.0} ns (CPU {:>6.0}), all threads CPU {:>6.0} ns, until written {:>6.0} ns per request; {} requests, {} lines in the file, {} dropped",
                round + 1,
                row.stack,
                row.caller_ns,
                row.caller_cpu_ns,
                row.cpu_ns,
                row.wall_ns,
                row.requests,
                row.lines,
                row.dropped
            );
            if samples[index].is_empty() {
                samples[index] = lines;
            }
            rows[index].push(row);
        }
    }
    let load = format!("{load_before} before, {} after", load_average());
    let report = table(&rows, &samples, &load);
    println!("{report}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let path = Path::new(&target).join("bench-request.md");
    std::fs::write(&path, &report).unwrap();
    println!("written to {}", path.display());
}

/// The 1-minute load average (Linux), to tell a quiet machine from a busy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|load| load.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Index of the bare handler a stack is measured against: ours (2) over `baseline-emit` (0),
/// theirs (3) over `baseline-info` (1).
fn baseline(stack: usize) -> usize {
    stack - 2
}

/// A column of the table: its name, and its value in a row.
type Metric = (&'static str, fn(&Row) -> f64);

fn table(rows: &[Vec<Row>], samples: &[Vec<String>], load: &str) -> String {
    let rounds = rows[0].len();
    // Each stack's median over the rounds.
    let stat = |i: usize, field: fn(&Row) -> f64| {
        median(&mut rows[i].iter().map(field).collect::<Vec<_>>())
    };
    let metrics: [Metric; 4] = [
        ("caller", |r| r.caller_ns),
        ("caller CPU", |r| r.caller_cpu_ns),
        ("CPU, all threads", |r| r.cpu_ns),
        ("until written", |r| r.wall_ns),
    ];
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = format!(
        "`cargo bench -p event-benches --bench request`: `GET /orders/42` (with `traceparent` and \
         `user-agent`) through each stack as a tower `Service`, body collected, on a tokio \
         current-thread runtime; {cpus} CPUs, load average {load}; median of {rounds} rounds, \
         each stack in its own child process. Both stacks write their 2 lines per request to a \
         file off the caller's thread (ours: `EventLayer` → `FileSink` worker, which also \
         encodes; theirs: `fmt().json()` encodes on the caller, `tracing_appender::non_blocking` \
         writes), drained every {BURST} requests, outside `caller`. ns per request; overhead = \
         stack − its bare handler (ours over `baseline-emit`, theirs over `baseline-info`).\n\n\
         | stack |"
    );
    for (name, _) in &metrics {
        out += &format!(" {name} | overhead |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(2 * metrics.len());
    out += "\n";
    for (i, stack) in STACKS.iter().enumerate() {
        out += &format!("| {stack} |");
        for (_, field) in &metrics {
            let value = stat(i, *field);
            let overhead = if i >= 2 {
                format!("{:.0}", value - stat(baseline(i), *field))
            } else {
                "–".to_owned()
            };
            out += &format!(" {value:.0} | {overhead} |");
        }
        out += "\n";
    }
    out += "\n| ratio ours / theirs | of the overhead | of the total | target |\n|---|---:|---:|---|\n";
    for (n, (name, field)) in metrics.iter().enumerate() {
        let overhead = |i: usize| stat(i, *field) - stat(baseline(i), *field);
        let target = if n == 0 { "≤ 1.0" } else { "" };
        out += &format!(
            "| {name} | {:.2} | {:.2} | {target} |\n",
            overhead(2) / overhead(3),
            stat(2, *field) / stat(3, *field),
        );
    }
    out += "\nDelivery, all rounds (warm-up included); every file counted after its stack was \
            stopped (ours: `EventGuard::shutdown`, theirs: the `WorkerGuard` dropped):\n\n\
            | stack | requests | lines in the files | lines / request | bytes / request | dropped |\n\
            |---|---:|---:|---:|---:|---:|\n";
    for (i, stack) in STACKS.iter().enumerate().skip(2) {
        let requests: u64 = rows[i].iter().map(|r| r.requests).sum();
        let lines: u64 = rows[i].iter().map(|r| r.lines).sum();
        let bytes: u64 = rows[i].iter().map(|r| r.bytes).sum();
        let dropped: u64 = rows[i].iter().map(|r| r.dropped).sum();
        out += &format!(
            "| {stack} | {requests} | {lines} | {:.3} | {:.0} | {dropped} |\n",
            lines as f64 / requests as f64,
            bytes as f64 / requests as f64,
        );
    }
    for (i, stack) in STACKS.iter().enumerate().skip(2) {
        out += &format!("\nOne request's lines, {stack}:\n\n```json\n");
        for line in &samples[i] {
            out += line;
            out += "\n";
        }
        out += "```\n";
    }
    out
}
