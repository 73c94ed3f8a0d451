//! How the HTTP sink reads an answer: what is retried, how long it waits.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};

/// How the HTTP sink retries a batch.
///
/// A batch is tried up to `max_attempts` times (each attempt tries every endpoint in order,
/// starting with the one in use). Between attempts it waits a random time between zero and
/// `initial_backoff × 2^(attempt − 1)`, at most `max_backoff` ("full jitter"), or what the
/// server's `Retry-After` asks, at most `max_retry_after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per batch before it is judged (poison, or every endpoint down). At least 1.
    pub max_attempts: u32,
    /// The first backoff's upper bound.
    pub initial_backoff: Duration,
    /// The largest backoff; also how long a spool replay waits after every endpoint failed.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
}

impl Default for Retry {
    /// 5 attempts, backoff from 100 ms up to 10 s, `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Retry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1), with full jitter, or what the
    /// server asked (capped).
    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_retry_after);
        }
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.max_backoff);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// What one response (or failure to get one) means for the batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// 2xx whose OTLP answer says it rejected `rejected` records (which ones, it does not
    /// say), or warned with `message`. Never retried.
    Partial {
        status: u16,
        rejected: u64,
        message: String,
    },
    /// 413: too large; split it and send the halves.
    Split,
    /// Try again later (408, 429, 500, 502, 503, 504, no connection, timeout).
    /// `answered` says whether the answer may be about this batch: a 500, from an endpoint
    /// that is up but failed on it. Only such answers can make a batch poison; 408, 429,
    /// 502, 503 and 504 say the endpoint (or what is behind it) is overloaded or away, which
    /// says nothing about the batch, like no answer at all.
    Retry {
        answered: bool,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// 3xx: the endpoint wants the batch elsewhere. The client follows no redirect: a 301,
    /// 302 or 303 would turn the POST into a body-less GET whose 2xx counts the events
    /// delivered, a 307 or 308 would send them and the configured headers to an origin the
    /// user never configured. So never retried; the batch is dead-lettered. `reason` names the
    /// `Location` (see [`shown_location`]); the answer's body is not kept, as it often repeats
    /// the `Location` verbatim, credentials and all.
    Redirect { status: u16, reason: String },
    /// Any other status: never retried; the batch is dead-lettered. `answer` is the start of
    /// the server's answer, for the dead-letter file only.
    Permanent {
        status: u16,
        reason: String,
        answer: String,
    },
}

/// Classifies a status and its headers, from a request to `url`.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    url: &Url,
    now: SystemTime,
) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        300..=399 => redirect(status, headers, url),
        413 => Verdict::Split,
        408 | 429 | 500 | 502 | 503 | 504 => Verdict::Retry {
            answered: status == StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: retry_after(headers, now),
            reason: describe(status),
        },
        code => Verdict::Permanent {
            status: code,
            reason: describe(status),
            answer: String::new(),
        },
    }
}

/// A 3xx answer to a request to `url`.
fn redirect(status: StatusCode, headers: &HeaderMap, url: &Url) -> Verdict {
    let target = match headers.get(LOCATION) {
        None => "without a Location".to_owned(),
        Some(value) => match shown_location(value, url) {
            Some(location) => format!("with Location: {location}"),
            None => "with a Location that is not an http(s) URL".to_owned(),
        },
    };
    Verdict::Redirect {
        status: status.as_u16(),
        reason: format!(
            "{} {target}; redirects are never followed: configure the final URL",
            describe(status)
        ),
    }
}

/// The most bytes of a `Location` shown.
const LOCATION_MAX: usize = 512;

/// A `Location` as shown in errors and the dead-letter file: resolved against the request's
/// `url` (so it can be configured as is), without userinfo (a password), query or fragment
/// (tokens, or the endpoint's own query echoed back, secrets included), at most
/// `LOCATION_MAX` bytes. `None` unless it is an http(s) URL.
fn shown_location(value: &HeaderValue, url: &Url) -> Option<String> {
    let text = String::from_utf8_lossy(value.as_bytes());
    let mut location = url.join(text.trim()).ok()?;
    if !matches!(location.scheme(), "http" | "https") {
        return None;
    }
    // Both succeed for http(s) URLs, which always have a host.
    let _ = location.set_username("");
    let _ = location.set_password(None);
    let had_query = location.query().is_some();
    location.set_query(None);
    location.set_fragment(None);
    let mut shown = String::from(location);
    if shown.len() > LOCATION_MAX {
        let mut end = LOCATION_MAX;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push('…');
    }
    if had_query {
        shown.push_str(" (query not shown)");
    }
    Some(shown)
}

/// Classifies a request that got no status. A TLS failure is no answer about the batch
/// either, and the next endpoint may well be fine: retried like a refused connection, but
/// named as what it is, with the likely fix.
pub(crate) fn classify_error(err: &reqwest::Error) -> Verdict {
    let reason = if let Some(tls) = tls_failure(err) {
        let hint = match tls {
            rustls::Error::InvalidCertificate(_) => {
                " (the server's certificate is not trusted: add its CA with \
                 `.ca_certificate_pem(..)`, or check the host name)"
            }
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                " (does the endpoint speak plain HTTP? then its URL starts with http://)"
            }
            _ => "",
        };
        format!("TLS handshake failed: {tls}{hint}")
    } else {
        let what = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        // reqwest's error text names the URL; ours are shown without credentials elsewhere,
        // so keep only the kind of failure and its innermost cause.
        format!("{what}: {}", innermost(err))
    };
    Verdict::Retry {
        answered: false,
        retry_after: None,
        reason,
    }
}

/// The TLS error behind `err`, if it is one. rustls' errors reach here inside `io::Error`s
/// (nested), whose `source()` skips the error each wraps, so each is looked into.
fn tls_failure<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}

fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn describe(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// `Retry-After` as delta seconds or an HTTP date; `None` when absent or unreadable (the
/// backoff applies then). Seconds too many for a `u64` are as long as can be (the caller caps
/// them at `max_retry_after`), a date in the past is now.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    fn url() -> Url {
        Url::parse("https://ingest.example:8443/v1/logs?password=p-secret").unwrap()
    }

    fn classify(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Verdict {
        super::classify(status, headers, &url(), now)
    }

    #[test]
    fn statuses_are_classified_as_documented() {
        let now = SystemTime::now();
        let empty = HeaderMap::new();
        for code in [200, 201, 202, 204] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify(status, &empty, now), Verdict::Delivered, "{code}");
        }
        for code in [300, 301, 302, 303, 304, 307, 308] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(status, &empty, now), Verdict::Redirect { status, .. } if status == code),
                "{code}"
            );
        }
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                // Only a 500 may be about the batch (poison evidence).
                matches!(
                    classify(status, &empty, now),
                    Verdict::Retry { answered, .. } if answered == (code == 500)
                ),
                "{code}"
            );
        }
        assert_eq!(
            classify(StatusCode::PAYLOAD_TOO_LARGE, &empty, now),
            Verdict::Split
        );
        for code in [400, 401, 403, 404, 405, 409, 422, 501, 505] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(status, &empty, now), Verdict::Permanent { status, .. } if status == code),
                "{code}"
            );
        }
    }

    fn redirect_reason(location: &[u8]) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, HeaderValue::from_bytes(location).unwrap());
        match classify(StatusCode::MOVED_PERMANENTLY, &headers, SystemTime::now()) {
            Verdict::Redirect { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_redirect_names_its_location_without_secrets() {
        assert_eq!(
            redirect_reason(b"https://new.example/v2/logs"),
            "HTTP 301 Moved Permanently with Location: https://new.example/v2/logs; \
             redirects are never followed: configure the final URL"
        );
        let reason = match classify(
            StatusCode::TEMPORARY_REDIRECT,
            &HeaderMap::new(),
            SystemTime::now(),
        ) {
            Verdict::Redirect { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert!(
            reason.starts_with("HTTP 307 Temporary Redirect without a Location;"),
            "{reason}"
        );
        // Userinfo, query and fragment never shown; relative references resolved.
        for (location, shown) in [
            (
                &b"https://user:p-secret@new.example/v2?token=t-secret#f-secret"[..],
                "https://new.example/v2 (query not shown)",
            ),
            (
                b"//u-secret:p-secret@other.example/x",
                "https://other.example/x",
            ),
            (
                b"http:u-secret:p-secret@other.example/x",
                "http://other.example/x",
            ),
            (
                b"/v2/logs?password=p-secret",
                "https://ingest.example:8443/v2/logs (query not shown)",
            ),
            (
                b"HTTP://u-secret@Other.Example:80/x",
                "http://other.example/x",
            ),
        ] {
            let reason = redirect_reason(location);
            assert!(
                reason.contains(&format!("with Location: {shown};")),
                "{location:?}: {reason}"
            );
            assert!(!reason.contains("-secret"), "{reason}");
        }
        for location in [&b"mailto:p-secret@example.com"[..], b"http://[::1"] {
            let reason = redirect_reason(location);
            assert!(
                reason.contains("with a Location that is not an http(s) URL;"),
                "{reason}"
            );
            assert!(!reason.contains("-secret"), "{reason}");
        }
        // Clipped.
        let long = format!("https://new.example/{}", "a".repeat(4000));
        let reason = redirect_reason(long.as_bytes());
        let shown = reason
            .split_once("Location: ")
            .unwrap()
            .1
            .split_once(';')
            .unwrap()
            .0;
        assert_eq!(shown.len(), LOCATION_MAX + '…'.len_utf8(), "{shown}");
        assert!(shown.ends_with('…'));
        // Bytes that are not UTF-8 (allowed in a header) do not break it.
        let reason = redirect_reason(b"https://new.example/caf\xe9");
        assert!(
            reason.contains("https://new.example/caf%EF%BF%BD;"),
            "{reason}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&later), now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&headers(&earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("0"), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("99999999999999999999999999"), now),
            Some(Duration::MAX)
        );
        for garbage in [
            "soon",
            "-1",
            "+5",
            "1.5",
            "",
            "7 seconds",
            "Fri, 99 Foo 2026",
        ] {
            assert_eq!(retry_after(&headers(garbage), now), None, "{garbage:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_is_jittered_below_an_exponential_ceiling_and_retry_after_is_capped() {
        let retry = Retry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(2),
        };
        for _ in 0..200 {
            assert!(retry.backoff(1, None) <= Duration::from_millis(100));
            assert!(retry.backoff(2, None) <= Duration::from_millis(200));
            assert!(retry.backoff(9, None) <= Duration::from_millis(350));
        }
        // Full jitter: not a constant.
        let waits: std::collections::BTreeSet<_> =
            (0..50).map(|_| retry.backoff(3, None)).collect();
        assert!(waits.len() > 1);
        assert_eq!(
            retry.backoff(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry.backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry.backoff(1, Some(Duration::MAX)),
            Duration::from_secs(2)
        );
    }
}
