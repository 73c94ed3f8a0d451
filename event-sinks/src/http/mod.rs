//! `HttpSink`: batches of events POSTed to an HTTP endpoint, retried with backoff,
//! failed over to fallbacks, spooled to disk while every endpoint is failing, and
//! dead-lettered when an endpoint refuses them for good.

pub(crate) mod chunk;
mod engine;
pub(crate) mod format;
#[cfg(feature = "otlp")]
mod otlp;
mod retry;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use event_core::{Batch, BuildError, Outcomes, Sink, SinkError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::dead_letter::DeadLetter;
use crate::spool::Spool;
use engine::{Config, Endpoint, Engine};
pub use format::HttpFormat;
pub use retry::Retry;

/// Sends events to an HTTP endpoint. Build one with [`HttpSink::builder`].
///
/// The pipeline's worker hands batches to the sink's own thread, which packs them into
/// requests of at most `max_events` events and `max_bytes` bytes (sent after `linger` at the
/// latest), gzipped, up to `concurrency` at a time. What happens to a request:
/// - 2xx: delivered.
/// - 408, 429, 500, 502, 503, 504, no connection, timeout: tried again on the next endpoint
///   at once, then after a backoff with full jitter (or the server's `Retry-After`, capped),
///   up to [`Retry::max_attempts`] rounds. Then, if every endpoint failed, the batch and
///   everything behind it go to the spool (without a spool: the batch is kept and retried,
///   and the pipeline's queue absorbs what comes meanwhile). If the endpoint took other
///   batches meanwhile, the batch is set aside and tried once more behind them; failing
///   again, it is a poison batch and goes to the dead-letter file.
/// - 413: split in halves, each sent on its own.
/// - 3xx: redirects are never followed, as following one would send the events and the
///   configured headers (tokens, API keys) to an origin nobody configured, or turn the POST
///   into a body-less GET whose 2xx would count undelivered events delivered. The batch goes
///   to the dead-letter file with the status and the `Location` (without credentials or
///   query): configure the final URL.
/// - any other status: the batch goes to the dead-letter file with the status and reason.
///
/// Every request carries an `Idempotency-Key`; retries, fail-overs and spool replays of the
/// same events send the same key and the same body bytes.
///
/// Like curl, the sink uses the proxy named by the `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`
/// environment variables unless `NO_PROXY` exempts the host; a proxy for an `http://` endpoint
/// sees the events and the headers in clear.
pub struct HttpSink {
    name: String,
    config: Option<Config>,
    spool: Option<Spool>,
    dead_letter: Option<DeadLetter>,
    engine: Option<Arc<Engine>>,
    thread: Option<JoinHandle<()>>,
    start_error: Option<String>,
    /// Encodes each event into the endpoint's format on arrival, from its typed envelope.
    units: format::UnitEncoder,
}

impl HttpSink {
    /// A builder for a sink that POSTs to `url` (`http://` or `https://`). Requests go to
    /// this URL and the [fallbacks](HttpSinkBuilder::fallback) only: a redirect is never
    /// followed, and its batch is dead-lettered (see [`HttpSink`]).
    pub fn builder(url: impl Into<String>) -> HttpSinkBuilder {
        HttpSinkBuilder {
            name: "http".into(),
            urls: vec![url.into()],
            format: HttpFormat::default(),
            gzip: true,
            headers: Vec::new(),
            max_events: 1000,
            max_bytes: 1 << 20,
            linger: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
            concurrency: 2,
            ca_pem: Vec::new(),
            spool: None,
            dead_letter: None,
            dead_letter_max_bytes: 256 << 20,
            retry: Retry::default(),
            probe_interval: Duration::from_secs(30),
            memory_bytes: 16 << 20,
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// Configures an [`HttpSink`]; [`build`](Self::build) checks everything.
#[derive(Clone)]
pub struct HttpSinkBuilder {
    name: String,
    urls: Vec<String>,
    format: HttpFormat,
    gzip: bool,
    headers: Vec<(String, String)>,
    max_events: usize,
    max_bytes: usize,
    linger: Duration,
    timeout: Duration,
    concurrency: usize,
    ca_pem: Vec<Vec<u8>>,
    spool: Option<(PathBuf, u64)>,
    dead_letter: Option<PathBuf>,
    dead_letter_max_bytes: u64,
    retry: Retry,
    probe_interval: Duration,
    memory_bytes: usize,
    flush_timeout: Duration,
}

impl HttpSinkBuilder {
    /// The sink's name in stats. Default `"http"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// An endpoint to fail over to, after the primary and earlier fallbacks. Fail-over is
    /// ordered and non-preemptive: the sink stays on the endpoint that works, and probes the
    /// primary every [`probe_interval`](Self::probe_interval) to return to it.
    pub fn fallback(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// What the bodies hold. Default [`HttpFormat::Ndjson`].
    pub fn format(mut self, format: HttpFormat) -> Self {
        self.format = format;
        self
    }

    /// Whether bodies are gzipped (`Content-Encoding: gzip`). Default on.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// A header sent with every request. Its value is never shown in `Debug`, stats, errors
    /// or the dead-letter file.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`, never shown.
    pub fn bearer_token(self, token: impl Into<String>) -> Self {
        let value = format!("Bearer {}", token.into());
        self.header(AUTHORIZATION.as_str(), value)
    }

    /// The most events in one request. Default 1000.
    pub fn max_events(mut self, events: usize) -> Self {
        self.max_events = events;
        self
    }

    /// The most bytes of envelopes in one request, before compression. Default 1 MiB. A
    /// single larger event is sent alone.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long the first event of a request waits for more. Default 200 ms.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The timeout of one request, from connecting to reading the whole answer. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many requests may be in flight at once. Default 2. With 1, events arrive in
    /// emission order (except a batch set aside as a suspected poison batch).
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests;
        self
    }

    /// A CA certificate (PEM) trusted beside the built-in web PKI roots, for endpoints with
    /// a private CA.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem.push(pem.into());
        self
    }

    /// A disk spool in `dir` holding at most `max_bytes`: batches go there while every
    /// endpoint fails or memory is full, and are replayed in order once an endpoint answers,
    /// in this run or the next. When it is full, events are dropped with reason
    /// `spool_full`. See the README for what a crash can cost.
    pub fn spool(mut self, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.spool = Some((dir.into(), max_bytes));
        self
    }

    /// A file (NDJSON, created `0600`) for events an endpoint refused for good, one line per
    /// event with the status, reason and the start of the server's answer. Without it, such
    /// events are dropped with reason `sink_error`. A failed append (a full disk) is cut back,
    /// its events counted dropped (`sink_error`), and the file takes the next ones once there
    /// is room again.
    pub fn dead_letter(mut self, path: impl Into<PathBuf>) -> Self {
        self.dead_letter = Some(path.into());
        self
    }

    /// The most bytes the dead-letter file grows to; events that would take it further are
    /// dropped with reason `dead_letter_full`, counted. Default 256 MiB.
    pub fn dead_letter_max_bytes(mut self, max_bytes: u64) -> Self {
        self.dead_letter_max_bytes = max_bytes;
        self
    }

    /// How requests are retried. Default [`Retry::default`].
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// How often the primary is tried again while a fallback is in use. Default 30 s.
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// The most bytes of requests held in memory (waiting or in flight); beyond it, batches
    /// go to the spool, or, without one, the sink waits and the pipeline's queue fills.
    /// Default 16 MiB.
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// The longest a flush (and shutdown) waits for requests in flight, or less when the
    /// application's `EventGuard::flush`/`shutdown` timeout ends sooner. Default 30 s.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Checks the configuration, opens the spool and dead-letter file, and builds the sink.
    /// It starts sending once added to a layer.
    pub fn build(self) -> Result<HttpSink, BuildError> {
        let mut endpoints = Vec::with_capacity(self.urls.len());
        for (index, url) in self.urls.iter().enumerate() {
            let setting = if index == 0 {
                "HttpSink url".to_owned()
            } else {
                format!("HttpSink fallback {index}")
            };
            endpoints.push(endpoint(url, &self.format, &setting)?);
        }
        self.format
            .validate()
            .map_err(|message| BuildError::new("HttpSink format", message))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::new(
                    "HttpSink header",
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                BuildError::new(
                    "HttpSink header",
                    format!("the value of `{name}` has characters a header cannot carry (its value is not shown)"),
                )
            })?;
            value.set_sensitive(true);
            headers.append(header, value);
        }
        for (value, setting, what) in [
            (self.max_events, "HttpSink max_events", "events"),
            (self.max_bytes, "HttpSink max_bytes", "bytes"),
            (self.concurrency, "HttpSink concurrency", "requests"),
            (self.memory_bytes, "HttpSink memory_bytes", "bytes"),
        ] {
            if value == 0 {
                return Err(BuildError::new(
                    setting,
                    format!("must be at least 1 {what}"),
                ));
            }
        }
        if self.dead_letter_max_bytes == 0 {
            return Err(BuildError::new(
                "HttpSink dead_letter_max_bytes",
                "must be at least 1 byte",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(BuildError::new(
                "HttpSink retry.max_attempts",
                "must be at least 1 (1 means no retry)",
            ));
        }
        // Durations beyond a day are mistakes (and would overflow deadlines).
        const DAY: Duration = Duration::from_secs(24 * 3600);
        for (value, setting) in [
            (self.linger, "HttpSink linger"),
            (self.timeout, "HttpSink timeout"),
            (self.probe_interval, "HttpSink probe_interval"),
            (self.flush_timeout, "HttpSink flush_timeout"),
            (self.retry.initial_backoff, "HttpSink retry.initial_backoff"),
            (self.retry.max_backoff, "HttpSink retry.max_backoff"),
            (self.retry.max_retry_after, "HttpSink retry.max_retry_after"),
        ] {
            if value > DAY {
                return Err(BuildError::new(
                    setting,
                    format!("is {value:?}; use at most one day"),
                ));
            }
        }
        if self.timeout.is_zero() {
            return Err(BuildError::new(
                "HttpSink timeout",
                "must be more than zero",
            ));
        }
        let mut client = reqwest::Client::builder()
            // Requests reach the configured endpoints only: never the events, nor the
            // headers' secrets, to an origin a 3xx names.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .tls_built_in_root_certs(true)
            .user_agent(concat!("event-sinks/", env!("CARGO_PKG_VERSION")));
        for pem in &self.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|err| {
                BuildError::with_source(
                    "HttpSink ca_certificate_pem",
                    "is not a PEM certificate",
                    err,
                )
            })?;
            if certificates.is_empty() {
                return Err(BuildError::new(
                    "HttpSink ca_certificate_pem",
                    "holds no PEM certificate (expected a -----BEGIN CERTIFICATE----- block)",
                ));
            }
            for certificate in certificates {
                client = client.add_root_certificate(certificate);
            }
        }
        let client = client.build().map_err(|err| {
            BuildError::with_source("HttpSink", "could not build the HTTP client", err)
        })?;
        let spool = match &self.spool {
            Some((dir, max_bytes)) => Some(Spool::open(dir, *max_bytes).map_err(|err| {
                BuildError::with_source(
                    "HttpSink spool",
                    format!("cannot use `{}` as the spool directory", dir.display()),
                    err,
                )
            })?),
            None => None,
        };
        let dead_letter = match &self.dead_letter {
            Some(path) => Some(DeadLetter::open(path, self.dead_letter_max_bytes).map_err(
                |err| {
                    BuildError::with_source(
                        "HttpSink dead_letter",
                        format!("cannot open `{}` for appending", path.display()),
                        err,
                    )
                },
            )?),
            None => None,
        };
        Ok(HttpSink {
            name: self.name,
            units: format::UnitEncoder::new(self.format.clone()),
            config: Some(Config {
                endpoints,
                format: self.format,
                gzip: self.gzip,
                headers,
                max_events: self.max_events as u64,
                max_bytes: self.max_bytes,
                linger: self.linger,
                concurrency: self.concurrency,
                retry: self.retry,
                probe_interval: self.probe_interval,
                memory_bytes: self.memory_bytes,
                flush_timeout: self.flush_timeout,
                client,
            }),
            spool,
            dead_letter,
            engine: None,
            thread: None,
            start_error: None,
        })
    }
}

/// Parses and checks one endpoint URL.
fn endpoint(url: &str, format: &HttpFormat, setting: &str) -> Result<Endpoint, BuildError> {
    let mut parsed = reqwest::Url::parse(url).map_err(|err| {
        BuildError::new(
            setting,
            format!("is not a URL ({err}); write it as http://host:port/path or https://…"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(BuildError::new(
            setting,
            format!("has scheme `{}`; use http or https", parsed.scheme()),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BuildError::new(
            setting,
            "carries credentials; pass them with .bearer_token() or .header(), whose values are never shown",
        ));
    }
    if let Some(path) = format.default_path().filter(|_| parsed.path() == "/") {
        parsed.set_path(path);
    }
    let shown = shown_url(&parsed);
    if let Some(query) = format.query() {
        let mut pairs = parsed.query_pairs_mut();
        for (key, value) in query {
            pairs.append_pair(key, &value);
        }
    }
    Ok(Endpoint { url: parsed, shown })
}

/// A URL as stats, errors and `Debug` show it: scheme, host, port and path, never its userinfo
/// (a password), query (ClickHouse's `password=`, tokens) or fragment.
fn shown_url(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default()
    ) + url.path()
}

impl Sink for HttpSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn attach(&mut self, outcomes: Outcomes) {
        let Some(config) = self.config.take() else {
            return;
        };
        let engine = Engine::new(config, outcomes, self.spool.take(), self.dead_letter.take());
        let runner = Arc::clone(&engine);
        match event_core::spawn_silenced(format!("event-http-{}", self.name), move || runner.run())
        {
            Ok(thread) => {
                self.engine = Some(engine);
                self.thread = Some(thread);
            }
            Err(err) => self.start_error = Some(format!("could not start its thread: {err}")),
        }
    }

    async fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        match &self.engine {
            Some(engine) => {
                // Before the engine's lock: encoding is the heaviest part of taking a batch.
                let units = batch
                    .iter()
                    .map(|event| self.units.encode(|visitor| event.envelope().visit(visitor)))
                    .collect();
                engine.accept(batch, units);
                Ok(())
            }
            None => Err(SinkError::new(
                self.start_error
                    .clone()
                    .unwrap_or_else(|| "the HTTP sink was not started".into()),
            )),
        }
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let Some(engine) = &self.engine else {
            return Ok(());
        };
        match engine.flush() {
            0 => Ok(()),
            held => Err(SinkError::new(format!(
                "flush timed out with {held} events (or requests) still waiting for an endpoint"
            ))),
        }
    }

    async fn shutdown(&mut self) -> Result<(), SinkError> {
        let Some(engine) = self.engine.take() else {
            return Ok(());
        };
        match engine.shutdown() {
            None => {}
            Some(0) => {
                return Err(SinkError::new(
                    "shutdown timed out while writing to the spool or the dead-letter file",
                ))
            }
            Some(abandoned) => {
                return Err(SinkError::new(format!(
                    "shutdown timed out: {abandoned} requests still in flight were abandoned, \
                     their events counted dropped (shutdown)"
                )))
            }
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Ok(())
    }
}

impl fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSink")
            .field("name", &self.name)
            .field("started", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for HttpSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs may carry secrets in their userinfo or query (ClickHouse's `password=`): show
        // host and path only, as `build` would. Header values never.
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|url| {
                reqwest::Url::parse(url).map_or_else(
                    |_| "(not a URL; not shown)".to_owned(),
                    |parsed| shown_url(&parsed),
                )
            })
            .collect();
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: [REDACTED]"))
            .collect();
        f.debug_struct("HttpSinkBuilder")
            .field("name", &self.name)
            .field("urls", &urls)
            .field("format", &self.format)
            .field("gzip", &self.gzip)
            .field("headers", &headers)
            .field("max_events", &self.max_events)
            .field("max_bytes", &self.max_bytes)
            .field("linger", &self.linger)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("spool", &self.spool)
            .field("dead_letter", &self.dead_letter)
            .field("dead_letter_max_bytes", &self.dead_letter_max_bytes)
            .field("retry", &self.retry)
            .field("probe_interval", &self.probe_interval)
            .field("memory_bytes", &self.memory_bytes)
            .field("flush_timeout", &self.flush_timeout)
            .finish_non_exhaustive()
    }
}
