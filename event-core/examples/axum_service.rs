//! An axum service whose events carry their HTTP request: request and trace ids, the `http`
//! object (method, route template, status, client IP, user agent, latency), the user set by a
//! handler, and one `http_request_completed` event per request.
//!
//! It serves on 127.0.0.1 (a free port), calls itself a few times with a real HTTP client,
//! once as if through a trusted load balancer, prints every event to stdout and exits.
//!
//! ```text
//! cargo run -p event-core --example axum_service
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use event_core::http::{IpPolicy, RequestContext, RequestContextLayer};
use event_core::{emit, Event, EventLayer};
use event_sinks::StdoutSink;
use tracing_subscriber::prelude::*;

/// A user signed in.
#[derive(Event)]
#[event(kind = "security")]
struct UserLoggedIn {
    /// How the user proved who they are.
    method: String,
}

/// An order was looked at.
#[derive(Event)]
#[event(kind = "user_action")]
struct OrderViewed {
    order_id: u64,
}

async fn login(context: RequestContext) -> &'static str {
    // Every later event of this request, the completed one too, carries the user.
    context.set_user_id("u-1042");
    context.set_session_id("s-77");
    emit!(UserLoggedIn {
        method: "password".into()
    });
    "welcome"
}

async fn order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    if id == 0 {
        return Err(StatusCode::NOT_FOUND);
    }
    emit!(OrderViewed { order_id: id });
    Ok(format!("order {id}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layer, guard) = EventLayer::builder()
        .service("shop")
        .source(false)
        .sink(StdoutSink::new())
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    let context = RequestContextLayer::builder()
        // The load balancer in front of us; the loopback peer plays it here.
        .trusted_proxies(["127.0.0.1/32", "10.0.0.0/8"])
        // Keep only the network of the client's address.
        .client_ip(IpPolicy::Truncate)
        .build()?;
    let app = Router::new()
        .route("/login", post(login))
        .route("/orders/{id}", get(order))
        .layer(context);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let client = reqwest::Client::new();
    let login = client
        .post(format!("http://{addr}/login"))
        // The caller's trace continues here; its request id is taken.
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-request-id", "req-login-1")
        // Added by the trusted proxy: the client is 203.0.113.50 (written as 203.0.113.0).
        .header("x-forwarded-for", "203.0.113.50, 10.0.0.8")
        .header("user-agent", "example-client/1.0")
        .send()
        .await?;
    println!(
        "POST /login -> {} (x-request-id: {:?})",
        login.status(),
        login.headers()["x-request-id"]
    );
    // Read to the end: the completed event is emitted as the server sends the last bytes.
    login.text().await?;
    for path in ["/orders/42", "/orders/0", "/nowhere"] {
        let response = client.get(format!("http://{addr}{path}")).send().await?;
        println!(
            "GET {path} -> {} (x-request-id: {:?})",
            response.status(),
            response.headers()["x-request-id"]
        );
        response.text().await?;
    }

    // Every event emitted so far reaches stdout before `flush` returns.
    let report = guard.flush(Duration::from_secs(5));
    server.abort();
    if !report.is_complete() {
        return Err(format!("events not delivered: {report:?}").into());
    }
    Ok(())
}
