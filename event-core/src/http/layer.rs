//! `RequestContextLayer`: a `tower` layer that gives every request an id and a trace context,
//! and every event emitted while handling it the envelope's `request_id`, `trace_id` and
//! `span_id`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::{RequestId, SpanId, TraceId, TraceParent};
use crate::BuildError;

/// Adds the request context to a `tower` service: axum, tonic or a plain hyper service.
///
/// For each request it
/// - takes the request id from `x-request-id` (or the configured header) when it is 1 to 128
///   characters of `A-Z a-z 0-9 . _ : -`, else generates a UUIDv7 (see [`RequestId`]), and
///   echoes it on the response;
/// - continues the caller's trace from a valid W3C `traceparent` (see [`TraceParent`]), or
///   starts a new one, with a new span id for this server span;
/// - runs the inner service inside a `tracing` span `http_request` (level INFO) that carries
///   `request_id`, `trace_id` and `span_id`, which an [`EventLayer`](crate::EventLayer)
///   copies into every event emitted while the request is handled, in nested spans and in
///   tasks spawned with the span (`.instrument(Span::current())`) too;
/// - puts the [`RequestContext`] into the request's extensions, for handlers.
///
/// Generic over request and response bodies; the inner service's error passes through
/// unchanged. No header of the request is copied into an event except an accepted request
/// id and a valid `traceparent`.
///
/// ```
/// use event_core::http::RequestContextLayer;
///
/// let layer = RequestContextLayer::builder().request_id_header("x-correlation-id").build()?;
/// // axum: `Router::new().route(..).layer(layer)`; tower: `ServiceBuilder::new().layer(layer)`.
/// # let _ = layer;
/// # Ok::<(), event_core::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequestContextLayer {
    request_id_header: HeaderName,
}

/// Configures a [`RequestContextLayer`].
#[derive(Debug)]
pub struct RequestContextLayerBuilder {
    request_id_header: String,
}

/// What the layer knows of a request, in its extensions.
#[derive(Clone, Debug)]
pub struct RequestContext {
    request_id: RequestId,
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<TraceParent>,
}

impl RequestContext {
    /// The request's id, as echoed on the response.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The trace the request belongs to: the caller's, or a new one.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This server span's id, new for each request.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The caller's valid `traceparent`, if it sent one.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }
}

impl RequestContextLayer {
    /// A builder with the defaults: request ids from `x-request-id`.
    pub fn builder() -> RequestContextLayerBuilder {
        RequestContextLayerBuilder {
            request_id_header: "x-request-id".into(),
        }
    }
}

impl RequestContextLayerBuilder {
    /// The header the request id is read from and echoed in (default `x-request-id`).
    pub fn request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = name.into();
        self
    }

    /// Checks the settings.
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
        Ok(RequestContextLayer { request_id_header })
    }
}

impl<S> tower_layer::Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService {
            inner,
            request_id_header: self.request_id_header.clone(),
        }
    }
}

/// The service [`RequestContextLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct RequestContextService<S> {
    inner: S,
    request_id_header: HeaderName,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for RequestContextService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let headers = request.headers();
        let request_id = RequestId::from_inbound(
            headers
                .get(&self.request_id_header)
                .map(HeaderValue::as_bytes),
        );
        let parent = headers
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse);
        let context = RequestContext {
            trace_id: parent.map_or_else(TraceId::random, |p| p.trace_id()),
            span_id: SpanId::random(),
            parent,
            request_id,
        };
        let span = tracing::info_span!(
            "http_request",
            request_id = context.request_id.as_str(),
            trace_id = %context.trace_id,
            span_id = %context.span_id,
        );
        // Accepted ids and UUIDs are always valid header values.
        let echo = HeaderValue::from_str(context.request_id.as_str()).ok();
        request.extensions_mut().insert(context);
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner: future.instrument(span),
            echo: echo.map(|value| (self.request_id_header.clone(), value)),
        }
    }
}

pin_project! {
    /// The response future of a [`RequestContextService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        echo: Option<(HeaderName, HeaderValue)>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        if let Some((name, value)) = this.echo.take() {
            response.headers_mut().insert(name, value);
        }
        Poll::Ready(Ok(response))
    }
}
