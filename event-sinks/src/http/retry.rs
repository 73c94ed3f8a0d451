//! How the HTTP sink reads an answer (SPEC §7.4): what is retried, how long it waits.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

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
    /// `answered` says whether the endpoint sent a status (it is up, but refused).
    Retry {
        answered: bool,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// Any other status: never retried; the batch is dead-lettered. `answer` is the start of
    /// the server's answer, for the dead-letter file only.
    Permanent {
        status: u16,
        reason: String,
        answer: String,
    },
}

/// Classifies a status and its headers.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        413 => Verdict::Split,
        408 | 429 | 500 | 502 | 503 | 504 => Verdict::Retry {
            answered: true,
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

/// Classifies a request that got no status.
pub(crate) fn classify_error(err: &reqwest::Error) -> Verdict {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    Verdict::Retry {
        answered: false,
        retry_after: None,
        // reqwest's error text names the URL; ours are shown without credentials elsewhere,
        // so keep only the kind of failure and its innermost cause.
        reason: format!("{what}: {}", innermost(err)),
    }
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

/// `Retry-After` as delta seconds or an HTTP date; `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
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

    #[test]
    fn statuses_are_classified_as_the_spec_says() {
        let now = SystemTime::now();
        let empty = HeaderMap::new();
        for code in [200, 201, 202, 204] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(classify(status, &empty, now), Verdict::Delivered, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(
                    classify(status, &empty, now),
                    Verdict::Retry { answered: true, .. }
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
        assert_eq!(retry_after(&headers("soon"), now), None);
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
    }
}
