//! `EventLayer`: the `tracing_subscriber` layer that takes typed events to the sinks. It joins
//! the application's own registry next to its other layers, claims each `emit!`ted event with
//! the span context of that moment, and hands it to its pipeline, which encodes and delivers
//! it off the caller's thread.

use std::sync::Arc;
use std::time::Duration;

use tracing_core::span::{Attributes, Id, Record as SpanRecord};
use tracing_core::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::diagnostics::{Diagnostics, Report};
use crate::emit::{Claim, Handoff};
use crate::pipeline::{sink_starter, Pipeline, SinkOptions, SinkStarter};
use crate::render::envelope::context::{
    is_request_span, ContextFields, Correlation, SpanContext, MAX_CUSTOM_CONTEXT_FIELDS,
};
use crate::render::envelope::{is_reserved_key, RecordMeta, ResourceKey, SizeHints};
use crate::render::envelope::{EnvelopeConfig, EnvelopeWriter};
use crate::stats::LayerCounters;
use crate::{BuildError, EventGuard, HashKey, Sink};

/// The layer that delivers `emit!`ted events to sinks. Build it with [`EventLayer::builder`]
/// and add it to a `tracing_subscriber` registry beside your other layers.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// # #[derive(Default)] struct Null;
/// # impl event_core::Sink for Null {
/// #     fn name(&self) -> String { "null".into() }
/// #     async fn write_batch(&mut self, _: &event_core::Batch<'_>) -> Result<(), event_core::SinkError> { Ok(()) }
/// # }
///
/// let (layer, guard) = event_core::EventLayer::builder()
///     .service("checkout")
///     .environment("prod")
///     .sink(Null)
///     .build()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// # let _ = subscriber;
/// # drop(guard);
/// # Ok::<(), event_core::BuildError>(())
/// ```
pub struct EventLayer {
    pipeline: Arc<Pipeline>,
    context: ContextFields,
}

impl EventLayer {
    /// Starts configuring a layer.
    pub fn builder() -> EventLayerBuilder {
        EventLayerBuilder::default()
    }

    fn correlation<S>(&self, event: &TracingEvent<'_>, ctx: &Context<'_, S>) -> Correlation
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut correlation = Correlation::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(recorded) = span.extensions().get::<SpanContext>() {
                    correlation.inherit(recorded);
                }
            }
        }
        correlation
    }
}

impl<S> Layer<S> for EventLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut recorded = SpanContext::default();
        let request_span = is_request_span(attrs.metadata());
        recorded.record(&self.context, request_span, |visitor| attrs.record(visitor));
        if recorded.is_empty() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(recorded);
        }
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let request_span = is_request_span(span.metadata());
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanContext>() {
            Some(recorded) => recorded.record(&self.context, request_span, |visitor| {
                values.record(visitor)
            }),
            None => {
                let mut recorded = SpanContext::default();
                recorded.record(&self.context, request_span, |visitor| {
                    values.record(visitor)
                });
                if !recorded.is_empty() {
                    extensions.insert(recorded);
                }
            }
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        // Events from sink threads never re-enter a pipeline, whatever dispatcher they set.
        if crate::pipeline::silence::is_silenced() {
            return;
        }
        Handoff::claim(event.metadata(), |stamp| Claim {
            pipeline: Arc::clone(&self.pipeline),
            meta: RecordMeta {
                timestamp: stamp.timestamp,
                event_id: stamp.event_id,
                callsite: Some(event.metadata()),
                correlation: self.correlation(event, &ctx),
            },
        });
    }
}

/// Configures an [`EventLayer`]; see the README for every option.
pub struct EventLayerBuilder {
    resource: Vec<(ResourceKey, String)>,
    hash_key: Option<Result<HashKey, crate::HashKeyError>>,
    context_fields: Vec<String>,
    /// Context fields declared not sensitive despite a listed word in their name.
    not_sensitive: Vec<String>,
    source: bool,
    shutdown_timeout: Duration,
    max_event_bytes: usize,
    sinks: Vec<SinkStarter>,
    diagnostics: Report,
}

impl Default for EventLayerBuilder {
    fn default() -> Self {
        EventLayerBuilder {
            resource: Vec::new(),
            hash_key: None,
            context_fields: Vec::new(),
            not_sensitive: Vec::new(),
            source: true,
            shutdown_timeout: Duration::from_secs(5),
            max_event_bytes: 1 << 20,
            sinks: Vec::new(),
            diagnostics: Report::Stderr,
        }
    }
}

impl EventLayerBuilder {
    fn resource(mut self, key: ResourceKey, value: impl Into<String>) -> Self {
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value.into()));
        self
    }

    /// Whether the layer tells the application on stderr when a sink starts failing or
    /// recovers, when events are emitted after its guard was dropped, and when a `hash`
    /// field meets it without a key (each once, a failing sink at most once a minute; never
    /// through `tracing`). Default on; [`on_diagnostic`](Self::on_diagnostic) redirects them.
    pub fn diagnostics(mut self, enabled: bool) -> Self {
        self.diagnostics = if enabled { Report::Stderr } else { Report::Off };
        self
    }

    /// Hands the layer's diagnostics (see [`diagnostics`](Self::diagnostics)) to `report`
    /// instead of stderr: to a metrics counter, your own log, a test. It may be called from
    /// the emitting thread or a sink's, while the sink holds its own locks: keep it quick
    /// (hand the diagnostic to a channel if it must do I/O) and never call the layer's
    /// `EventGuard` from it (a `flush` there would wait for the very thread it runs on). A
    /// panic in it is caught.
    pub fn on_diagnostic(
        mut self,
        report: impl Fn(&crate::Diagnostic) + Send + Sync + 'static,
    ) -> Self {
        self.diagnostics = Report::Callback(Arc::new(report));
        self
    }

    /// The envelope's `service`.
    pub fn service(self, name: impl Into<String>) -> Self {
        self.resource(ResourceKey::Service, name)
    }
    /// The envelope's `service_version`.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        self.resource(ResourceKey::ServiceVersion, version)
    }
    /// The envelope's `environment`.
    pub fn environment(self, environment: impl Into<String>) -> Self {
        self.resource(ResourceKey::Environment, environment)
    }
    /// The envelope's `region`.
    pub fn region(self, region: impl Into<String>) -> Self {
        self.resource(ResourceKey::Region, region)
    }
    /// The envelope's `host`.
    pub fn host(self, host: impl Into<String>) -> Self {
        self.resource(ResourceKey::Host, host)
    }

    /// The key for `#[event(hash)]` fields, at least 32 bytes (checked by `build`). Without
    /// one, hashed fields are written `"[REDACTED]"` and counted in `hash_key_missing`.
    pub fn hash_key(mut self, key_id: &str, key: impl AsRef<[u8]>) -> Self {
        self.hash_key = Some(HashKey::new(key_id, key.as_ref()));
        self
    }

    /// Copies the span field `name` to the envelope's top level, like `request_id`. Its value
    /// is written as the span holds it, with no treatment, so a name that holds a secret or
    /// PII word (the derive's word lists: `auth_token`, `client_email`) is refused at
    /// [`build`](Self::build); use [`context_field_not_sensitive`](Self::context_field_not_sensitive)
    /// for one that only looks so (`token_budget`).
    pub fn context_field(mut self, name: impl Into<String>) -> Self {
        self.context_fields.push(name.into());
        self
    }

    /// [`context_field`](Self::context_field) for a name that holds a listed word but whose
    /// value is neither a secret nor personal data (`token_budget`, `ip_version`), as
    /// `#[event(not_sensitive)]` does for a field.
    pub fn context_field_not_sensitive(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.not_sensitive.push(name.clone());
        self.context_fields.push(name);
        self
    }

    /// Whether envelopes carry `source: {module, file, line}` of the `emit!` (default: yes).
    pub fn source(mut self, enabled: bool) -> Self {
        self.source = enabled;
        self
    }

    /// The largest envelope written, in bytes (default 1 MiB); larger events are dropped with
    /// reason `too_large` and counted.
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// How long dropping the guard waits for sinks to finish (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Adds a sink with the default queue ([`SinkOptions::new`]).
    pub fn sink<S: Sink>(self, sink: S) -> Self {
        self.sink_with(sink, SinkOptions::default())
    }

    /// Adds a sink with its own queue bound and overflow policy.
    pub fn sink_with<S: Sink>(mut self, sink: S, options: SinkOptions) -> Self {
        self.sinks.push(sink_starter(sink, options));
        self
    }

    /// Checks the configuration and starts one worker thread per sink.
    pub fn build(self) -> Result<(EventLayer, EventGuard), BuildError> {
        let hash_key = self
            .hash_key
            .transpose()
            .map_err(|err| BuildError::with_source("hash_key", err.to_string(), err))?;
        for name in &self.context_fields {
            let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !snake {
                return Err(BuildError::new(
                    format!("context_field({name:?})"),
                    "a context field is a snake_case span field name, such as \"tenant_id\"",
                ));
            }
        }
        for name in &self.context_fields {
            use crate::model::sensitive_words::{find_word_in_snake, PII_WORDS, SECRET_WORDS};
            if self.not_sensitive.contains(name) {
                continue;
            }
            let found = find_word_in_snake(name, SECRET_WORDS)
                .map(|word| (word, "a secret"))
                .or_else(|| {
                    find_word_in_snake(name, PII_WORDS).map(|word| (word, "personal data"))
                });
            if let Some((word, what)) = found {
                return Err(BuildError::new(
                    format!("context_field({name:?})"),
                    format!(
                        "`{name}` looks like {what} (it holds the word `{word}`), and a context \
                         field is copied into every envelope untreated: leave it out, or put it \
                         in an event field with a treatment; if it is neither a secret nor \
                         personal data, use `.context_field_not_sensitive({name:?})`"
                    ),
                ));
            }
        }
        for name in &self.context_fields {
            if is_reserved_key(name) {
                return Err(BuildError::new(
                    format!("context_field({name:?})"),
                    format!(
                        "`{name}` is a key the envelope already has; name the span field \
                         something else, such as \"tenant_id\""
                    ),
                ));
            }
        }
        let context = ContextFields::new(&self.context_fields);
        if context.custom_count() > MAX_CUSTOM_CONTEXT_FIELDS {
            return Err(BuildError::new(
                "context_field",
                format!(
                    "at most {MAX_CUSTOM_CONTEXT_FIELDS} context fields can be added beside the \
                     five standard ones"
                ),
            ));
        }
        if self.sinks.is_empty() {
            return Err(BuildError::new(
                "sink",
                "the layer has no sink: add one with .sink(..), such as event_sinks::StdoutSink::new()",
            ));
        }
        let writer = EnvelopeWriter {
            config: EnvelopeConfig::new(self.resource, context.clone(), self.source),
            hash_key,
            counters: Arc::new(LayerCounters::default()),
            max_event_bytes: self.max_event_bytes,
            size_hints: SizeHints::default(),
            diagnostics: Arc::new(Diagnostics::new(self.diagnostics)),
        };
        let (pipeline, workers) = Pipeline::start(writer, self.sinks)?;
        let pipeline = Arc::new(pipeline);
        let layer = EventLayer {
            pipeline: Arc::clone(&pipeline),
            context,
        };
        Ok((
            layer,
            EventGuard::new(pipeline, workers, self.shutdown_timeout),
        ))
    }
}
