use event_core::Event;

/// Deriving `Serialize` too would print the password through any serde serializer.
#[derive(Event, serde::Serialize)]
#[event(kind = "security")]
struct LoginFailed {
    user_id: String,
    #[event(redact)]
    password: String,
}

fn main() {}
