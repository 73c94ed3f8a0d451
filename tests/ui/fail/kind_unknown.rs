use event_core::Event;

#[derive(Event)]
#[event(kind = "securty")]
pub struct UserLoggedIn {
    pub user_id: String,
}

fn main() {}
