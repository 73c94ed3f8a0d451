//! HTTP request context: a `tower` layer that gives each request an id and a trace context,
//! which reach every event emitted while it is handled, and the parts that read a request
//! (its id, its `traceparent`, its client's address). Cargo feature `http` of `event-core`
//! (off by default).

mod client_ip;
mod completed;
#[cfg(feature = "geoip")]
mod geoip;
mod layer;
mod request_id;
mod traceparent;

pub use client_ip::{normalize, ForwardedHeader, IpPolicy, TrustedProxies};
pub use completed::{HttpRequestCompleted, Outcome, ResponseBody};
pub use layer::{
    RequestContext, RequestContextLayer, RequestContextLayerBuilder, RequestContextService,
    ResponseFuture, MAX_USER_AGENT_LEN,
};
pub use request_id::{RequestId, MAX_REQUEST_ID_LEN};
pub use traceparent::{SpanId, TraceId, TraceParent};
