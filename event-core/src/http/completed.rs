//! The end of a request: the response body that notices it, and the `http_request_completed`
//! event it emits.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::emit;

/// One HTTP request handled: emitted by the request context layer once the response body
/// has been sent, or the client went away first, inside the request's span, so it carries
/// the request's `request_id`, `trace_id`, `span_id`, `user_id`, `session_id` and `http`
/// object like every other event of the request (`http.client_ip` is personal data).
///
/// Its level follows the status: ERROR for 5xx, WARN for 4xx, INFO otherwise; ERROR when the
/// service or the body failed (outcome `failed`), WARN when the client went away before the
/// response head. The layer's `.completed_event(false)` turns it off.
#[derive(crate::Event)]
#[event(kind = "system_event", crate = "crate")]
pub struct HttpRequestCompleted {
    /// How the request ended.
    pub outcome: Outcome,
    /// The response status; absent when there was no response.
    pub status: Option<u16>,
    /// Milliseconds from the request's arrival to its response head; absent without one.
    pub head_latency_ms: Option<f64>,
    /// Milliseconds from the request's arrival to the end of its response body (or to the
    /// moment it was abandoned).
    pub latency_ms: f64,
    /// Bytes of response body handed to the server, before any transfer encoding.
    pub bytes_sent: u64,
}

/// How an HTTP request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The whole response body was sent.
    Completed,
    /// The client went away before the end of the response (the server dropped the response
    /// future or its body early).
    Aborted,
    /// The service returned an error instead of a response, or the body failed mid-way.
    Failed,
}

/// Milliseconds, to the microsecond.
pub(crate) fn millis(elapsed: Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

/// What the completed event needs, held until the request ends.
pub(crate) struct Completion {
    pub(crate) span: Span,
    pub(crate) start: Instant,
    pub(crate) status: Option<u16>,
    pub(crate) head_latency_ms: Option<f64>,
    pub(crate) bytes_sent: u64,
    /// The body's length when the response declares it (`Content-Length`, or an exact size
    /// hint): a server stops polling once it has sent that many bytes.
    pub(crate) expected_bytes: Option<u64>,
    /// A response that has no body to send whatever its body says (HEAD, 204, 304, 1xx):
    /// dropping it unread is completing it.
    pub(crate) bodyless: bool,
}

impl Completion {
    fn all_sent(&self) -> bool {
        self.expected_bytes
            .is_some_and(|expected| self.bytes_sent >= expected)
    }

    pub(crate) fn finish(self, outcome: Outcome) {
        let event = HttpRequestCompleted {
            outcome,
            status: self.status,
            head_latency_ms: self.head_latency_ms,
            latency_ms: millis(self.start.elapsed()),
            bytes_sent: self.bytes_sent,
        };
        let _entered = self.span.enter();
        match (outcome, self.status) {
            (Outcome::Failed, _) | (_, Some(500..)) => emit!(level = tracing::Level::ERROR, event),
            (_, Some(400..=499) | None) => emit!(level = tracing::Level::WARN, event),
            _ => emit!(level = tracing::Level::INFO, event),
        }
    }
}

pin_project! {
    /// The response body of a [`RequestContextService`](super::RequestContextService): yours,
    /// unchanged, watched for its end to emit [`HttpRequestCompleted`].
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        completion: Option<Completion>,
        // `B::is_end_stream`, kept so that dropping needs no bound on `B`.
        is_end_stream: fn(&B) -> bool,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(completion) = this.completion.take() {
                let ended = completion.bodyless
                    || completion.all_sent()
                    || (this.is_end_stream)(&this.inner);
                let outcome = if ended {
                    Outcome::Completed
                } else {
                    Outcome::Aborted
                };
                completion.finish(outcome);
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// `completion.expected_bytes`, when unset, becomes the body's exact size hint.
    pub(crate) fn new(inner: B, mut completion: Option<Completion>) -> Self {
        if let Some(completion) = completion.as_mut() {
            completion.expected_bytes = completion
                .expected_bytes
                .or_else(|| inner.size_hint().exact());
        }
        ResponseBody {
            inner,
            completion,
            is_end_stream: B::is_end_stream,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let outcome = match &frame {
            Some(Ok(frame)) => {
                let mut all_sent = false;
                if let (Some(data), Some(completion)) = (frame.data_ref(), this.completion.as_mut())
                {
                    completion.bytes_sent += data.remaining() as u64;
                    all_sent = completion.all_sent();
                }
                // A server may stop polling once the body says it has ended, or once it has
                // sent the declared length.
                (all_sent || this.inner.is_end_stream()).then_some(Outcome::Completed)
            }
            Some(Err(_)) => Some(Outcome::Failed),
            None => Some(Outcome::Completed),
        };
        if let Some(outcome) = outcome {
            if let Some(completion) = this.completion.take() {
                completion.finish(outcome);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
