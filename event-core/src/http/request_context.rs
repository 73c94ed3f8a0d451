//! `RequestContext`: what the request context layer knows of a request, kept in its
//! extensions, and where handlers set the user's identity for the rest of the request.

use tracing::Span;

use super::{RequestId, SpanId, TraceId, TraceParent};

/// What the layer knows of a request, in its extensions: its ids, and the setters of the
/// user's identity for the rest of the request. With the `axum` feature it is an extractor.
///
/// ```
/// use event_core::http::RequestContext;
///
/// // An axum handler (feature `axum`); elsewhere: `request.extensions().get::<RequestContext>()`.
/// async fn login(context: RequestContext) -> &'static str {
///     context.set_user_id("u-42"); // every later event of this request carries it
///     "welcome"
/// }
/// # let _ = login;
/// ```
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub(super) request_id: RequestId,
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) parent: Option<TraceParent>,
    pub(super) span: Span,
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

    /// The request's `http_request` span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Sets the envelope's `user_id` for every event emitted later in this request, the
    /// `http_request_completed` event included. A payload field `user_id` still wins.
    pub fn set_user_id(&self, user_id: &str) {
        self.span.record("user_id", user_id);
    }

    /// Sets the envelope's `session_id` for every event emitted later in this request.
    pub fn set_session_id(&self, session_id: &str) {
        self.span.record("session_id", session_id);
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestContext {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<RequestContext>().cloned().ok_or((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "RequestContext is missing: add event_core::http::RequestContextLayer to the router \
             with `.layer(..)`",
        ))
    }
}
