//! The event model: what an event is (its trait, kind, version), what its fields are and how
//! each is treated, its keyed hash, its JSON Schema, and the catalog of every event type in
//! the binary. Nothing here runs at emit time beyond reading what the derive generated.

pub(crate) mod catalog;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod fields;
pub(crate) mod hash_key;
pub(crate) mod kind;
pub(crate) mod schema;
pub(crate) mod sensitive_words;
pub(crate) mod treatment;
pub(crate) mod version;
