//! HTTP request context: a `tower` layer that gives each request an id and a trace context,
//! which reach every event emitted while it is handled, and the parts that read a request
//! (its id, its `traceparent`, its client's address). Cargo feature `http` of `event-core`
//! (off by default).

mod client_ip;
mod completed;
#[cfg(feature = "geoip")]
mod geoip;
mod layer;
mod request_context;
mod request_id;
mod traceparent;

pub use client_ip::{normalize, ForwardedHeader, IpPolicy, TrustedProxies};
pub use completed::{HttpRequestCompleted, Outcome, ResponseBody};
pub use layer::{
    RequestContextLayer, RequestContextLayerBuilder, RequestContextService, ResponseFuture,
    MAX_USER_AGENT_LEN,
};
pub use request_context::RequestContext;
pub use request_id::{RequestId, MAX_REQUEST_ID_LEN};
pub use traceparent::{SpanId, TraceId, TraceParent};

/// What the envelope's `geo` object carries; each member is absent when the database lacks
/// it (a Country database has no city, region or time zone).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(feature = "geoip"), allow(dead_code))]
pub(crate) struct Geo {
    /// The ISO 3166-1 code of the country, such as `GB`.
    pub(crate) country_iso_code: Option<String>,
    /// The ISO 3166-2 code of the region (the first, largest subdivision), such as `GB-ENG`.
    pub(crate) region_iso_code: Option<String>,
    /// The English name of the city, such as `London`.
    pub(crate) city: Option<String>,
    /// The two-letter code of the continent, such as `EU`.
    pub(crate) continent_code: Option<String>,
    /// The IANA time zone, such as `Europe/London`.
    pub(crate) time_zone: Option<String>,
}
