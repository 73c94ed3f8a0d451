//! `RequestContextLayer` in a real axum server on loopback, called by a real HTTP client:
//! every event carries its own request's id, trace and route, also from spawned tasks and in
//! the completed event, under 1,000 concurrent requests. Alone in its binary because the server's threads need the global
//! subscriber.

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use event_core::http::{RequestContext, RequestContextLayer};
use event_core::{emit, Event, EventLayer};
use event_sinks::MemorySink;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

/// A handler saw a request.
#[derive(Event)]
#[event(kind = "system_event")]
struct RequestSeen {
    /// The request id the handler read from its `RequestContext`.
    seen: String,
    /// Emitted from a task spawned with the request's span.
    spawned: bool,
}

async fn handler(Extension(context): Extension<RequestContext>) -> &'static str {
    let seen = context.request_id().as_str().to_owned();
    emit!(RequestSeen {
        seen: seen.clone(),
        spawned: false
    });
    // Other requests run meanwhile: the spawned task must keep its own context.
    tokio::task::yield_now().await;
    tokio::spawn(
        async move {
            tokio::task::yield_now().await;
            emit!(RequestSeen {
                seen,
                spawned: true
            });
        }
        .instrument(tracing::Span::current()),
    )
    .await
    .unwrap();
    "ok"
}

#[test]
fn every_event_carries_its_own_requests_context() {
    let memory = MemorySink::new();
    let (layer, guard) = EventLayer::builder().sink(memory.clone()).build().unwrap();
    tracing_subscriber::registry().with(layer).init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let traced = "4bf92f3577b34da6a3ce929d0e0e4736";
    let responses = runtime.block_on(async {
        let app = Router::new()
            .route("/orders/{id}", get(handler))
            .layer(RequestContextLayer::builder().build().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let client = reqwest::Client::new();
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..1_000u32 {
            let client = client.clone();
            calls.spawn(async move {
                let mut request = client.get(format!("http://{addr}/orders/{n}"));
                request = match n % 4 {
                    // Its own valid id, and the caller's trace.
                    0 => request
                        .header("x-request-id", format!("req-{n}"))
                        .header("traceparent", format!("00-{traced}-00f067aa0ba902b7-03")),
                    // A refused id (never copied) and an invalid traceparent (a new trace).
                    1 => request
                        .header("x-request-id", format!("bad id {n} CANARY"))
                        .header(
                            "traceparent",
                            format!("00-{}-00f067aa0ba902b7-01", traced.to_uppercase()),
                        ),
                    _ => request,
                };
                let response = request.send().await.unwrap();
                let echoed = response.headers()["x-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                (n, echoed, response.text().await.unwrap())
            });
        }
        calls.join_all().await
    });
    assert!(guard.flush(Duration::from_secs(30)).is_complete());

    assert_eq!(responses.len(), 1_000);
    for (n, echoed, body) in &responses {
        assert_eq!(body, "ok");
        match n % 4 {
            0 => assert_eq!(echoed, &format!("req-{n}")),
            _ => assert_eq!(uuid::Uuid::parse_str(echoed).unwrap().get_version_num(), 7),
        }
    }
    let all_events = memory.events();
    assert_eq!(all_events.len(), 3_000);
    let (events, completed): (Vec<_>, Vec<_>) = all_events
        .iter()
        .partition(|event| event["event_name"] == "request_seen");
    assert_eq!(events.len(), 2_000);
    // One completed event per request, under its own request's id.
    let mut completed_ids: Vec<&str> = completed
        .iter()
        .map(|event| {
            assert_eq!(event["event_name"], "http_request_completed");
            assert_eq!(event["http"]["route"], "/orders/{id}");
            assert_eq!(event["metadata"]["outcome"], "completed");
            event["request_id"].as_str().unwrap()
        })
        .collect();
    completed_ids.sort_unstable();
    completed_ids.dedup();
    assert_eq!(completed_ids.len(), 1_000);
    let mut traces = std::collections::HashSet::new();
    for event in events {
        let request_id = event["request_id"].as_str().unwrap();
        // No cross-talk: the envelope's id is the one the handler saw, in spawned tasks too.
        assert_eq!(event["metadata"]["seen"], request_id, "{event}");
        assert_eq!(event["http"]["route"], "/orders/{id}");
        assert!(responses.iter().any(|(_, echoed, _)| echoed == request_id));
        let trace_id = event["trace_id"].as_str().unwrap();
        let span_id = event["span_id"].as_str().unwrap();
        assert_eq!((trace_id.len(), span_id.len()), (32, 16), "{event}");
        assert_ne!(span_id, "00f067aa0ba902b7", "a server span gets its own id");
        if request_id.starts_with("req-") {
            assert_eq!(trace_id, traced, "{event}");
        } else {
            assert_ne!(trace_id, traced, "{event}");
            traces.insert(trace_id.to_owned());
        }
    }
    // Each request without a valid parent starts its own trace (two events per request).
    assert_eq!(traces.len(), 750);
    // Refused inbound values are never copied into an output.
    let all = memory.lines().join("\n");
    assert!(!all.contains("CANARY"));
    assert!(!all.contains(&traced.to_uppercase()));
}
