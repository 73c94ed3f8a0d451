//! `HttpSink` through an outage: a dead primary, a fallback that takes over, then both down
//! (events go to the disk spool), then the primary back (the spool drains into it). The two
//! receivers are small local servers started here, so the example runs anywhere.
//!
//! Run with `cargo run -p event-sinks --example http_failover`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_core::{emit, Event, EventGuard, EventLayer, SinkStats};
use event_sinks::{HttpSink, Retry};
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

/// A local endpoint that counts the NDJSON events it accepts.
struct Receiver {
    addr: SocketAddr,
    events: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(addr: SocketAddr) -> Receiver {
        let events = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&events);
        let listener = std::net::TcpListener::bind(addr).expect("a free local port");
        listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().fallback(axum::routing::post(
                    move |body: axum::body::Bytes| async move {
                        let mut text = Vec::new();
                        std::io::Read::read_to_end(
                            &mut flate2::read::GzDecoder::new(&body[..]),
                            &mut text,
                        )
                        .unwrap();
                        let lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
                        counter.fetch_add(lines.count() as u64, Ordering::SeqCst);
                    },
                ));
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver {
            addr,
            events,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn events(&self) -> u64 {
        self.events.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn emit_orders(dispatch: &tracing::Dispatch, orders: std::ops::Range<u64>) {
    tracing::dispatcher::with_default(dispatch, || {
        for order_id in orders {
            emit!(OrderShipped {
                order_id,
                carrier: "DHL".into(),
                address: "1 Main St, Springfield".into(),
            });
        }
    });
}

fn show(phase: &str, guard: &EventGuard) -> SinkStats {
    let stats = guard.stats().sink("http").unwrap().clone();
    println!(
        "{phase:<34} emitted {:>5}  delivered {:>5}  spooled {:>5}  retried {:>3}  dead-lettered {}  conserved {}",
        stats.emitted,
        stats.delivered,
        stats.spooled,
        stats.retried,
        stats.dead_lettered,
        stats.is_conserved(),
    );
    stats
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let primary_addr = free_addr();
    let fallback = Receiver::start(free_addr());
    let dir = std::path::Path::new("events/http");
    std::fs::create_dir_all(dir)?;
    let sink = HttpSink::builder(format!("http://{primary_addr}/ingest"))
        .fallback(format!("http://{}/ingest", fallback.addr))
        .max_events(100)
        .linger(Duration::from_millis(20))
        .timeout(Duration::from_secs(2))
        .probe_interval(Duration::from_millis(100))
        .retry(Retry {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..Retry::default()
        })
        .spool(dir.join("spool"), 64 << 20)
        .dead_letter(dir.join("dead-letter.ndjson"))
        .bearer_token("example-token")
        .build()?;
    let (layer, guard) = EventLayer::builder()
        .service("shipping")
        .sink(sink)
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    // 1. The primary is down: the fallback takes the events in the same attempt.
    emit_orders(&dispatch, 0..1_000);
    guard.flush(Duration::from_secs(30));
    show("1. primary down, fallback up", &guard);
    println!("   fallback received {}", fallback.events());

    // 2. Both down: batches go to the disk spool; memory stays small, the app never waits.
    drop(fallback);
    emit_orders(&dispatch, 1_000..3_000);
    guard.flush(Duration::from_secs(30));
    show("2. every endpoint down", &guard);

    // 3. The primary comes back: the probe finds it, and the spool drains into it in order.
    let primary = Receiver::start(primary_addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while guard.stats().sink("http").unwrap().spooled > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = show("3. primary back, spool drained", &guard);
    println!("   primary received {}", primary.events());
    guard.shutdown(Duration::from_secs(30));
    assert!(stats.is_conserved() && stats.spooled == 0, "{stats:?}");
    Ok(())
}
