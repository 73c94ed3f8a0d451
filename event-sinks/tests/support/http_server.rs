//! A loopback HTTP receiver with scripted faults, for the `HttpSink` tests.

use std::collections::VecDeque;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::any;
use axum::Router;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and a short text).
    Status(u16),
    /// Answer with this status and a `Retry-After` header.
    RetryAfter(u16, String),
    /// Send a 200 header, then break the connection in the middle of the body.
    Reset,
    /// Answer only after this long (longer than the client's timeout).
    Hang(Duration),
    /// Answer with this status, `Content-Type` and body.
    Answer(u16, &'static str, Vec<u8>),
    /// Answer with this (3xx) status, a `Location` header, and a body repeating it (as many
    /// servers do).
    Redirect(u16, String),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method: any is recorded, so a followed redirect turned into a GET shows too.
    pub method: String,
    /// `Idempotency-Key`.
    pub key: String,
    /// The body as sent (compressed if it was).
    pub raw: Vec<u8>,
    /// The body, decompressed.
    pub body: Vec<u8>,
    pub content_type: String,
    pub headers: HeaderMap,
    /// The path.
    pub path: String,
    /// The query string.
    pub query: String,
    /// What the server answered (200 for `Reset`, which breaks off afterwards).
    pub answered: u16,
    pub at: Instant,
}

impl Received {
    /// The events of an NDJSON body.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.body
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).expect("one JSON value per line"))
            .collect()
    }

    /// Whether the sink could take this as delivered.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Fault>>,
    /// What to do once the script is used up; `None` = 200.
    default: Mutex<Option<Fault>>,
    received: Mutex<Vec<Received>>,
    arrived: Condvar,
    /// Bodies containing a marker refused with a status.
    poison: Mutex<Option<Refusal>>,
}

/// Bodies containing the marker are refused with the status, this many more times (`None`:
/// always, a poison batch).
type Refusal = (Vec<u8>, u16, Option<usize>);

/// A running receiver; stops (its port refuses connections) when dropped or `stop`ped.
pub struct FaultServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

impl FaultServer {
    /// A receiver on a fresh port that answers 200.
    pub fn start() -> FaultServer {
        // Bound here, not probed and bound again: parallel tests never share a port.
        FaultServer::listen(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// A receiver on `addr`.
    pub fn start_on(addr: SocketAddr) -> FaultServer {
        FaultServer::listen(TcpListener::bind(addr).unwrap())
    }

    fn listen(listener: TcpListener) -> FaultServer {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new().fallback(any(receive)).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
            // Dropping the runtime ends connections still open (a hanging handler).
            runtime.shutdown_background();
        });
        FaultServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Faults for the next requests, in order; then the default.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.script.lock().unwrap().extend(faults);
    }

    /// What every request gets once the script is used up.
    pub fn always(&self, fault: Option<Fault>) {
        *self.shared.default.lock().unwrap() = fault;
    }

    /// Refuses, with 500, every body that contains `marker`.
    pub fn poison(&self, marker: &str) {
        *self.shared.poison.lock().unwrap() = Some((marker.as_bytes().to_vec(), 500, None));
    }

    /// Refuses, with `status`, the next `times` bodies that contain `marker`; takes them after.
    pub fn refuse(&self, marker: &str, status: u16, times: usize) {
        *self.shared.poison.lock().unwrap() =
            Some((marker.as_bytes().to_vec(), status, Some(times)));
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The events of every accepted request, in arrival order.
    pub fn accepted_events(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .filter(|r| r.accepted())
            .flat_map(Received::events)
            .collect()
    }

    /// Waits (at most `timeout`) until accepted requests hold at least `events` events.
    pub fn wait_for_events(&self, events: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut received = self.shared.received.lock().unwrap();
        loop {
            let count: usize = received
                .iter()
                .filter(|r| r.accepted())
                .map(|r| r.events().len())
                .sum();
            if count >= events {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            received = self
                .shared
                .arrived
                .wait_timeout(received, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Stops listening: the port refuses connections from now on.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response<Body> {
    let fault = {
        let next = shared.script.lock().unwrap().pop_front();
        next.or_else(|| shared.default.lock().unwrap().clone())
    };
    let gzipped = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let body = if gzipped {
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut body)
            .expect("a gzip body");
        body
    } else {
        raw.to_vec()
    };
    let refused = match &mut *shared.poison.lock().unwrap() {
        Some((marker, status, times))
            if body.windows(marker.len()).any(|w| w == &marker[..])
                && times.is_none_or(|times| times > 0) =>
        {
            if let Some(times) = times {
                *times -= 1;
            }
            Some(*status)
        }
        _ => None,
    };
    let fault = match refused {
        Some(status) => Some(Fault::Status(status)),
        None => fault,
    };
    let answered = match &fault {
        None | Some(Fault::Reset) | Some(Fault::Hang(_)) => 200,
        Some(Fault::Status(code))
        | Some(Fault::RetryAfter(code, _))
        | Some(Fault::Answer(code, _, _))
        | Some(Fault::Redirect(code, _)) => *code,
    };
    let received = Received {
        method: method.to_string(),
        key: header(&headers, "idempotency-key"),
        raw: raw.to_vec(),
        body,
        content_type: header(&headers, "content-type"),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        // A reset or a hang never reaches the client as an answer.
        answered: if matches!(fault, Some(Fault::Reset) | Some(Fault::Hang(_))) {
            0
        } else {
            answered
        },
        at: Instant::now(),
    };
    shared.received.lock().unwrap().push(received);
    shared.arrived.notify_all();
    match fault {
        None => Response::new(Body::empty()),
        Some(Fault::Status(code)) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .body(Body::from(format!("scripted {code}")))
            .unwrap(),
        Some(Fault::RetryAfter(code, after)) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("retry-after", after)
            .body(Body::empty())
            .unwrap(),
        Some(Fault::Answer(code, content_type, body)) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap(),
        Some(Fault::Redirect(code, location)) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header("location", &location)
            .body(Body::from(format!("Redirecting to {location}")))
            .unwrap(),
        Some(Fault::Reset) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"partial")),
                Err(std::io::Error::other("scripted reset")),
            ];
            Response::builder()
                .status(200)
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        Some(Fault::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            Response::new(Body::empty())
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
