use event_core::Event;

#[derive(Event)]
#[event(kind = "security", name = "UserLogin!")]
pub struct UserLogin {
    pub user_id: String,
}

fn main() {}
