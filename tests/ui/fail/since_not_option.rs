use event_core::Event;

#[derive(Event)]
#[event(kind = "security", version = "1.1")]
pub struct UserLoggedIn {
    pub user_id: String,
    #[event(since = "1.1")]
    pub mfa_used: bool,
}

fn main() {}
