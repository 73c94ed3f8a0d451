//! HTTP request context, the parts that read a request: its id, its trace context and its
//! client's address. Cargo feature `http` of `event-core` (off by default).

mod client_ip;
mod request_id;
mod traceparent;

pub use client_ip::{normalize, TrustedProxies};
pub use request_id::{RequestId, MAX_REQUEST_ID_LEN};
pub use traceparent::{SpanId, TraceId, TraceParent};
