use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct UserLoggedIn {
    pub user_id: String,
    #[event(since = "1.1")]
    pub mfa_used: Option<bool>,
}

fn main() {}
