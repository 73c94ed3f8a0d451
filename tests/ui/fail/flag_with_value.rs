use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct PasswordChanged {
    #[event(redact = true)]
    pub new_password: String,
}

fn main() {}
