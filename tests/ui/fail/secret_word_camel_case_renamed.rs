use event_core::Event;

// The guard reads `userPassword` as `user_password`, whatever the output key.
#[derive(Event)]
#[event(kind = "security")]
#[allow(non_snake_case)]
pub struct PasswordReset {
    #[event(rename = "user_pw")]
    pub userPassword: String,
}

fn main() {}
