//! One HTTP request: its body (encoded and gzipped once per chunk), its headers (built once
//! per sink), and what its answer means for the chunk.

use std::time::SystemTime;

use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue, CONTENT_ENCODING, CONTENT_TYPE,
};

use super::super::chunk::Chunk;
use super::super::format::{gzip, HttpFormat};
use super::super::retry::{classify, classify_error, Verdict};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Where requests go.
pub(crate) struct Endpoint {
    /// With the format's query added.
    pub(crate) url: reqwest::Url,
    /// For messages and the dead-letter file: no credentials, no query.
    pub(crate) shown: String,
}

/// Sends requests to the endpoints.
pub(super) struct Service {
    client: reqwest::Client,
    pub(super) endpoints: Vec<Endpoint>,
    format: HttpFormat,
    gzip: bool,
    /// What every request carries: the configured headers (values marked sensitive), then
    /// `Content-Type` and, when gzipping, `Content-Encoding`.
    headers: HeaderMap,
}

/// What every attempt at one chunk sends, built once: its retries and fail-overs share the
/// same bytes.
pub(super) struct Payload {
    /// The chunk's `Idempotency-Key`, or why it cannot be one.
    key: Result<HeaderValue, InvalidHeaderValue>,
    body: Bytes,
}

impl Service {
    pub(super) fn new(
        client: reqwest::Client,
        endpoints: Vec<Endpoint>,
        format: HttpFormat,
        gzip: bool,
        mut headers: HeaderMap,
    ) -> Service {
        // Appended, not inserted, as the request builder did: a configured `Content-Type`
        // is sent beside the format's, not replaced.
        headers.append(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        if gzip {
            headers.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Service {
            client,
            endpoints,
            format,
            gzip,
            headers,
        }
    }

    /// Encodes `chunk` (gzipped if configured) once, for all its attempts.
    pub(super) fn payload(&self, chunk: &Chunk) -> Payload {
        let body = self.format.encode(chunk);
        let body = if self.gzip { gzip(&body) } else { body };
        Payload {
            key: HeaderValue::from_str(&chunk.key),
            body: Bytes::from(body),
        }
    }

    /// One request to endpoint `index`; reads the whole answer.
    pub(super) async fn send(&self, index: usize, payload: &Payload) -> Verdict {
        let endpoint = &self.endpoints[index];
        let key = match &payload.key {
            Ok(key) => key.clone(),
            // A key no header can carry (only a foreign spool record has one): the same
            // verdict as when the request builder refused it.
            Err(err) => {
                return Verdict::Retry {
                    answered: false,
                    retry_after: None,
                    reason: format!("connection failed: {err}"),
                }
            }
        };
        // A request owns its header map, so each one gets a clone of the prebuilt map: that
        // cannot be avoided with reqwest, but it copies no header bytes (names and values are
        // static or reference-counted) and parses nothing again.
        let mut headers = self.headers.clone();
        headers.append(IDEMPOTENCY_KEY, key);
        let mut request = reqwest::Request::new(reqwest::Method::POST, endpoint.url.clone());
        *request.headers_mut() = headers;
        // Shares the chunk's body: no copy per attempt.
        *request.body_mut() = Some(payload.body.clone().into());
        let response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(err) => return classify_error(&err),
        };
        let status = response.status();
        let verdict = classify(status, response.headers(), &endpoint.url, SystemTime::now());
        match response.bytes().await {
            Ok(text) => match verdict {
                Verdict::Delivered => match self.format.partial_success(&text) {
                    Some((rejected, message)) => Verdict::Partial {
                        status: status.as_u16(),
                        rejected,
                        message,
                    },
                    None => Verdict::Delivered,
                },
                Verdict::Permanent { status, reason, .. } => Verdict::Permanent {
                    status,
                    reason,
                    answer: String::from_utf8_lossy(&text[..text.len().min(512)])
                        .trim()
                        .to_owned(),
                },
                verdict => verdict,
            },
            // The answer broke off: whether the endpoint kept the batch is unknown, so send
            // it again (same key, same bytes).
            Err(err) => classify_error(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_built_once_and_attempts_share_the_body() {
        let mut configured = HeaderMap::new();
        configured.append("x-api-key", HeaderValue::from_static("k"));
        let service = Service::new(
            reqwest::Client::new(),
            Vec::new(),
            HttpFormat::Ndjson,
            true,
            configured,
        );
        assert_eq!(service.headers["x-api-key"], "k");
        assert_eq!(
            service.headers[CONTENT_TYPE],
            HttpFormat::Ndjson.content_type()
        );
        assert_eq!(service.headers[CONTENT_ENCODING], "gzip");
        assert_eq!(service.headers.len(), 3);

        let mut chunk = Chunk::new(uuid::Uuid::new_v4());
        chunk.push(br#"{"n":1}"#, true, None);
        let payload = service.payload(&chunk);
        assert_eq!(payload.body, gzip(&chunk.lines));
        assert_eq!(payload.key.as_ref().unwrap(), chunk.key.as_str());
        // A clone per attempt points at the same bytes.
        assert_eq!(payload.body.clone().as_ptr(), payload.body.as_ptr());
    }
}
