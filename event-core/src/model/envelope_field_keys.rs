// The output keys the envelope lifts to its top level: the one place they are kept. Included
// into `schema.rs` (public as `event_core::ENVELOPE_FIELD_KEYS`) and into `event-derive` (an
// error field may not take one), with `include!`, so both use the same keys.

/// Output keys the envelope carries at its top level rather than inside `metadata`: they are
/// also correlation fields copied from spans, and an event field with one of these keys
/// overrides the span's value.
pub const ENVELOPE_FIELD_KEYS: [&str; 3] = ["user_id", "session_id", "request_id"];
