//! `RequestContextLayer`: a `tower` layer that gives every request an id and a trace context,
//! and every event emitted while handling it the envelope's `request_id`, `trace_id` and
//! `span_id`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use http::{Extensions, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

use super::completed::{millis, Completion, Outcome, ResponseBody};
use super::{
    ForwardedHeader, IpPolicy, RequestContext, RequestId, SpanId, TraceId, TraceParent,
    TrustedProxies,
};
use crate::model::treatment::{self, TreatmentContext};
use crate::{BuildError, HashKey, HashKeyError};

/// A function that names the route template of a request, such as `/users/{id}`.
type RouteFn = dyn Fn(&Parts) -> Option<Cow<'static, str>> + Send + Sync;
/// A function that finds the socket peer's address in a request's extensions.
type PeerFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;

/// The longest `user_agent` written, in bytes; longer ones are cut at a character boundary.
pub const MAX_USER_AGENT_LEN: usize = 512;

/// Adds the request context to a `tower` service: axum, tonic or a plain hyper service.
///
/// For each request it
/// - takes the request id from `x-request-id` (or the configured header) when it is 1 to 128
///   characters of `A-Z a-z 0-9 . _ : -`, else generates a UUIDv7 (see [`RequestId`]), and
///   echoes it on the response;
/// - continues the caller's trace from a valid W3C `traceparent` (see [`TraceParent`]), or
///   starts a new one, with a new span id for this server span;
/// - runs the inner service inside a `tracing` span `http_request` (level INFO, target
///   `event_core::http`) that carries `request_id`, `trace_id`, `span_id`, the `http` object
///   (`method`, `route`, `client_ip`, `user_agent`, then `status` and `latency_ms` once the
///   response head is ready) and, with `.geoip(..)` (feature `geoip`), `geo`;
///   an [`EventLayer`](crate::EventLayer) copies them into every event emitted while the
///   request is handled, in nested spans and in tasks spawned with the span
///   (`.instrument(Span::current())`) too;
/// - puts the [`RequestContext`] into the request's extensions, where handlers set the
///   request's `user_id` and `session_id`;
/// - emits [`HttpRequestCompleted`](super::HttpRequestCompleted) once the response body has been sent, or the client went
///   away.
///
/// Generic over request and response bodies; the inner service's error passes through
/// unchanged. No header of the request is copied into an event except an accepted request
/// id, a valid `traceparent`, the `User-Agent` (cut to [`MAX_USER_AGENT_LEN`] bytes) and the
/// client address the trusted proxies' forwarding header gives (after the [`IpPolicy`]);
/// never `Authorization`, `Cookie` or the query string.
///
/// ```
/// use event_core::http::RequestContextLayer;
///
/// let layer = RequestContextLayer::builder()
///     .trusted_proxies(["10.0.0.0/8"]) // your load balancers
///     .build()?;
/// // axum: `Router::new().route(..).layer(layer)`; tower: `ServiceBuilder::new().layer(layer)`.
/// # let _ = layer;
/// # Ok::<(), event_core::BuildError>(())
/// ```
#[derive(Clone)]
pub struct RequestContextLayer {
    settings: Arc<Settings>,
}

struct Settings {
    request_id_header: HeaderName,
    proxies: TrustedProxies,
    ip_policy: IpPolicy,
    hash_key: Option<HashKey>,
    route: Option<Box<RouteFn>>,
    peer: Option<Box<PeerFn>>,
    completed_event: bool,
    #[cfg(feature = "geoip")]
    geoip: Option<super::geoip::GeoIp>,
}

impl Default for RequestContextLayer {
    fn default() -> Self {
        RequestContextLayer::new()
    }
}

impl fmt::Debug for RequestContextLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &*self.settings;
        let mut debug = f.debug_struct("RequestContextLayer");
        debug
            .field("request_id_header", &settings.request_id_header)
            .field("trusted_proxies", &settings.proxies)
            .field("client_ip", &settings.ip_policy)
            .field("hash_key", &settings.hash_key)
            .field("route", &settings.route.as_ref().map(|_| "fn"))
            .field("peer_addr", &settings.peer.as_ref().map(|_| "fn"))
            .field("completed_event", &settings.completed_event);
        #[cfg(feature = "geoip")]
        debug.field("geoip", &settings.geoip.is_some());
        debug.finish()
    }
}

/// Configures a [`RequestContextLayer`]; [`build`](Self::build) checks the settings.
pub struct RequestContextLayerBuilder {
    request_id_header: String,
    trusted_proxies: Vec<String>,
    forwarded_header: ForwardedHeader,
    ip_policy: IpPolicy,
    hash_key: Option<Result<HashKey, HashKeyError>>,
    route: Option<Box<RouteFn>>,
    peer: Option<Box<PeerFn>>,
    completed_event: bool,
    #[cfg(feature = "geoip")]
    geoip: Option<std::path::PathBuf>,
}

impl fmt::Debug for RequestContextLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContextLayerBuilder")
            .field("request_id_header", &self.request_id_header)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("client_ip", &self.ip_policy)
            .field(
                "hash_key",
                &self.hash_key.as_ref().map(|key| key.as_ref().ok()),
            )
            .field("completed_event", &self.completed_event)
            .finish_non_exhaustive()
    }
}

impl RequestContextLayer {
    /// The layer with the defaults (the same as `builder().build()`, which cannot fail with
    /// them).
    pub fn new() -> RequestContextLayer {
        RequestContextLayer::builder()
            .build()
            .expect("the default settings are valid")
    }

    /// A builder with the defaults: request ids from `x-request-id`, the socket peer as the
    /// client IP, written as it is, and the `http_request_completed` event on.
    pub fn builder() -> RequestContextLayerBuilder {
        RequestContextLayerBuilder {
            request_id_header: "x-request-id".into(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            ip_policy: IpPolicy::Keep,
            hash_key: None,
            route: None,
            peer: None,
            completed_event: true,
            #[cfg(feature = "geoip")]
            geoip: None,
        }
    }
}

impl RequestContextLayerBuilder {
    /// The header the request id is read from and echoed in (default `x-request-id`).
    pub fn request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = name.into();
        self
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers are believed, as CIDR blocks
    /// or addresses (see [`TrustedProxies`]). Default: none, the client IP is the socket peer.
    pub fn trusted_proxies<I, S>(mut self, blocks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = blocks.into_iter().map(Into::into).collect();
        self
    }

    /// The header the trusted proxies write, the only one read (default
    /// [`ForwardedHeader::XForwardedFor`]; RFC 7239 `Forwarded` if yours write that). A client
    /// can send the other one through your proxies, so it is ignored.
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.forwarded_header = header;
        self
    }

    /// What `http.client_ip` carries (default [`IpPolicy::Keep`]). The IP is personal data.
    pub fn client_ip(mut self, policy: IpPolicy) -> Self {
        self.ip_policy = policy;
        self
    }

    /// The key [`IpPolicy::Hash`] uses, at least 32 bytes; the same key as the `EventLayer`'s
    /// gives the same values as its `#[event(hash)]` fields.
    pub fn hash_key(mut self, key_id: &str, key: impl AsRef<[u8]>) -> Self {
        self.hash_key = Some(HashKey::new(key_id, key.as_ref()));
        self
    }

    /// Names the route template of a request, such as `/users/{id}`; `None` means
    /// `"unmatched"`. Without it the route is axum's `MatchedPath` (feature `axum`), or, for a
    /// gRPC request (`content-type: application/grpc…`) whose path is shaped
    /// `/package.Service/Method`, that path; else `"unmatched"`. Return templates,
    /// never raw paths: they may hold ids and personal data.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&Parts) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    {
        self.route = Some(Box::new(route));
        self
    }

    /// Finds the socket peer's address in the request's extensions, for servers that put it
    /// there in their own type (tonic: `TcpConnectInfo`). Without it the layer looks for
    /// axum's `ConnectInfo<SocketAddr>` (feature `axum`) and a plain `SocketAddr`; a service
    /// given one with [`RequestContextService::with_peer_addr`] uses that.
    pub fn peer_addr<F>(mut self, peer: F) -> Self
    where
        F: Fn(&Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    {
        self.peer = Some(Box::new(peer));
        self
    }

    /// Whether each request ends with an [`HttpRequestCompleted`](super::HttpRequestCompleted) event (default: yes).
    pub fn completed_event(mut self, enabled: bool) -> Self {
        self.completed_event = enabled;
        self
    }

    /// Adds the envelope's `geo` object from the MaxMind database (`.mmdb`, a City or Country
    /// database such as GeoLite2-City) at `path`, read whole into memory by `build`, so a
    /// lookup never waits on I/O. Private, loopback and other non-public addresses get no
    /// `geo`.
    #[cfg(feature = "geoip")]
    pub fn geoip(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.geoip = Some(path.into());
        self
    }

    /// Checks the settings: the header name, the proxy blocks, the hash key (required by
    /// [`IpPolicy::Hash`]) and the GeoIP database.
    pub fn build(self) -> Result<RequestContextLayer, BuildError> {
        let request_id_header =
            HeaderName::from_bytes(self.request_id_header.as_bytes()).map_err(|_| {
                BuildError::new(
                    "request_id_header",
                    format!(
                        "`{}` is not an HTTP header name (letters, digits and `-`, such as \
                         `x-request-id`)",
                        self.request_id_header
                    ),
                )
            })?;
        let proxies = TrustedProxies::new(&self.trusted_proxies)?.header(self.forwarded_header);
        let hash_key = self
            .hash_key
            .transpose()
            .map_err(|err| BuildError::with_source("hash_key", err.to_string(), err))?;
        if self.ip_policy == IpPolicy::Hash && hash_key.is_none() {
            return Err(BuildError::new(
                "client_ip",
                "IpPolicy::Hash needs a key: add .hash_key(key_id, key) with at least 32 bytes, \
                 or choose IpPolicy::Truncate or IpPolicy::Omit",
            ));
        }
        Ok(RequestContextLayer {
            settings: Arc::new(Settings {
                request_id_header,
                proxies,
                ip_policy: self.ip_policy,
                hash_key,
                route: self.route,
                peer: self.peer,
                completed_event: self.completed_event,
                #[cfg(feature = "geoip")]
                geoip: self
                    .geoip
                    .map(|path| super::geoip::GeoIp::open(&path))
                    .transpose()?,
            }),
        })
    }
}

impl Settings {
    fn route<'a>(&self, parts: &'a Parts) -> Cow<'a, str> {
        let route = match &self.route {
            Some(route) => route(parts),
            None => self.default_route(parts),
        };
        route.unwrap_or(Cow::Borrowed("unmatched"))
    }

    fn default_route<'a>(&self, parts: &'a Parts) -> Option<Cow<'a, str>> {
        #[cfg(feature = "axum")]
        if let Some(path) = parts.extensions.get::<axum::extract::MatchedPath>() {
            return Some(Cow::Borrowed(path.as_str()));
        }
        let grpc = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        let path = parts.uri.path();
        (grpc && is_grpc_method_path(path)).then_some(Cow::Borrowed(path))
    }

    fn peer(&self, extensions: &Extensions) -> Option<IpAddr> {
        if let Some(peer) = &self.peer {
            return peer(extensions);
        }
        #[cfg(feature = "axum")]
        if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
            return Some(info.0.ip());
        }
        extensions.get::<SocketAddr>().map(SocketAddr::ip)
    }

    /// `client_ip` as the policy writes it.
    fn written_ip(&self, ip: IpAddr) -> Option<String> {
        match self.ip_policy {
            IpPolicy::Keep => Some(ip.to_string()),
            IpPolicy::Truncate => Some(IpPolicy::truncate(ip).to_string()),
            IpPolicy::Omit => None,
            IpPolicy::Hash => {
                let ctx = TreatmentContext {
                    hash_key: self.hash_key.as_ref(),
                    hash_key_missing: None,
                };
                // `build` refuses Hash without a key, and an address's Display cannot fail;
                // if either happened, nothing is written (fail closed).
                match treatment::hash(&ip, ctx) {
                    Ok(hashed @ treatment::HashedText::Keyed { .. }) => {
                        Some(hashed.as_str().to_owned())
                    }
                    _ => None,
                }
            }
        }
    }
}

/// Whether `path` has the shape of a gRPC method, `/package.Service/Method`: a client chooses
/// the `content-type`, so any other path (which may hold ids or secrets) is not a route.
fn is_grpc_method_path(path: &str) -> bool {
    let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return false;
    };
    let word = |text: &str, dots: bool| {
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
    };
    path.len() <= 256 && word(service, true) && word(method, false)
}

/// `value` as text, invalid UTF-8 replaced, cut to at most `max` bytes.
fn clipped(value: &HeaderValue, max: usize) -> String {
    let text = String::from_utf8_lossy(value.as_bytes());
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl<S> tower_layer::Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService {
            inner,
            settings: Arc::clone(&self.settings),
            peer: None,
        }
    }
}

/// The service [`RequestContextLayer`] wraps around yours.
#[derive(Clone)]
pub struct RequestContextService<S> {
    inner: S,
    settings: Arc<Settings>,
    peer: Option<IpAddr>,
}

impl<S: fmt::Debug> fmt::Debug for RequestContextService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContextService")
            .field("inner", &self.inner)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<S> RequestContextService<S> {
    /// The socket peer of every request this service gets: for a plain hyper server, which
    /// makes one service per connection and knows the peer when it accepts it.
    pub fn with_peer_addr(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer.ip());
        self
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for RequestContextService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let settings = &*self.settings;
        let (mut parts, body) = request.into_parts();
        let headers = &parts.headers;
        let request_id = RequestId::from_inbound(
            headers
                .get(&settings.request_id_header)
                .map(HeaderValue::as_bytes),
        );
        let parent = headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse);
        let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id());
        let span_id = SpanId::random();
        let route = settings.route(&parts);
        let client = self
            .peer
            .or_else(|| settings.peer(&parts.extensions))
            .map(|peer| settings.proxies.client_ip(peer, headers));
        #[cfg(feature = "geoip")]
        let geo = client.and_then(|ip| settings.geoip.as_ref()?.lookup(ip));
        #[cfg(not(feature = "geoip"))]
        let geo: Option<super::Geo> = None;
        let geo = geo.as_ref();
        let client_ip = client.and_then(|ip| settings.written_ip(ip));
        let user_agent = headers
            .get(USER_AGENT)
            .map(|value| clipped(value, MAX_USER_AGENT_LEN));
        let span = tracing::info_span!(
            target: "event_core::http",
            "http_request",
            request_id = request_id.as_str(),
            trace_id = %trace_id,
            span_id = %span_id,
            user_id = tracing::field::Empty,
            session_id = tracing::field::Empty,
            http.method = parts.method.as_str(),
            http.route = &*route,
            http.status = tracing::field::Empty,
            http.client_ip = client_ip.as_deref(),
            http.user_agent = user_agent.as_deref(),
            http.latency_ms = tracing::field::Empty,
            geo.country_iso_code = geo.and_then(|g| g.country_iso_code.as_deref()),
            geo.region_iso_code = geo.and_then(|g| g.region_iso_code.as_deref()),
            geo.city = geo.and_then(|g| g.city.as_deref()),
            geo.continent_code = geo.and_then(|g| g.continent_code.as_deref()),
            geo.time_zone = geo.and_then(|g| g.time_zone.as_deref()),
        );
        // Accepted ids and UUIDs are always valid header values.
        let echo = HeaderValue::from_str(request_id.as_str())
            .ok()
            .map(|value| (settings.request_id_header.clone(), value));
        let pending = settings.completed_event.then_some(Pending {
            start,
            head: parts.method == Method::HEAD,
        });
        parts.extensions.insert(RequestContext {
            request_id,
            trace_id,
            span_id,
            parent,
            span: span.clone(),
        });
        let request = Request::from_parts(parts, body);
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner: future.instrument(span),
            echo,
            start,
            pending,
        }
    }
}

/// A request whose completed event is still to come.
struct Pending {
    start: Instant,
    /// A HEAD request: its response has no body to send.
    head: bool,
}

pin_project! {
    /// The response future of a [`RequestContextService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        echo: Option<(HeaderName, HeaderValue)>,
        start: Instant,
        pending: Option<Pending>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped before the response: the server gave up on the request (client gone).
            if let Some(pending) = this.pending.take() {
                completion(this.inner.span(), &pending, None, None, None).finish(Outcome::Aborted);
            }
        }
    }
}

fn completion(
    span: &Span,
    pending: &Pending,
    status: Option<StatusCode>,
    head_latency_ms: Option<f64>,
    expected_bytes: Option<u64>,
) -> Completion {
    Completion {
        span: span.clone(),
        start: pending.start,
        status: status.map(|s| s.as_u16()),
        head_latency_ms,
        bytes_sent: 0,
        expected_bytes,
        bodyless: pending.head
            || status.is_some_and(|s| {
                s.is_informational() || s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED
            }),
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = ready!(this.inner.as_mut().poll(cx));
        let span = this.inner.span();
        let pending = this.pending.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                let status = response.status();
                let head_latency_ms = millis(this.start.elapsed());
                span.record("http.status", status.as_u16());
                span.record("http.latency_ms", head_latency_ms);
                if let Some((name, value)) = this.echo.take() {
                    response.headers_mut().insert(name, value);
                }
                let declared = response
                    .headers()
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                let completion = pending.map(|pending| {
                    completion(
                        span,
                        &pending,
                        Some(status),
                        Some(head_latency_ms),
                        declared,
                    )
                });
                Ok(response.map(|body| ResponseBody::new(body, completion)))
            }
            Err(err) => {
                if let Some(pending) = pending {
                    completion(span, &pending, None, None, None).finish(Outcome::Failed);
                }
                Err(err)
            }
        })
    }
}
