use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct RefreshFailed {
    /// Its message could quote the token.
    #[event(error)]
    pub token_error: std::io::Error,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct InviteFailed {
    /// Its message could quote the address.
    #[event(error)]
    pub email_error: std::io::Error,
}

fn main() {}
