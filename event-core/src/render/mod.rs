//! Rendering: an event's treated fields as a JSON object (`render_metadata`), its `Debug`,
//! the JSON writer every output shares, and the envelope that every sink's format is written
//! from.

pub(crate) mod debug;
pub(crate) mod depth;
pub mod envelope;
pub(crate) mod json;
pub(crate) mod metadata;
