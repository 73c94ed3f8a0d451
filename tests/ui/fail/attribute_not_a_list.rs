use event_core::Event;

#[derive(Event)]
#[event = "security"]
pub struct UserLoggedIn {
    pub user_id: String,
}

fn main() {}
