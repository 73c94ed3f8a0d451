//! The five kinds of event.

use std::fmt;

/// What an event is about, set with `#[event(kind = "...")]`; written to the envelope as
/// `event_type`, and it decides the default level.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum EventKind {
    /// Something a user did: `user_action`.
    UserAction,
    /// Something the system did on its own: `system_event`.
    SystemEvent,
    /// A business fact: `business`.
    Business,
    /// A failure: `error`. Emitted at level ERROR by default.
    Error,
    /// A security-relevant fact: `security`. Emitted at level WARN by default.
    Security,
}

impl EventKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [EventKind; 5] = [
        EventKind::UserAction,
        EventKind::SystemEvent,
        EventKind::Business,
        EventKind::Error,
        EventKind::Security,
    ];

    /// The wire name: `"user_action"`, `"system_event"`, `"business"`, `"error"`, `"security"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::UserAction => "user_action",
            EventKind::SystemEvent => "system_event",
            EventKind::Business => "business",
            EventKind::Error => "error",
            EventKind::Security => "security",
        }
    }

    /// The level an event of this kind gets when its definition sets none.
    pub const fn default_level(self) -> tracing::Level {
        match self {
            EventKind::Error => tracing::Level::ERROR,
            EventKind::Security => tracing::Level::WARN,
            _ => tracing::Level::INFO,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
