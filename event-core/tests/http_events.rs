//! The request context in every event: the `http` object, the client IP behind proxies and
//! its policy, identity set by a handler, and the `http_request_completed` event (completed,
//! aborted, by status), against a real axum server and a plain hyper 1 server on loopback,
//! called by a real HTTP client.
//!
//! Each test serves and calls on one current-thread runtime on its own thread, under its own
//! subscriber (`set_default`), so the tests run in parallel without seeing each other's events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use event_core::http::{ForwardedHeader, IpPolicy, RequestContext, RequestContextLayer};
use event_core::{emit, Event, EventGuard, EventLayer};
use event_sinks::MemorySink;
use http_body::Frame;
use serde_json::Value;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

/// A handler did its work.
#[derive(Event)]
#[event(kind = "system_event")]
struct WorkDone {
    step: u32,
}

/// Each call reads its response to the end: the completed event is emitted when the server
/// takes the body's last frame, before the client can have its last byte.
///
/// Runs `serve_and_call` under a fresh `EventLayer` with a `MemorySink`, on a current-thread
/// runtime, and returns every event once flushed. Also returns what a `fmt` layer printed,
/// to check that span fields do not leak there either.
fn run<F, Fut>(serve_and_call: F) -> (Vec<Value>, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let memory = MemorySink::new();
    let (layer, guard): (EventLayer, EventGuard) =
        EventLayer::builder().sink(memory.clone()).build().unwrap();
    let printed = SharedBuffer::default();
    let writer = printed.clone();
    let subscriber = tracing_subscriber::registry().with(layer).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone()),
    );
    let _default = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(serve_and_call());
    assert!(guard.flush(Duration::from_secs(10)).is_complete());
    let text = String::from_utf8(printed.0.lock().unwrap().clone()).unwrap();
    let lines = memory.lines().join("\n");
    (memory.events(), format!("{lines}\n{text}"))
}

#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serves `app` on loopback with the peer address in `ConnectInfo`; returns its address.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// Sends `request` and reads its response to the end (see [`run`]); returns the body.
async fn fetch(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

fn completed(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event_name"] == "http_request_completed")
        .collect()
}

async fn order(context: RequestContext) -> &'static str {
    emit!(WorkDone { step: 1 });
    context.set_user_id("u-42");
    context.set_session_id("s-7");
    async { emit!(WorkDone { step: 2 }) }
        .instrument(tracing::info_span!("nested"))
        .await;
    tokio::spawn(async { emit!(WorkDone { step: 3 }) }.instrument(tracing::Span::current()))
        .await
        .unwrap();
    "ordered"
}

#[test]
fn events_carry_the_http_object_and_the_identity_set_by_the_handler() {
    let (events, all) = run(|| async {
        let app = Router::new()
            .route("/orders/{id}", post(order))
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .layer(RequestContextLayer::builder().build().unwrap());
        let addr = serve(app).await;
        let client = reqwest::Client::new();
        let ok = client
            .post(format!("http://{addr}/orders/123?coupon=abc"))
            .header("user-agent", "probe/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.text().await.unwrap(), "ordered");
        let failed = client
            .get(format!("http://{addr}/fail"))
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 500);
        failed.text().await.unwrap();
        let missing = client
            .get(format!("http://{addr}/nope/9"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        missing.text().await.unwrap();
    });

    let work: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_name"] == "work_done")
        .collect();
    assert_eq!(work.len(), 3, "{events:#?}");
    for event in &work {
        let http = &event["http"];
        assert_eq!(http["method"], "POST", "{event}");
        assert_eq!(
            http["route"], "/orders/{id}",
            "the template, never the raw path"
        );
        assert_eq!(http["client_ip"], "127.0.0.1");
        assert_eq!(http["user_agent"], "probe/1.0");
        // Emitted before the response head: no status or latency yet.
        assert!(http.get("status").is_none() && http.get("latency_ms").is_none());
    }
    // The keys in envelope order: `http` after the correlation fields, before `source`.
    let line = all.lines().find(|l| l.contains("\"work_done\"")).unwrap();
    let at = |key: &str| line.find(&format!("\"{key}\":")).unwrap();
    assert!(
        at("request_id") < at("http") && at("http") < at("source"),
        "{line}"
    );
    let step = |n: u64| work.iter().find(|e| e["metadata"]["step"] == n).unwrap();
    // Identity: only the events after the handler set it.
    assert!(step(1).get("user_id").is_none());
    for n in [2, 3] {
        assert_eq!(step(n)["user_id"], "u-42");
        assert_eq!(step(n)["session_id"], "s-7");
    }

    let done = completed(&events);
    assert_eq!(done.len(), 3, "{events:#?}");
    let by_route = |route: &str| *done.iter().find(|e| e["http"]["route"] == route).unwrap();
    let ordered = by_route("/orders/{id}");
    assert_eq!(ordered["level"], "INFO");
    assert_eq!(
        ordered["user_id"], "u-42",
        "the completed event carries the identity"
    );
    assert_eq!(ordered["request_id"], step(1)["request_id"]);
    let metadata = &ordered["metadata"];
    assert_eq!(metadata["outcome"], "completed");
    assert_eq!(metadata["status"], 200);
    assert_eq!(metadata["bytes_sent"], 7);
    let head = metadata["head_latency_ms"].as_f64().unwrap();
    assert!(metadata["latency_ms"].as_f64().unwrap() >= head);
    assert_eq!(ordered["http"]["status"], 200);
    assert_eq!(ordered["http"]["latency_ms"].as_f64(), Some(head));

    let failed = by_route("/fail");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["metadata"]["status"], 500);
    assert_eq!(failed["http"]["method"], "GET");
    // Not routed: `unmatched`, never `/nope/9`.
    let missing = by_route("unmatched");
    assert_eq!(missing["level"], "WARN");
    assert_eq!(missing["metadata"]["status"], 404);
    assert!(!events.iter().any(|e| e.to_string().contains("/nope")));
    assert!(!events.iter().any(|e| e.to_string().contains("coupon")));
}

/// The client IP with 0, 1 and 2 trusted proxies in front of the server. The socket peer is
/// always 127.0.0.1 here; trusting it plays the load balancer.
#[test]
fn forwarded_chains_are_walked_past_trusted_proxies_only() {
    let chain = "198.51.100.7, 10.1.2.3";
    let cases: [(&[&str], &str, &str); 6] = [
        // Trust nobody: the headers are ignored, the peer is the client.
        (&[], "x-forwarded-for", "127.0.0.1"),
        // One trusted hop (the peer): the last address it appended is the client.
        (&["127.0.0.1"], "x-forwarded-for", "10.1.2.3"),
        // Two: the peer and the 10/8 proxy behind it.
        (
            &["127.0.0.1", "10.0.0.0/8"],
            "x-forwarded-for",
            "198.51.100.7",
        ),
        // RFC 7239 `Forwarded`, IPv6 normalised from the mapped form.
        (&["127.0.0.1"], "forwarded", "203.0.113.9"),
        // A hop that cannot be read: the peer, never a guess.
        (&["127.0.0.1"], "x-forwarded-for-garbage", "127.0.0.1"),
        // Proxies that write X-Forwarded-For: a client's own `Forwarded` is not read.
        (&["127.0.0.1"], "spoofed-forwarded", "10.1.2.3"),
    ];
    for (trusted, header, expected) in cases {
        let (events, _) = run(|| async {
            let mut layer = RequestContextLayer::builder().trusted_proxies(trusted.iter().copied());
            if header == "forwarded" {
                layer = layer.forwarded_header(ForwardedHeader::Forwarded);
            }
            let app = Router::new()
                .route("/", get(|| async { "ok" }))
                .layer(layer.build().unwrap());
            let addr = serve(app).await;
            let request = reqwest::Client::new().get(format!("http://{addr}/"));
            let request = match header {
                "forwarded" => request.header("forwarded", "for=\"[::ffff:203.0.113.9]:4711\""),
                "x-forwarded-for" => request.header("x-forwarded-for", chain),
                "spoofed-forwarded" => request
                    .header("forwarded", "for=8.8.8.8")
                    .header("x-forwarded-for", chain),
                _ => request.header("x-forwarded-for", "198.51.100.7, not-an-ip"),
            };
            fetch(request).await;
        });
        let done = completed(&events);
        assert_eq!(done.len(), 1);
        assert_eq!(
            done[0]["http"]["client_ip"], expected,
            "{trusted:?} {header}"
        );
    }
}

#[test]
fn the_ip_policy_decides_what_client_ip_carries() {
    let key = [7u8; 32];
    let mut seen = Vec::new();
    for policy in [IpPolicy::Truncate, IpPolicy::Hash, IpPolicy::Omit] {
        let (events, all) = run(|| async {
            let layer = RequestContextLayer::builder()
                .trusted_proxies(["127.0.0.1"])
                .client_ip(policy)
                .hash_key("k1", key)
                .build()
                .unwrap();
            let app = Router::new()
                .route("/", get(|| async { "ok" }))
                .layer(layer);
            let addr = serve(app).await;
            fetch(
                reqwest::Client::new()
                    .get(format!("http://{addr}/"))
                    .header("x-forwarded-for", "198.51.100.77"),
            )
            .await;
        });
        assert!(
            !all.contains("198.51.100.77"),
            "{policy:?} leaked the address:\n{all}"
        );
        let http = &completed(&events)[0]["http"];
        seen.push(http.get("client_ip").cloned());
    }
    assert_eq!(seen[0], Some(Value::from("198.51.100.0")));
    let hashed = seen[1].as_ref().unwrap().as_str().unwrap();
    assert!(
        hashed.starts_with("hmac-sha256:k1:") && hashed.len() == 15 + 64,
        "{hashed}"
    );
    assert_eq!(seen[2], None);

    let err = RequestContextLayer::builder()
        .client_ip(IpPolicy::Hash)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "client_ip");
    assert!(err.to_string().contains(".hash_key("), "{err}");
}

#[test]
fn secrets_in_headers_and_queries_reach_no_output() {
    let (events, all) = run(|| async {
        let app = Router::new()
            .route("/login", post(|| async { "ok" }))
            .layer(RequestContextLayer::builder().build().unwrap());
        let addr = serve(app).await;
        fetch(
            reqwest::Client::new()
                .post(format!("http://{addr}/login?token=CANARY-QUERY"))
                .header("authorization", "Bearer CANARY-AUTHORIZATION")
                .header("cookie", "session=CANARY-COOKIE")
                .header("x-api-key", "CANARY-API-KEY"),
        )
        .await;
    });
    assert_eq!(completed(&events).len(), 1);
    // `all` holds both our sink's lines and what a `fmt` JSON layer printed of the spans.
    assert!(
        all.contains("http_request"),
        "the fmt layer saw the span: {all}"
    );
    assert!(!all.contains("CANARY"), "{all}");
}

/// A body that sends a chunk each poll, forever, and says when it is dropped.
struct Endless {
    dropped: Option<tokio::sync::oneshot::Sender<()>>,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[b'x'; 4096])))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        if let Some(dropped) = self.dropped.take() {
            let _ = dropped.send(());
        }
    }
}

#[test]
fn a_client_gone_mid_body_gives_an_aborted_event() {
    let (events, _) = run(|| async {
        let (dropped, body_dropped) = tokio::sync::oneshot::channel();
        let dropped = std::sync::Arc::new(std::sync::Mutex::new(Some(dropped)));
        let app = Router::new()
            .route(
                "/stream",
                get(move || {
                    let body = Endless {
                        dropped: dropped.lock().unwrap().take(),
                    };
                    async move { Response::new(axum::body::Body::new(body)).into_response() }
                }),
            )
            .layer(RequestContextLayer::builder().build().unwrap());
        let addr = serve(app).await;
        let mut response = reqwest::Client::new()
            .get(format!("http://{addr}/stream"))
            .send()
            .await
            .unwrap();
        assert!(response.chunk().await.unwrap().is_some());
        drop(response);
        // The server notices when a write fails, and drops the body.
        body_dropped.await.unwrap();
    });
    let done = completed(&events);
    assert_eq!(done.len(), 1, "{events:#?}");
    let metadata = &done[0]["metadata"];
    assert_eq!(metadata["outcome"], "aborted");
    assert_eq!(metadata["status"], 200);
    assert!(metadata["bytes_sent"].as_u64().unwrap() >= 4096);
}

#[test]
fn a_plain_hyper_service_gets_the_same_context() {
    use hyper_util::rt::TokioIo;
    use tower::service_fn;
    use tower_layer::Layer;

    let (events, _) = run(|| async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer = RequestContextLayer::builder()
            .route(|parts| match parts.uri.path() {
                "/health" => Some("/health".into()),
                _ => None,
            })
            .build()
            .unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                let service = layer
                    .layer(service_fn(
                        |request: hyper::Request<hyper::body::Incoming>| async move {
                            let context = request.extensions().get::<RequestContext>().unwrap();
                            context.set_user_id("hyper-user");
                            emit!(WorkDone { step: 9 });
                            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                                Bytes::from_static(b"healthy"),
                            )))
                        },
                    ))
                    .with_peer_addr(peer);
                let service = hyper_util::service::TowerToHyperService::new(service);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let client = reqwest::Client::new();
        for path in ["/health", "/other/5"] {
            let response = client
                .get(format!("http://{addr}{path}"))
                .header("x-request-id", "hyper-1")
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["x-request-id"], "hyper-1");
            assert_eq!(response.text().await.unwrap(), "healthy");
        }
    });
    let work: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_name"] == "work_done")
        .collect();
    assert_eq!(work.len(), 2);
    assert_eq!(work[0]["http"]["route"], "/health");
    assert_eq!(work[1]["http"]["route"], "unmatched");
    for event in events.iter() {
        assert_eq!(event["request_id"], "hyper-1");
        assert_eq!(event["http"]["client_ip"], "127.0.0.1");
    }
    let done = completed(&events);
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["user_id"], "hyper-user");
    assert_eq!(done[0]["metadata"]["bytes_sent"], 7);
    assert_eq!(done[0]["metadata"]["outcome"], "completed");
}

#[test]
fn grpc_requests_are_routed_by_their_method_path() {
    let (events, _) = run(|| async {
        let app = Router::new()
            .fallback(|| async { "grpc" })
            .layer(RequestContextLayer::builder().build().unwrap());
        let addr = serve(app).await;
        for path in [
            "/shop.Orders/Place",
            "/reset/alice@example.com/CANARY-TOKEN",
        ] {
            fetch(
                reqwest::Client::new()
                    .post(format!("http://{addr}{path}"))
                    .header("content-type", "application/grpc+proto"),
            )
            .await;
        }
    });
    let done = completed(&events);
    assert_eq!(done[0]["http"]["route"], "/shop.Orders/Place");
    // A client chooses the content type: a path not shaped like a gRPC method is no route.
    assert_eq!(done[1]["http"]["route"], "unmatched");
    assert!(!events.iter().any(|e| e.to_string().contains("CANARY")));
}

#[test]
fn connect_info_is_the_peer_and_without_it_there_is_no_client_ip() {
    let (events, _) = run(|| async {
        let app = Router::new()
            .route(
                "/",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
            .layer(RequestContextLayer::builder().build().unwrap());
        // Served without `into_make_service_with_connect_info`: the layer cannot know the peer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let plain = Router::new()
            .route("/", get(|| async { "plain" }))
            .layer(RequestContextLayer::builder().build().unwrap());
        tokio::spawn(async move { axum::serve(listener, plain).await.unwrap() });
        let with_info = serve(app).await;
        let client = reqwest::Client::new();
        for addr in [with_info, addr] {
            fetch(client.get(format!("http://{addr}/"))).await;
        }
    });
    let done = completed(&events);
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["http"]["client_ip"], "127.0.0.1");
    assert!(done[1]["http"].get("client_ip").is_none(), "{}", done[1]);
}

#[path = "support/mmdb.rs"]
mod mmdb;

#[test]
fn geoip_adds_the_clients_location_and_nothing_for_private_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("test-city.mmdb");
    std::fs::write(&database, mmdb::test_city_database()).unwrap();
    let (events, all) = run(|| async {
        let layer = RequestContextLayer::builder()
            .trusted_proxies(["127.0.0.1"])
            // The policy decides what `client_ip` says, not where `geo` looks.
            .client_ip(IpPolicy::Omit)
            .geoip(&database)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(layer);
        let addr = serve(app).await;
        let client = reqwest::Client::new();
        for forwarded in ["81.2.69.160", "10.1.2.3", "89.160.20.5", "2001:218::9"] {
            fetch(
                client
                    .get(format!("http://{addr}/"))
                    .header("x-forwarded-for", forwarded)
                    .header("x-request-id", forwarded.replace(':', ".")),
            )
            .await;
        }
    });
    let geo = |id: &str| {
        let event = completed(&events)
            .into_iter()
            .find(|e| e["request_id"] == id)
            .unwrap();
        assert!(event["http"].get("client_ip").is_none());
        event.get("geo").cloned()
    };
    assert_eq!(
        geo("81.2.69.160"),
        Some(serde_json::json!({
            "country_iso_code": "GB",
            "region_iso_code": "GB-ENG",
            "city": "London",
            "continent_code": "EU",
            "time_zone": "Europe/London",
        }))
    );
    // The test database has a London record for 10/8 too: private addresses get none.
    assert_eq!(geo("10.1.2.3"), None);
    assert_eq!(
        geo("89.160.20.5"),
        Some(serde_json::json!({ "country_iso_code": "SE", "continent_code": "EU" }))
    );
    assert_eq!(geo("2001.218..9").unwrap()["city"], "Tokyo");
    // `geo` comes after `http` in the envelope, before `source`.
    let line = all.lines().find(|l| l.contains("\"London\"")).unwrap();
    let at = |key: &str| line.find(&format!("\"{key}\":")).unwrap();
    assert!(at("http") < at("geo") && at("geo") < at("source"), "{line}");

    let missing = RequestContextLayer::builder()
        .geoip(dir.path().join("absent.mmdb"))
        .build()
        .unwrap_err();
    assert_eq!(missing.setting(), "geoip");
    assert!(missing.to_string().contains("absent.mmdb"), "{missing}");
}

/// A body of one frame that does not say it has ended until polled again, as a stream does.
struct OneFrame(Option<Bytes>);

impl http_body::Body for OneFrame {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }
}

#[test]
fn a_body_of_declared_length_sent_whole_is_completed() {
    let (events, _) = run(|| async {
        let app = Router::new()
            .route(
                "/file",
                get(|| async {
                    let mut response =
                        Response::new(axum::body::Body::new(OneFrame(Some("hello".into()))));
                    response
                        .headers_mut()
                        .insert("content-length", "5".parse().unwrap());
                    response
                }),
            )
            .layer(RequestContextLayer::new());
        let addr = serve(app).await;
        let body = reqwest::get(format!("http://{addr}/file")).await.unwrap();
        assert_eq!(body.text().await.unwrap(), "hello");
    });
    let done = completed(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["metadata"]["outcome"], "completed", "{}", done[0]);
    assert_eq!(done[0]["metadata"]["bytes_sent"], 5);
}

#[test]
fn other_spans_http_fields_do_not_mix_into_the_requests_object() {
    let (events, _) = run(|| async {
        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    // An outbound call's span, named as OpenTelemetry names its attributes.
                    let outbound = tracing::info_span!(
                        "outbound",
                        http.method = "OUTBOUND",
                        http.status = 599u64
                    );
                    outbound.in_scope(|| emit!(WorkDone { step: 1 }));
                    "ok"
                }),
            )
            .layer(RequestContextLayer::new());
        let addr = serve(app).await;
        fetch(reqwest::Client::new().get(format!("http://{addr}/"))).await;
    });
    let work = events
        .iter()
        .find(|e| e["event_name"] == "work_done")
        .unwrap();
    assert_eq!(work["http"]["method"], "GET", "{work}");
    assert!(work["http"].get("status").is_none(), "{work}");
}

#[test]
fn no_completed_event_when_turned_off() {
    let (events, _) = run(|| async {
        let layer = RequestContextLayer::builder()
            .completed_event(false)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/", get(|| async { emit!(WorkDone { step: 1 }) }))
            .layer(layer);
        let addr = serve(app).await;
        fetch(reqwest::Client::new().get(format!("http://{addr}/"))).await;
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["event_name"], "work_done");
}

#[test]
fn user_agents_are_cut_and_invalid_utf8_replaced() {
    let (events, _) = run(|| async {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(RequestContextLayer::new());
        let addr = serve(app).await;
        let client = reqwest::Client::new();
        let long = "é".repeat(400); // 800 bytes
        let odd = reqwest::header::HeaderValue::from_bytes(b"probe/\xff1").unwrap();
        for agent in [reqwest::header::HeaderValue::from_str(&long).unwrap(), odd] {
            fetch(
                client
                    .get(format!("http://{addr}/"))
                    .header("user-agent", agent),
            )
            .await;
        }
    });
    let done = completed(&events);
    let long = done[0]["http"]["user_agent"].as_str().unwrap();
    assert_eq!(long.len(), event_core::http::MAX_USER_AGENT_LEN);
    assert!(long.chars().all(|c| c == 'é'));
    assert_eq!(done[1]["http"]["user_agent"], "probe/\u{fffd}1");
}
