//! Where each event goes and what its message carries besides the envelope: the topic (fixed,
//! or a template over envelope fields), the key, and the headers, read from the event's typed
//! envelope (or, for an event read back from the spool, from its stored line).

use std::fmt::Write as _;

use event_core::envelope::{
    EnvelopeHead, EnvelopeObject, EnvelopeVisitor, FieldValue, ResourceKey, StoredEnvelope,
};
use event_core::{BuildError, RenderError};
use rdkafka::message::{Header, OwnedHeaders};

/// The most characters Kafka allows in a topic name.
const MAX_TOPIC: usize = 249;

/// The envelope fields a topic template may name: a bounded set, so a template cannot turn
/// a per-user value into a topic per user.
const PLACEHOLDERS: [&str; 7] = [
    "event_name",
    "event_type",
    "event_version",
    "level",
    "service",
    "environment",
    "region",
];

/// A part of a topic template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(&'static str),
}

/// The topic of every message: fixed, or rendered from a template per event.
#[derive(Clone, Debug)]
pub(super) struct Topic {
    parts: Vec<Part>,
}

impl Topic {
    /// Parses `template`: literal topic characters (`a-z A-Z 0-9 . _ -`) and `{field}`
    /// placeholders from [`PLACEHOLDERS`].
    pub(super) fn parse(template: &str) -> Result<Topic, BuildError> {
        const SETTING: &str = "KafkaSink topic";
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = after.find('}') else {
                    return Err(BuildError::new(
                        SETTING,
                        format!("`{template}` has a `{{` without its `}}`"),
                    ));
                };
                let name = &after[..end];
                let Some(field) = PLACEHOLDERS.iter().find(|p| **p == name) else {
                    return Err(BuildError::new(
                        SETTING,
                        format!(
                            "`{template}` names `{{{name}}}`; a topic template may name {}",
                            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                        ),
                    ));
                };
                parts.push(Part::Field(field));
                rest = &after[end + 1..];
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if let Some(bad) = literal.chars().find(|c| !is_topic_char(*c)) {
                    return Err(BuildError::new(
                        SETTING,
                        format!(
                            "`{template}` has `{bad}`, which a Kafka topic name cannot hold: \
                             use letters, digits, `.`, `_` and `-`"
                        ),
                    ));
                }
                parts.push(Part::Literal(literal.to_owned()));
                rest = &rest[end..];
            }
        }
        let literal_len: usize = parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.len(),
                Part::Field(_) => 0,
            })
            .sum();
        if parts.is_empty() {
            return Err(BuildError::new(SETTING, "is empty; name a topic"));
        }
        if literal_len > MAX_TOPIC {
            return Err(BuildError::new(
                SETTING,
                format!("is longer than the {MAX_TOPIC} characters Kafka allows"),
            ));
        }
        if matches!(parts.as_slice(), [Part::Literal(name)] if name == "." || name == "..") {
            return Err(BuildError::new(
                SETTING,
                "`.` and `..` are not topic names Kafka accepts",
            ));
        }
        Ok(Topic { parts })
    }
}

fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// What routes events: the topic, and the envelope key whose value keys each message.
#[derive(Clone, Debug)]
pub(super) struct Router {
    topic: Topic,
    key_from: Option<KeyFrom>,
}

/// Where a message's key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum KeyFrom {
    /// A top-level envelope key (`user_id`, `request_id`, `event_name`, …).
    Top(String),
    /// A field of the event, inside `metadata` (`metadata.order_id`).
    Field(String),
}

impl KeyFrom {
    fn top(&self) -> Option<&str> {
        match self {
            KeyFrom::Top(key) => Some(key),
            KeyFrom::Field(_) => None,
        }
    }
}

impl Router {
    pub(super) fn new(topic: Topic, key_from: Option<KeyFrom>) -> Router {
        Router { topic, key_from }
    }

    /// Reads the event's route from its typed envelope into `out`.
    pub(super) fn route(
        &self,
        envelope: event_core::envelope::Envelope<'_>,
        out: &mut Route,
    ) -> Result<(), RenderError> {
        out.clear();
        let mut reader = Reader {
            router: self,
            out,
            object: None,
            done: false,
        };
        match envelope.visit(&mut reader) {
            // Stopped on purpose at the first object: everything a route needs came before.
            Err(_) if reader.done => {}
            result => result?,
        }
        reader.out.finish(&self.topic);
        Ok(())
    }

    /// Reads the route of an envelope read back from the spool; `Err` names what is wrong
    /// with a line that is not an envelope.
    pub(super) fn route_line(&self, line: &[u8], out: &mut Route) -> Result<(), String> {
        out.clear();
        let stored = StoredEnvelope::parse(line).map_err(|err| err.to_string())?;
        let mut reader = Reader {
            router: self,
            out,
            object: None,
            done: false,
        };
        match stored.visit(&mut reader) {
            Err(_) if reader.done => {}
            result => result.map_err(|err| err.to_string())?,
        }
        reader.out.finish(&self.topic);
        Ok(())
    }
}

/// One event's topic, key and header values; reused from event to event.
#[derive(Default)]
pub(super) struct Route {
    pub(super) topic: String,
    key: Option<String>,
    name: String,
    kind: String,
    version: String,
    level: &'static str,
    service: String,
    environment: String,
    region: String,
    trace_id: String,
    span_id: String,
}

impl Route {
    fn clear(&mut self) {
        self.topic.clear();
        self.key = None;
        for text in [
            &mut self.name,
            &mut self.kind,
            &mut self.version,
            &mut self.service,
            &mut self.environment,
            &mut self.region,
            &mut self.trace_id,
            &mut self.span_id,
        ] {
            text.clear();
        }
        self.level = "";
    }

    /// Renders the topic from the template and the fields read.
    fn finish(&mut self, topic: &Topic) {
        for part in &topic.parts {
            let value = match part {
                Part::Literal(text) => {
                    self.topic.push_str(text);
                    continue;
                }
                Part::Field("event_name") => &self.name,
                Part::Field("event_type") => &self.kind,
                Part::Field("event_version") => &self.version,
                Part::Field("level") => self.level,
                Part::Field("service") => &self.service,
                Part::Field("environment") => &self.environment,
                Part::Field(_) => &self.region,
            };
            if value.is_empty() {
                // A resource field the layer does not set.
                self.topic.push_str("unknown");
            }
            // Any character a topic cannot hold (a service named with a space) becomes `_`.
            self.topic.extend(
                value
                    .chars()
                    .map(|c| if is_topic_char(c) { c } else { '_' }),
            );
        }
    }

    /// The message key, if the event has a value for it.
    pub(super) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The message headers: `event_name`, `event_type`, `event_version`, `content-type`, and
    /// a W3C `traceparent` when the event carries a trace id and span id.
    pub(super) fn headers(&self) -> OwnedHeaders {
        let mut headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header {
                key: "event_name",
                value: Some(self.name.as_str()),
            })
            .insert(Header {
                key: "event_type",
                value: Some(self.kind.as_str()),
            })
            .insert(Header {
                key: "event_version",
                value: Some(self.version.as_str()),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
        if is_hex(&self.trace_id, 32) && is_hex(&self.span_id, 16) {
            // Sampled: the event was recorded, so the trace it belongs to was too.
            let traceparent = format!("00-{}-{}-01", self.trace_id, self.span_id);
            headers = headers.insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_str()),
            });
        }
        headers
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text.bytes().all(|b| b.is_ascii_hexdigit())
        && text.bytes().any(|b| b != b'0')
}

/// Reads what the route needs while the envelope is walked: the head, the resource fields,
/// and top-level values. The objects (`http`, `geo`, `source`, `metadata`) come last and hold
/// nothing a route needs, so the walk is stopped at the first value inside one: the event's
/// own fields are not treated (hashed, masked) a second time for nothing.
struct Reader<'r> {
    router: &'r Router,
    out: &'r mut Route,
    /// The object being walked; `None` at the top level.
    object: Option<EnvelopeObject>,
    /// Everything needed was read; the error that stops the walk is not a failure.
    done: bool,
}

impl EnvelopeVisitor for Reader<'_> {
    fn head(&mut self, head: &EnvelopeHead<'_>) {
        self.out.name.push_str(head.name);
        self.out.kind.push_str(head.kind);
        let _ = write!(self.out.version, "{}", head.version);
        self.out.level = head.level.as_str();
        self.out.key = match self.top_key() {
            Some("event_name") => Some(head.name.to_owned()),
            Some("event_type") => Some(head.kind.to_owned()),
            Some("event_version") => Some(self.out.version.clone()),
            Some("level") => Some(head.level.as_str().to_owned()),
            Some("event_id") => Some(head.event_id.to_string()),
            _ => None,
        };
    }

    fn resource(&mut self, key: ResourceKey, value: &str) {
        match key {
            ResourceKey::Service => self.out.service.push_str(value),
            ResourceKey::Environment => self.out.environment.push_str(value),
            ResourceKey::Region => self.out.region.push_str(value),
            _ => {}
        }
        if self.top_key() == Some(key.as_str()) {
            self.out.key = Some(value.to_owned());
        }
    }

    fn value(&mut self, key: &str, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
        let stop = || Err(serde::ser::Error::custom("the route is complete"));
        if let Some(object) = self.object {
            let Some(KeyFrom::Field(field)) = &self.router.key_from else {
                self.done = true;
                return stop();
            };
            if object != EnvelopeObject::Metadata {
                return Ok(());
            }
            if key == field {
                self.set_key(value)?;
                self.done = true;
                return stop();
            }
            return Ok(());
        }
        match key {
            "trace_id" => self.out.trace_id.push_str(value.as_str().unwrap_or("")),
            "span_id" => self.out.span_id.push_str(value.as_str().unwrap_or("")),
            _ => {}
        }
        if self.top_key() == Some(key) {
            self.set_key(value)?;
        }
        Ok(())
    }

    fn begin_object(&mut self, object: EnvelopeObject) {
        self.object = Some(object);
    }

    fn end_object(&mut self) {
        self.object = None;
    }
}

impl Reader<'_> {
    fn top_key(&self) -> Option<&str> {
        self.router.key_from.as_ref().and_then(KeyFrom::top)
    }

    /// A string as it is (not as JSON, quoted); a number or a bool as its JSON text; `null`
    /// as no key.
    fn set_key(&mut self, value: FieldValue<'_>) -> Result<(), serde_json::Error> {
        self.out.key = match value.as_str() {
            Some(text) => Some(text.to_owned()),
            None => match value.to_json_value()? {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(text),
                other => Some(other.to_string()),
            },
        };
        Ok(())
    }
}

/// Reads `.key_from(..)`: a top-level envelope key, or `metadata.<field>` for a field of the
/// event.
pub(super) fn key_from(key: &str) -> Result<KeyFrom, BuildError> {
    const SETTING: &str = "KafkaSink key_from";
    if let Some(field) = key.strip_prefix("metadata.") {
        if field.is_empty() {
            return Err(BuildError::new(
                SETTING,
                "`metadata.` names no field; write `metadata.order_id`",
            ));
        }
        if event_core::ENVELOPE_FIELD_KEYS.contains(&field) {
            return Err(BuildError::new(
                SETTING,
                format!(
                    "`{field}` is written at the envelope's top level, not inside `metadata`; \
                     write `key_from(\"{field}\")`"
                ),
            ));
        }
        return Ok(KeyFrom::Field(field.to_owned()));
    }
    if key == "timestamp" {
        return Err(BuildError::new(
            SETTING,
            "`timestamp` differs for almost every event, so it keeps nothing together; name \
             the key whose events must stay in order, such as `user_id`",
        ));
    }
    if key.is_empty() {
        return Err(BuildError::new(
            SETTING,
            "is empty; name a top-level envelope key such as `user_id`, or a field of the event \
             as `metadata.order_id`",
        ));
    }
    if EnvelopeObject::from_key(key).is_some() || key.contains('.') {
        return Err(BuildError::new(
            SETTING,
            format!(
                "`{key}` is not a single value: name a top-level envelope key (`user_id`, \
                 `request_id`) or a field of the event as `metadata.<field>`"
            ),
        ));
    }
    Ok(KeyFrom::Top(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_or_say_what_is_wrong() {
        assert_eq!(
            Topic::parse("events").unwrap().parts,
            [Part::Literal("events".into())]
        );
        assert_eq!(
            Topic::parse("events.{event_type}.v{event_version}")
                .unwrap()
                .parts,
            [
                Part::Literal("events.".into()),
                Part::Field("event_type"),
                Part::Literal(".v".into()),
                Part::Field("event_version"),
            ]
        );
        let err = |template: &str| Topic::parse(template).unwrap_err().to_string();
        assert!(err("events.{user_id}").contains("may name {event_name}"));
        assert!(err("events.{event_type").contains("without its `}`"));
        assert!(err("my events").contains("has ` `"));
        assert!(err("").contains("empty"));
        assert!(err(&"e".repeat(250)).contains("249"));
        assert!(err("..").contains("not topic names"));
    }

    #[test]
    fn a_topic_renders_from_the_fields_with_bad_characters_replaced() {
        let topic = Topic::parse("{service}.{event_type}.{region}").unwrap();
        let mut route = Route {
            service: "my shop".into(),
            kind: "security".into(),
            ..Route::default()
        };
        route.finish(&topic);
        assert_eq!(route.topic, "my_shop.security.unknown");
    }

    #[test]
    fn traceparent_needs_a_valid_trace_and_span_id() {
        assert!(is_hex("4bf92f3577b34da6a3ce929d0e0e4736", 32));
        assert!(!is_hex("00000000000000000000000000000000", 32));
        assert!(!is_hex("4bf92f3577b34da6a3ce929d0e0e473", 32));
        assert!(!is_hex("zbf92f3577b34da6a3ce929d0e0e4736", 32));
        assert_eq!(key_from("user_id").unwrap(), KeyFrom::Top("user_id".into()));
        assert_eq!(
            key_from("metadata.order_id").unwrap(),
            KeyFrom::Field("order_id".into())
        );
        for top in [
            "event_name",
            "event_type",
            "event_version",
            "level",
            "event_id",
            "service",
        ] {
            assert_eq!(key_from(top).unwrap(), KeyFrom::Top(top.into()));
        }
        for bad in [
            "metadata",
            "metadata.",
            "",
            "http.route",
            "timestamp",
            "metadata.user_id",
        ] {
            assert!(key_from(bad).is_err(), "{bad}");
        }
    }
}
