//! Event schemas: the JSON Schema 2020-12 of an event's value as emitted, and its
//! fingerprint, a hash of what consumers rely on, so two definitions that share a name and
//! version but differ on the wire can be told apart.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::model::treatment::REDACTED;
use crate::{EventKind, Sensitivity, Treatment, Version};

include!("envelope_field_keys.rs");

/// The pattern every hashed value matches (`"[REDACTED]"` when no key was configured).
pub const HASH_PATTERN: &str = r"^(hmac-sha256:[A-Za-z0-9._-]{1,64}:[0-9a-f]{64}|\[REDACTED\])$";

/// One field of an event, as its schema describes it.
#[derive(Debug)]
pub struct FieldSchema {
    name: &'static str,
    key: &'static str,
    description: Option<&'static str>,
    treatment: Treatment,
    sensitivity: Sensitivity,
    optional: bool,
    since: Option<Version>,
    in_envelope: bool,
    /// Whether `key` is only lowercase ASCII letters, digits and `_` (as the derive makes
    /// every key), so JSON writes it with no escaping to check for.
    plain_key: bool,
    value_schema: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
}

impl FieldSchema {
    /// Used by the derive only.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        key: &'static str,
        description: Option<&'static str>,
        treatment: Treatment,
        sensitivity: Sensitivity,
        optional: bool,
        since: Option<Version>,
        value_schema: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
    ) -> FieldSchema {
        FieldSchema {
            name,
            key,
            description,
            treatment,
            sensitivity,
            optional,
            since,
            in_envelope: is_envelope_key(key),
            plain_key: is_plain_key(key),
            value_schema,
        }
    }

    /// Whether the output key needs no JSON escaping (see [`is_plain_key`]).
    pub(crate) fn has_plain_key(&self) -> bool {
        self.plain_key
    }

    /// The Rust field name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The output key (the field name, or its `rename`).
    pub fn key(&self) -> &'static str {
        self.key
    }
    /// The field's doc comment.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }
    /// What the field's value becomes in outputs.
    pub fn treatment(&self) -> Treatment {
        self.treatment
    }
    /// How sensitive the field is.
    pub fn sensitivity(&self) -> Sensitivity {
        self.sensitivity
    }
    /// Whether the field is an `Option` (omitted when `None`).
    pub fn optional(&self) -> bool {
        self.optional
    }
    /// The version that added the field (`#[event(since = "...")]`).
    pub fn since(&self) -> Option<Version> {
        self.since
    }
    /// Whether the envelope carries the field at its top level (`user_id`, `session_id`,
    /// `request_id`) instead of inside `metadata`.
    pub fn in_envelope(&self) -> bool {
        self.in_envelope
    }
}

const fn is_envelope_key(key: &str) -> bool {
    let mut i = 0;
    while i < ENVELOPE_FIELD_KEYS.len() {
        if const_str_eq(key, ENVELOPE_FIELD_KEYS[i]) {
            return true;
        }
        i += 1;
    }
    false
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What the derive knows of an event; turned into an [`EventSchema`] on first use.
#[doc(hidden)]
pub struct EventDescriptor {
    pub name: &'static str,
    pub version: Version,
    pub kind: EventKind,
    pub rust_type: &'static str,
    pub description: Option<&'static str>,
    pub fields: &'static [FieldSchema],
}

/// The schema of one event type: its identity, fields, JSON Schema and fingerprint.
#[derive(Debug)]
pub struct EventSchema {
    name: &'static str,
    version: Version,
    kind: EventKind,
    rust_type: &'static str,
    description: Option<&'static str>,
    fields: &'static [FieldSchema],
    json: Value,
    fingerprint: String,
    /// Per emitted field, its key and canonical wire type (see [`EventSchema::wire_type`]).
    wire_types: Vec<(&'static str, String)>,
}

impl EventSchema {
    /// The event name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The event version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// The event kind.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    /// The path of the Rust type that defines the event, such as `my_app::auth::UserLoggedIn`.
    pub fn rust_type(&self) -> &'static str {
        self.rust_type
    }
    /// The struct's doc comment.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }
    /// Every field, skipped ones included, in declaration order.
    pub fn fields(&self) -> &'static [FieldSchema] {
        self.fields
    }

    /// The JSON Schema (2020-12) of the event's fields as emitted, after treatments, so a
    /// consumer can validate the `metadata` objects sinks write.
    ///
    /// `properties` describes the `metadata` object; fields the envelope lifts to its top
    /// level (`user_id`, `session_id`, `request_id`) are described under `x-envelope` instead.
    /// Every property carries `x-sensitivity: {class, treatment}`, and `x-since` when the
    /// field has `#[event(since = "...")]`.
    pub fn json_schema(&self) -> Value {
        self.json.clone()
    }

    /// A stable hex SHA-256 of what a consumer of the event relies on: name, version, kind,
    /// and per emitted field its key, wire type, treatment and optionality. Doc comments,
    /// sensitivity labels and field order do not change it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The wire type of the emitted field with output key `key`: its JSON Schema as emitted
    /// (after its treatment), annotations (descriptions, titles, examples) removed and
    /// references resolved, as compact JSON with sorted keys. What the fingerprint and the
    /// schema lock compare; `None` for a skipped field or an unknown key.
    pub fn wire_type(&self, key: &str) -> Option<&str> {
        self.wire_types
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, wire)| wire.as_str())
    }
}

/// Builds the schema of the event `descriptor` describes. Used by the derive only.
#[doc(hidden)]
pub fn build_schema(descriptor: &EventDescriptor) -> EventSchema {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut properties = Map::new();
    let mut envelope = Map::new();
    let mut required = Vec::new();
    let mut wire_fields = Vec::new();
    for field in descriptor.fields {
        let Some(wire) = wire_schema(field, &mut generator) else {
            continue;
        };
        wire_fields.push((field, wire.clone()));
        let mut property = into_object(wire);
        if let Some(description) = field.description {
            property.insert("description".into(), description.into());
        }
        if let Some(since) = field.since {
            property.insert("x-since".into(), since.to_string().into());
        }
        let mut sensitivity = json!({
            "class": field.sensitivity.as_str(),
            "treatment": field.treatment.as_str(),
        });
        match field.treatment {
            Treatment::Mask { keep_last } => sensitivity["keep_last"] = keep_last.into(),
            Treatment::Error { redact_message } => {
                sensitivity["redact_message"] = redact_message.into();
            }
            _ => {}
        }
        property.insert("x-sensitivity".into(), sensitivity);
        if field.in_envelope {
            envelope.insert(field.key.into(), Value::Object(property));
        } else {
            if !field.optional {
                required.push(Value::from(field.key));
            }
            properties.insert(field.key.into(), Value::Object(property));
        }
    }
    let definitions = generator.take_definitions(true);
    let fingerprint = fingerprint(descriptor, &wire_fields, &definitions);
    let wire_types = wire_fields
        .iter()
        .map(|(field, wire)| {
            let mut text = String::new();
            write_canonical(&wire_type(wire, &definitions, &mut Vec::new()), &mut text);
            (field.key, text)
        })
        .collect();

    let mut schema = Map::new();
    schema.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    schema.insert(
        "$id".into(),
        format!(
            "urn:event:{}:v{}",
            descriptor.name, descriptor.version.major
        )
        .into(),
    );
    schema.insert("title".into(), descriptor.name.into());
    if let Some(description) = descriptor.description {
        schema.insert("description".into(), description.into());
    }
    schema.insert("type".into(), "object".into());
    schema.insert("additionalProperties".into(), false.into());
    schema.insert("required".into(), Value::Array(required));
    schema.insert("properties".into(), Value::Object(properties));
    schema.insert(
        "x-event".into(),
        json!({
            "name": descriptor.name,
            "version": descriptor.version.to_string(),
            "kind": descriptor.kind.as_str(),
        }),
    );
    if !envelope.is_empty() {
        schema.insert("x-envelope".into(), Value::Object(envelope));
    }
    if !definitions.is_empty() {
        schema.insert("$defs".into(), Value::Object(definitions));
    }
    EventSchema {
        name: descriptor.name,
        version: descriptor.version,
        kind: descriptor.kind,
        rust_type: descriptor.rust_type,
        description: descriptor.description,
        fields: descriptor.fields,
        json: Value::Object(schema),
        fingerprint,
        wire_types,
    }
}

/// The schema of a field's value as emitted, or `None` for a skipped field.
fn wire_schema(field: &FieldSchema, generator: &mut SchemaGenerator) -> Option<Value> {
    Some(match field.treatment {
        Treatment::Skip => return None,
        Treatment::None => match field.value_schema {
            Some(schema_of) => schema_of(generator).to_value(),
            None => Value::Bool(true),
        },
        Treatment::Redact => json!({ "type": "string", "const": REDACTED }),
        Treatment::Mask { keep_last: 0 } => json!({ "type": "string", "const": crate::MASK }),
        Treatment::Mask { keep_last } => json!({
            "type": "string",
            "pattern": format!(r"^\*{{8}}([\s\S]{{{keep_last}}})?$"),
        }),
        Treatment::Hash => json!({ "type": "string", "pattern": HASH_PATTERN }),
        Treatment::Error { redact_message } => error_schema(redact_message),
    })
}

/// The schema of an `#[event(error)]` field's value.
fn error_schema(redact_message: bool) -> Value {
    let text = json!({ "type": "string" });
    let mut properties = Map::new();
    properties.insert(
        "type".into(),
        json!({ "type": "string", "description": "The Rust type of the error." }),
    );
    if !redact_message {
        properties.insert(
            "message".into(),
            json!({ "type": "string", "description": "The error's message (its `Display`)." }),
        );
    }
    let chain = if redact_message {
        "The types of the error's sources, outermost first."
    } else {
        "The messages of the error's sources, outermost first."
    };
    properties.insert(
        "chain".into(),
        json!({ "type": "array", "items": text, "description": chain }),
    );
    let required: Vec<&String> = properties.keys().collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn into_object(schema: Value) -> Map<String, Value> {
    match schema {
        Value::Object(map) => map,
        Value::Bool(true) => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("allOf".into(), Value::Array(vec![other]));
            map
        }
    }
}

fn fingerprint(
    descriptor: &EventDescriptor,
    wire_fields: &[(&FieldSchema, Value)],
    definitions: &Map<String, Value>,
) -> String {
    let mut fields: Vec<Value> = wire_fields
        .iter()
        .map(|(field, wire)| {
            let mut resolving = Vec::new();
            json!({
                "key": field.key,
                "treatment": field.treatment.as_str(),
                "keep_last": match field.treatment {
                    Treatment::Mask { keep_last } => Value::from(keep_last),
                    _ => Value::Null,
                },
                "optional": field.optional,
                "type": wire_type(wire, definitions, &mut resolving),
            })
        })
        .collect();
    fields.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    let identity = json!({
        "name": descriptor.name,
        "version": descriptor.version.to_string(),
        "kind": descriptor.kind.as_str(),
        "fields": fields,
    });
    let mut canonical = String::new();
    write_canonical(&identity, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Keywords that only annotate a schema: editing them does not change what is on the wire.
const ANNOTATIONS: [&str; 8] = [
    "description",
    "title",
    "examples",
    "default",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords whose value maps names to schemas (the names are data, not keywords).
const SCHEMA_MAPS: [&str; 4] = [
    "properties",
    "patternProperties",
    "$defs",
    "dependentSchemas",
];

/// `schema` with annotations removed and `$ref`s to `definitions` inlined, so the fingerprint
/// sees types, not the names schemars happened to give them.
fn wire_type(
    schema: &Value,
    definitions: &Map<String, Value>,
    resolving: &mut Vec<String>,
) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                if let Some(name) = reference.strip_prefix("#/$defs/") {
                    if resolving.iter().any(|r| r == name) {
                        return json!({ "$ref": "recursive" });
                    }
                    if let Some(definition) = definitions.get(name) {
                        resolving.push(name.to_owned());
                        let resolved = wire_type(definition, definitions, resolving);
                        resolving.pop();
                        return resolved;
                    }
                }
            }
            let mut out = Map::new();
            for (key, value) in map {
                if ANNOTATIONS.contains(&key.as_str()) {
                    continue;
                }
                let value = match (SCHEMA_MAPS.contains(&key.as_str()), value) {
                    (true, Value::Object(named)) => Value::Object(
                        named
                            .iter()
                            .map(|(n, s)| (n.clone(), wire_type(s, definitions, resolving)))
                            .collect(),
                    ),
                    _ => wire_type(value, definitions, resolving),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| wire_type(item, definitions, resolving))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Compact JSON with object keys sorted, whatever order the map keeps them in.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The schema of a plain field's type. Used by the derive only.
#[doc(hidden)]
pub fn field_schema<T: crate::model::fields::EventField + ?Sized>(
    generator: &mut SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// Whether `key` is made of lowercase ASCII letters, digits and `_` only: written in JSON as it
/// is, with nothing to escape. Decided once per field, when its schema is built.
const fn is_plain_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if !matches!(bytes[at], b'a'..=b'z' | b'0'..=b'9' | b'_') {
            return false;
        }
        at += 1;
    }
    true
}

#[cfg(test)]
mod plain_key_tests {
    #[test]
    fn only_lowercase_ascii_digits_and_underscores_are_plain() {
        for key in ["user_id", "a", "x2", "_"] {
            assert!(super::is_plain_key(key), "{key}");
        }
        for key in ["a\"b", "a\\b", "na\u{ef}ve", "Tenant", "a-b", "a b", "a\nb"] {
            assert!(!super::is_plain_key(key), "{key:?}");
        }
    }
}
