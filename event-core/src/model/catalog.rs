//! The catalog: every event type linked into the binary, registered by the derive, so a test
//! or a tool can list every schema and find two types that claim one name and version with
//! different fields.

use std::collections::BTreeMap;
use std::fmt;

use crate::{EventSchema, Version};

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
