//! The comparison runner: the same 10-field event, in one process run,
//! through this framework and through the stacks users would otherwise pick.
//!
//! - `ours-file`: `emit!` → `EventLayer` → `FileSink`, queue policy `Block`;
//! - `ours-file-drop`: the same under `DropNewest` (its drop counter must equal its loss);
//! - `ours-null`: `emit!` → `EventLayer` → a sink that discards, to isolate the pipeline;
//! - `A`: `tracing::info!` → `fmt().json()` → `tracing_appender::non_blocking` (lossy = false)
//!   → file;
//! - `B`: `slog` + `slog-async` (`Block`) + `slog-json` → file;
//! - `L`: the limit, a loop of `serde_json::to_writer` of an equivalent struct with an RFC 3339
//!   µs timestamp into a 64 KiB `BufWriter<File>` (behind a mutex, shared by the threads).
//!
//! Run: `cargo bench -p event-benches --bench compare` (`COMPARE_EVENTS=100000` for a quick run,
//! `COMPARE_ONLY=ours-null,A` for some stacks and no table, `COMPARE_QUEUE_BYTES` for our sink
//! queue bound, 16 MiB by default; `--features bench-mimalloc` runs every stack on mimalloc).
//! The table is printed and written to `target/bench-compare.md` (`-mimalloc.md` with mimalloc).
//! Besides the caller's cost and events per second, each end-to-end run reports the CPU time of
//! the whole process (every thread, user and system) per event, from the first emit until
//! everything has landed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

#[path = "common/mod.rs"]
mod common;

use common::{cpu_ns, outcome, Inputs, USER_AGENT};
use event_core::{
    emit, Batch, Event, EventGuard, EventLayer, Overflow, Sink, SinkError, SinkOptions,
};
use event_sinks::{FileSink, Fsync};
use schemars::JsonSchema;
use serde::Serialize;
use tracing_subscriber::prelude::*;

/// With `--features bench-mimalloc`, every stack runs on mimalloc instead of the system
/// allocator (glibc's here), to show what freeing on another thread costs each of them.
#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator every stack of this run uses, for the table's header.
const ALLOCATOR_NAME: &str = if cfg!(feature = "bench-mimalloc") {
    "mimalloc"
} else {
    "the system's"
};

const BURST: u64 = 10_000;
/// The sink queue bound for our stacks (`COMPARE_QUEUE_BYTES` to try others).
fn queue_bytes() -> usize {
    std::env::var("COMPARE_QUEUE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16 << 20)
}

/// The same fields for the limit: a plain serde struct with its own timestamp.
#[derive(Serialize, JsonSchema)]
struct PlainLogin<'a> {
    timestamp: Rfc3339Micros,
    user_id: &'a str,
    session_id: &'a str,
    ip: IpAddr,
    user_agent: &'a str,
    result: &'a str,
    failure_reason: &'a str,
    attempt_count: u32,
    latency_ms: f64,
    card_number: &'a str,
    email: &'a str,
}

#[derive(JsonSchema)]
struct Rfc3339Micros(#[schemars(with = "String")] SystemTime);

impl Serialize for Rfc3339Micros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(self.0))
    }
}

/// Counts the lines written through it.
struct CountingWriter<W> {
    inner: W,
    lines: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.fetch_add(newlines, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The line and byte counts of a background writer's output.
#[derive(Default)]
struct Counted {
    lines: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Counted {
    /// `inner`, counting into these counters.
    fn writer<W: Write>(&self, inner: W) -> CountingWriter<W> {
        CountingWriter {
            inner,
            lines: Arc::clone(&self.lines),
            bytes: Arc::clone(&self.bytes),
        }
    }

    fn wait(&self, emitted: u64) {
        wait_for(&self.lines, emitted);
    }

    fn landed(&self) -> Landed {
        Landed {
            lines: self.lines.load(Ordering::SeqCst),
            bytes: self.bytes.load(Ordering::SeqCst),
            dropped: 0,
        }
    }
}

/// A sink that discards, counting.
struct NullSink(Arc<AtomicU64>, Arc<AtomicU64>);

impl Sink for NullSink {
    fn name(&self) -> String {
        "null".into()
    }
    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        for event in batch.iter().filter(|e| e.name() != "events_dropped") {
            self.0.fetch_add(1, Ordering::Relaxed);
            self.1
                .fetch_add(event.json().len() as u64 + 1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What landed at the end of a run.
struct Landed {
    lines: u64,
    bytes: u64,
    dropped: u64,
}

/// One stack, set up and ready to emit.
trait Running: Sync {
    /// Emits event `i` (called inside `scope`).
    fn emit(&self, inputs: &Inputs, i: u64);
    /// Runs `f` with the stack's subscriber as this thread's default, if it has one.
    fn scope(&self, f: &mut dyn FnMut());
    /// Waits until `emitted` events have landed (or been counted as dropped).
    fn wait(&self, emitted: u64);
    /// Stops the stack and reports what landed.
    fn finish(self: Box<Self>) -> Landed;
}

struct Ours {
    dispatch: tracing::Dispatch,
    guard: EventGuard,
    output: Output,
}

enum Output {
    File(PathBuf),
    Null(Arc<AtomicU64>, Arc<AtomicU64>),
}

impl Ours {
    fn start(output: Output, overflow: Overflow) -> Box<dyn Running> {
        let builder = EventLayer::builder()
            .service("bench")
            .hash_key("k1", [7u8; 32]);
        let options = SinkOptions::new()
            .max_queue_bytes(queue_bytes())
            .overflow(overflow);
        let builder = match &output {
            Output::File(path) => builder.sink_with(
                FileSink::builder(path).fsync(Fsync::Never).build().unwrap(),
                options,
            ),
            Output::Null(events, bytes) => {
                builder.sink_with(NullSink(Arc::clone(events), Arc::clone(bytes)), options)
            }
        };
        let (layer, guard) = builder.build().unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        Box::new(Ours {
            dispatch,
            guard,
            output,
        })
    }
}

impl Running for Ours {
    fn emit(&self, inputs: &Inputs, i: u64) {
        emit!(inputs.event(i));
    }
    fn scope(&self, f: &mut dyn FnMut()) {
        tracing::dispatcher::with_default(&self.dispatch, f);
    }
    fn wait(&self, _: u64) {
        assert!(self.guard.flush(Duration::from_secs(600)).is_complete());
    }
    fn finish(self: Box<Self>) -> Landed {
        let report = self.guard.shutdown(Duration::from_secs(600));
        assert!(report.is_complete());
        let dropped = self.guard.stats().sinks[0].dropped_total();
        let (lines, bytes) = match &self.output {
            Output::File(path) => count_file(path),
            Output::Null(events, bytes) => {
                (events.load(Ordering::SeqCst), bytes.load(Ordering::SeqCst))
            }
        };
        Landed {
            lines,
            bytes,
            dropped,
        }
    }
}

/// Stack A: `tracing` + `fmt().json()` + `tracing_appender::non_blocking`.
struct StackA {
    dispatch: tracing::Dispatch,
    guard: Option<tracing_appender::non_blocking::WorkerGuard>,
    output: Counted,
}

impl StackA {
    fn start(path: &Path) -> Box<dyn Running> {
        let output = Counted::default();
        let writer = output.writer(File::create(path).unwrap());
        let (non_blocking, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(writer);
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(non_blocking),
        );
        Box::new(StackA {
            dispatch: tracing::Dispatch::new(subscriber),
            guard: Some(guard),
            output,
        })
    }
}

impl Running for StackA {
    fn emit(&self, inputs: &Inputs, i: u64) {
        tracing::info!(
            user_id = inputs.user(i),
            session_id = inputs.session(i),
            ip = %inputs.ip,
            user_agent = USER_AGENT,
            result = outcome(i),
            failure_reason = "bad_password",
            attempt_count = (i % 5) as u32,
            latency_ms = (i % 1000) as f64 * 0.25,
            card_number = "4111111111111111",
            email = inputs.email(i),
            "login attempted"
        );
    }
    fn scope(&self, f: &mut dyn FnMut()) {
        tracing::dispatcher::with_default(&self.dispatch, f);
    }
    fn wait(&self, emitted: u64) {
        self.output.wait(emitted);
    }
    fn finish(mut self: Box<Self>) -> Landed {
        drop(self.guard.take());
        self.output.landed()
    }
}

/// Stack B: `slog` + `slog-async` (`Block`) + `slog-json`.
struct StackB {
    logger: slog::Logger,
    guard: Option<slog_async::AsyncGuard>,
    output: Counted,
}

impl StackB {
    fn start(path: &Path) -> Box<dyn Running> {
        use slog::Drain;
        let output = Counted::default();
        // slog-json writes each key and value separately: buffered, as users configure it.
        let writer = output.writer(BufWriter::with_capacity(
            64 << 10,
            File::create(path).unwrap(),
        ));
        let json = slog_json::Json::default(writer).fuse();
        let (drain, guard) = slog_async::Async::new(json)
            .chan_size(1 << 16)
            .overflow_strategy(slog_async::OverflowStrategy::Block)
            .build_with_guard();
        Box::new(StackB {
            logger: slog::Logger::root(drain.fuse(), slog::o!()),
            guard: Some(guard),
            output,
        })
    }
}

impl Running for StackB {
    fn emit(&self, inputs: &Inputs, i: u64) {
        slog::info!(self.logger, "login attempted";
            "user_id" => inputs.user(i),
            "session_id" => inputs.session(i),
            "ip" => %inputs.ip,
            "user_agent" => USER_AGENT,
            "result" => outcome(i),
            "failure_reason" => "bad_password",
            "attempt_count" => (i % 5) as u32,
            "latency_ms" => (i % 1000) as f64 * 0.25,
            "card_number" => "4111111111111111",
            "email" => inputs.email(i),
        );
    }
    fn scope(&self, f: &mut dyn FnMut()) {
        f();
    }
    fn wait(&self, emitted: u64) {
        self.output.wait(emitted);
    }
    fn finish(mut self: Box<Self>) -> Landed {
        drop(self.guard.take());
        self.output.landed()
    }
}

/// L: the limit.
struct Limit {
    out: Mutex<BufWriter<File>>,
    path: PathBuf,
}

impl Limit {
    fn start(path: &Path) -> Box<dyn Running> {
        Box::new(Limit {
            out: Mutex::new(BufWriter::with_capacity(
                64 << 10,
                File::create(path).unwrap(),
            )),
            path: path.to_owned(),
        })
    }
}

impl Running for Limit {
    fn emit(&self, inputs: &Inputs, i: u64) {
        let event = PlainLogin {
            timestamp: Rfc3339Micros(SystemTime::now()),
            user_id: inputs.user(i),
            session_id: inputs.session(i),
            ip: inputs.ip,
            user_agent: USER_AGENT,
            result: outcome(i),
            failure_reason: "bad_password",
            attempt_count: (i % 5) as u32,
            latency_ms: (i % 1000) as f64 * 0.25,
            card_number: "4111111111111111",
            email: inputs.email(i),
        };
        let mut out = self.out.lock().unwrap();
        serde_json::to_writer(&mut *out, &event).unwrap();
        out.write_all(b"\n").unwrap();
    }
    fn scope(&self, f: &mut dyn FnMut()) {
        f();
    }
    fn wait(&self, _: u64) {
        self.out.lock().unwrap().flush().unwrap();
    }
    fn finish(self: Box<Self>) -> Landed {
        self.out.lock().unwrap().flush().unwrap();
        let (lines, bytes) = count_file(&self.path);
        Landed {
            lines,
            bytes,
            dropped: 0,
        }
    }
}

/// Waits (polling) until a background writer has written `emitted` lines.
fn wait_for(lines: &AtomicU64, emitted: u64) {
    while lines.load(Ordering::SeqCst) < emitted {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Lines and bytes of the events in `path`, streamed (reading the file whole would count in
/// the peak RSS). Our own `events_dropped` reports are not events of the benchmark.
fn count_file(path: &Path) -> (u64, u64) {
    use std::io::BufRead;
    let (mut lines, mut bytes) = (0, 0);
    for line in io::BufReader::with_capacity(1 << 20, File::open(path).unwrap()).lines() {
        let line = line.unwrap();
        if !line.contains("\"event_name\":\"events_dropped\"") {
            lines += 1;
            bytes += line.len() as u64 + 1;
        }
    }
    (lines, bytes)
}

/// Peak resident memory since the last reset, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak so the next stack's peak is its own (Linux `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[derive(Clone, Copy, PartialEq)]
enum StackKind {
    OursFile,
    OursFileDrop,
    OursNull,
    A,
    B,
    L,
}

impl StackKind {
    const ALL: [StackKind; 6] = [
        StackKind::OursFile,
        StackKind::OursFileDrop,
        StackKind::OursNull,
        StackKind::A,
        StackKind::B,
        StackKind::L,
    ];

    fn name(self) -> &'static str {
        match self {
            StackKind::OursFile => "ours-file",
            StackKind::OursFileDrop => "ours-file-drop",
            StackKind::OursNull => "ours-null",
            StackKind::A => "A",
            StackKind::B => "B",
            StackKind::L => "L",
        }
    }

    fn start(self, dir: &Path, run: &str) -> Box<dyn Running> {
        let path = dir.join(format!("{}-{run}.ndjson", self.name()));
        match self {
            StackKind::OursFile => Ours::start(
                Output::File(path),
                Overflow::Block {
                    timeout: Duration::from_secs(60),
                },
            ),
            StackKind::OursFileDrop => Ours::start(Output::File(path), Overflow::DropNewest),
            StackKind::OursNull => Ours::start(
                Output::Null(Arc::default(), Arc::default()),
                Overflow::Block {
                    timeout: Duration::from_secs(60),
                },
            ),
            StackKind::A => StackA::start(&path),
            StackKind::B => StackB::start(&path),
            StackKind::L => Limit::start(&path),
        }
    }
}

struct Row {
    stack: &'static str,
    caller_ns: f64,
    e2e: [f64; 2],
    /// CPU ns per event of the process, end to end, with 1 and 2 threads.
    cpu: [f64; 2],
    landed: f64,
    dropped: u64,
    lost: u64,
    bytes_per_event: f64,
    peak_rss: u64,
}

/// Median ns per emit over bursts of `BURST` with everything landed between bursts.
fn caller_ns(kind: StackKind, dir: &Path, inputs: &Inputs, bursts: usize) -> f64 {
    let stack = kind.start(dir, "caller");
    let mut per_emit = Vec::with_capacity(bursts);
    let mut emitted = 0;
    stack.scope(&mut || {
        for _ in 0..bursts {
            let start = Instant::now();
            for i in emitted..emitted + BURST {
                stack.emit(inputs, i);
            }
            per_emit.push(start.elapsed().as_nanos() as f64 / BURST as f64);
            emitted += BURST;
            stack.wait(emitted);
        }
    });
    stack.finish();
    median(&mut per_emit)
}

/// One end-to-end run: `events` from `threads` threads, until everything has landed.
struct EndToEnd {
    /// Events per second.
    rate: f64,
    /// The CPU time of the whole process (every thread, user and system) per event, in ns.
    cpu_ns: f64,
    landed: Landed,
    peak_rss: u64,
}

/// Runs `events` from `threads` threads through a new `kind` stack until everything has
/// landed.
fn end_to_end(kind: StackKind, dir: &Path, inputs: &Inputs, events: u64, threads: u64) -> EndToEnd {
    reset_peak_rss();
    let stack = kind.start(dir, &format!("e2e{threads}"));
    let per_thread = events / threads;
    let cpu = cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let stack = &stack;
            scope.spawn(move || {
                stack.scope(&mut || {
                    for i in t * per_thread..(t + 1) * per_thread {
                        stack.emit(inputs, i);
                    }
                })
            });
        }
    });
    stack.wait(per_thread * threads);
    let elapsed = start.elapsed();
    let cpu = cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu;
    let peak_rss = peak_rss();
    let landed = stack.finish();
    let emitted = per_thread as f64 * threads as f64;
    EndToEnd {
        rate: emitted / elapsed.as_secs_f64(),
        cpu_ns: cpu as f64 / emitted,
        landed,
        peak_rss,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn disabled_ns(inputs: &Inputs) -> f64 {
    // No subscriber: the event is built (its fields are moved in) and dropped.
    let iterations = 2_000_000u64;
    let start = Instant::now();
    for i in 0..iterations {
        emit!(std::hint::black_box(LoginAttemptedUnit));
        std::hint::black_box(i);
    }
    let _ = inputs;
    start.elapsed().as_nanos() as f64 / iterations as f64
}

/// A field-less event, so the disabled cost is `emit!`'s own, not building strings.
#[derive(Event)]
#[event(kind = "security", name = "login_attempted_unit")]
struct LoginAttemptedUnit;

fn main() {
    let events: u64 = std::env::var("COMPARE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bursts = 11;
    let dir = tempfile::tempdir().unwrap();
    let inputs = Inputs::new();

    // Each stack runs in a child process of this run, so its peak RSS is its own and it does
    // not inherit a heap another stack left behind.
    if let Ok(name) = std::env::var("COMPARE_CHILD") {
        let kind = StackKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .expect("a stack name");
        let row = measure(kind, dir.path(), &inputs, events, bursts);
        println!("ROW {}", row.to_line());
        return;
    }
    let disabled = disabled_ns(&inputs);
    // `COMPARE_ONLY=ours-null,A` runs a subset, without the table (it needs A and L).
    let only = std::env::var("COMPARE_ONLY").ok();
    let mut rows = Vec::new();
    for kind in StackKind::ALL {
        if only
            .as_deref()
            .is_some_and(|only| !only.split(',').any(|s| s == kind.name()))
        {
            continue;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env("COMPARE_CHILD", kind.name())
            .env("COMPARE_EVENTS", events.to_string())
            .output()
            .expect("the runner can start itself");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(row) = stdout
            .lines()
            .find_map(|line| line.strip_prefix("ROW "))
            .map(Row::from_line)
        else {
            panic!(
                "stack {} failed: {}",
                kind.name(),
                String::from_utf8_lossy(&output.stderr)
            );
        };
        eprintln!(
            "{:>15}: caller {:>8.1} ns, e2e {:>10.0} ev/s (1t) {:>10.0} ev/s (2t), CPU {:>6.0} ns/event (1t), landed {:.3}",
            row.stack, row.caller_ns, row.e2e[0], row.e2e[1], row.cpu[0], row.landed
        );
        rows.push(row);
    }
    if only.is_some() {
        return;
    }
    let report = table(&rows, disabled, events);
    println!("{report}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let file = if cfg!(feature = "bench-mimalloc") {
        "bench-compare-mimalloc.md"
    } else {
        "bench-compare.md"
    };
    let path = Path::new(&target).join(file);
    std::fs::write(&path, &report).unwrap();
    println!("written to {}", path.display());
}

fn measure(kind: StackKind, dir: &Path, inputs: &Inputs, events: u64, bursts: usize) -> Row {
    let caller = caller_ns(kind, dir, inputs, bursts);
    let one = end_to_end(kind, dir, inputs, events, 1);
    let two = end_to_end(kind, dir, inputs, events, 2);
    let lost = |run: &EndToEnd| events - run.landed.lines.min(events);
    Row {
        stack: kind.name(),
        caller_ns: caller,
        e2e: [one.rate, two.rate],
        cpu: [one.cpu_ns, two.cpu_ns],
        landed: one.landed.lines as f64 / events as f64,
        dropped: one.landed.dropped + two.landed.dropped,
        lost: lost(&one) + lost(&two),
        bytes_per_event: one.landed.bytes as f64 / one.landed.lines.max(1) as f64,
        peak_rss: one.peak_rss.max(two.peak_rss),
    }
}

impl Row {
    fn to_line(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {} {} {}",
            self.stack,
            self.caller_ns,
            self.e2e[0],
            self.e2e[1],
            self.cpu[0],
            self.cpu[1],
            self.landed,
            self.dropped,
            self.lost,
            self.bytes_per_event,
            self.peak_rss
        )
    }

    fn from_line(line: &str) -> Row {
        let f: Vec<&str> = line.split(' ').collect();
        let stack = StackKind::ALL
            .into_iter()
            .find(|k| k.name() == f[0])
            .expect("a stack name")
            .name();
        Row {
            stack,
            caller_ns: f[1].parse().unwrap(),
            e2e: [f[2].parse().unwrap(), f[3].parse().unwrap()],
            cpu: [f[4].parse().unwrap(), f[5].parse().unwrap()],
            landed: f[6].parse().unwrap(),
            dropped: f[7].parse().unwrap(),
            lost: f[8].parse().unwrap(),
            bytes_per_event: f[9].parse().unwrap(),
            peak_rss: f[10].parse().unwrap(),
        }
    }
}

fn table(rows: &[Row], disabled: f64, events: u64) -> String {
    let find = |name: &str| rows.iter().find(|r| r.stack == name).unwrap();
    let (a, l) = (find("A"), find("L"));
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    out.push_str(&format!(
        "Comparison, {events} events per end-to-end run, {cpus} CPUs, allocator: {ALLOCATOR_NAME}; one run, each stack in its own child process.\n\n"
    ));
    out.push_str("| stack | caller ns/emit | e2e ev/s 1t | e2e ev/s 2t | CPU ns/event 1t | CPU ns/event 2t | landed/emitted | dropped (counted) | lost | bytes/event | peak RSS MiB |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} | {} | {} | {:.0} | {:.1} |\n",
            r.stack,
            r.caller_ns,
            r.e2e[0],
            r.e2e[1],
            r.cpu[0],
            r.cpu[1],
            r.landed,
            r.dropped,
            r.lost,
            r.bytes_per_event,
            r.peak_rss as f64 / (1 << 20) as f64
        ));
    }
    out.push_str(&format!(
        "\nDisabled `emit!` (no subscriber): {disabled:.2} ns\n\n"
    ));
    out.push_str("| ratio | value | target |\n|---|---:|---|\n");
    for name in ["ours-file", "ours-null"] {
        let r = find(name);
        out.push_str(&format!(
            "| {name} caller / A caller | {:.3} | ≤ 0.10 |\n",
            r.caller_ns / a.caller_ns
        ));
        out.push_str(&format!(
            "| {name} e2e / A e2e (1t) | {:.2} | ≥ 3 |\n",
            r.e2e[0] / a.e2e[0]
        ));
        out.push_str(&format!(
            "| {name} e2e / L e2e (1t) | {:.2} | ≥ 0.8 |\n",
            r.e2e[0] / l.e2e[0]
        ));
        out.push_str(&format!(
            "| {name} e2e / L e2e (2t) | {:.2} | ≥ 1.0 |\n",
            r.e2e[1] / l.e2e[1]
        ));
        out.push_str(&format!(
            "| {name} CPU per event / L's (1t) | {:.2} | ≤ 1.5 |\n",
            r.cpu[0] / l.cpu[0]
        ));
    }
    let drop = find("ours-file-drop");
    out.push_str(&format!(
        "| ours-file-drop: dropped counter − lost | {} | = 0 |\n",
        drop.dropped as i64 - drop.lost as i64
    ));
    out.push_str(&format!(
        "| ours-file peak RSS − queue bound | {:.1} MiB | ≤ 16 MiB |\n",
        (find("ours-file").peak_rss as f64 - queue_bytes() as f64) / (1 << 20) as f64
    ));
    out.push_str(&format!("| disabled emit! | {disabled:.2} ns | ≤ 5 ns |\n"));
    out
}
