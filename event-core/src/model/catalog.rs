//! The catalog: every event type linked into the binary, registered by the derive, so a test
//! or a tool can list every schema and find two types that claim one name and version with
//! different fields.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use crate::{EventSchema, Treatment, Version};

/// One registered event type. Submitted by the derive only.
#[doc(hidden)]
pub struct CatalogEntry {
    pub schema: fn() -> &'static EventSchema,
}

inventory::collect!(CatalogEntry);

/// The schema of every event type linked into this binary, in no particular order.
///
/// ```
/// #[derive(event_core::Event)]
/// #[event(kind = "system_event")]
/// struct CacheWarmed;
///
/// assert!(event_core::catalog().any(|schema| schema.name() == "cache_warmed"));
/// ```
pub fn catalog() -> impl Iterator<Item = &'static EventSchema> {
    inventory::iter::<CatalogEntry>
        .into_iter()
        .map(|entry| (entry.schema)())
}

/// The output keys of the `#[event(error)]` fields in `metadata` of the event `name` at
/// `version`'s major version, as this binary defines it (at any minor: a line spooled at `1.1`
/// is replayed by a binary at `1.2`; which fields are errors cannot change within a major
/// version, as the schema lock calls that breaking); empty for an event it does not define.
/// Read once.
pub(crate) fn error_keys(name: &str, version: Version) -> &'static [&'static str] {
    type ErrorKeys = HashMap<&'static str, Vec<(u16, Vec<&'static str>)>>;
    static ERROR_KEYS: OnceLock<ErrorKeys> = OnceLock::new();
    let keys = ERROR_KEYS.get_or_init(|| {
        let mut keys = ErrorKeys::new();
        for schema in catalog() {
            let errors: Vec<&'static str> = schema
                .fields()
                .iter()
                .filter(|f| matches!(f.treatment(), Treatment::Error { .. }) && !f.in_envelope())
                .map(|f| f.key())
                .collect();
            if errors.is_empty() {
                continue;
            }
            let majors = keys.entry(schema.name()).or_default();
            match majors
                .iter_mut()
                .find(|(major, _)| *major == schema.version().major)
            {
                Some((_, known)) => {
                    for key in errors {
                        if !known.contains(&key) {
                            known.push(key);
                        }
                    }
                }
                None => majors.push((schema.version().major, errors)),
            }
        }
        keys
    });
    keys.get(name)
        .and_then(|majors| majors.iter().find(|(major, _)| *major == version.major))
        .map_or(&[], |(_, errors)| errors.as_slice())
}

/// Checks that no two event types in the binary share a name and version with different
/// fields, which would make their events indistinguishable on the wire yet incompatible.
///
/// Call it from a test, or at startup.
pub fn check_catalog() -> Result<(), CatalogError> {
    let mut by_identity: BTreeMap<(&str, Version), Vec<&EventSchema>> = BTreeMap::new();
    for schema in catalog() {
        by_identity
            .entry((schema.name(), schema.version()))
            .or_default()
            .push(schema);
    }
    let conflicts: Vec<CatalogConflict> = by_identity
        .into_iter()
        .filter_map(|((name, version), mut schemas)| {
            schemas.sort_by_key(|s| s.rust_type());
            let first = schemas[0].fingerprint();
            schemas
                .iter()
                .any(|s| s.fingerprint() != first)
                .then(|| CatalogConflict {
                    name,
                    version,
                    definitions: schemas
                        .iter()
                        .map(|s| (s.rust_type(), s.fingerprint().to_owned()))
                        .collect(),
                })
        })
        .collect();
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(CatalogError { conflicts })
    }
}

/// Event types that share a name and version but not their fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogConflict {
    /// The shared event name.
    pub name: &'static str,
    /// The shared version.
    pub version: Version,
    /// Each defining type with its fingerprint, sorted by type path.
    pub definitions: Vec<(&'static str, String)>,
}

/// What [`check_catalog`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// Every conflict, sorted by name and version.
    pub conflicts: Vec<CatalogConflict>,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, conflict) in self.conflicts.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "event `{}` version {} is defined differently by ",
                conflict.name, conflict.version
            )?;
            for (j, (rust_type, fingerprint)) in conflict.definitions.iter().enumerate() {
                if j > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "`{rust_type}` (fingerprint {})", &fingerprint[..12])?;
            }
            f.write_str(": give one of them another name, or bump its version")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogError {}

/// Writes the JSON Schema of every event type linked into this binary to `dir`, for a schema
/// registry or a documentation site: `dir/<name>/<major>.<minor>.json` for each event and
/// version, and `dir/index.json` listing them (name, version, kind, description, fingerprint,
/// and the schema's path relative to `dir`), sorted by name and version. Files are pretty
/// JSON; a file already there is replaced. Two types that share a name and version with
/// different fields are refused ([`check_catalog`]), before anything is written. Returns the
/// paths written, the index last.
///
/// ```no_run
/// let written = event_core::export_schemas("target/event-schemas")?;
/// println!("{} files", written.len());
/// # Ok::<(), event_core::ExportError>(())
/// ```
pub fn export_schemas(
    dir: impl AsRef<std::path::Path>,
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let dir = dir.as_ref();
    check_catalog().map_err(ExportError::Conflict)?;
    let mut unique: BTreeMap<(&str, Version), &EventSchema> = BTreeMap::new();
    for schema in catalog() {
        unique
            .entry((schema.name(), schema.version()))
            .or_insert(schema);
    }
    let write = |path: std::path::PathBuf, value: &serde_json::Value| {
        let mut text = serde_json::to_string_pretty(value).expect("a schema serializes");
        text.push('\n');
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|err| ExportError::Io(parent.into(), err))?;
        }
        std::fs::write(&path, text).map_err(|err| ExportError::Io(path.clone(), err))?;
        Ok(path)
    };
    let mut written = Vec::with_capacity(unique.len() + 1);
    let mut index = Vec::with_capacity(unique.len());
    for ((name, version), schema) in unique {
        let relative = format!("{name}/{version}.json");
        written.push(write(dir.join(&relative), &schema.json_schema())?);
        index.push(serde_json::json!({
            "name": name,
            "version": version.to_string(),
            "kind": schema.kind().as_str(),
            "description": schema.description(),
            "fingerprint": schema.fingerprint(),
            "schema": relative,
        }));
    }
    let index = serde_json::json!({ "events": index });
    written.push(write(dir.join("index.json"), &index)?);
    Ok(written)
}

/// Why [`export_schemas`] wrote nothing, or not everything.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// Two event types share a name and version with different fields; nothing was written.
    Conflict(CatalogError),
    /// A file or directory could not be written.
    Io(std::path::PathBuf, std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Conflict(conflict) => write!(f, "no schema was exported: {conflict}"),
            ExportError::Io(path, err) => write!(f, "cannot write `{}`: {err}", path.display()),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Conflict(conflict) => Some(conflict),
            ExportError::Io(_, err) => Some(err),
        }
    }
}
