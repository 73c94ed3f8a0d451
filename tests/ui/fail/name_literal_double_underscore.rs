use event_core::Event;

#[derive(Event)]
#[event(kind = "security", name = "user__login")]
pub struct UserLogin {
    pub user_id: String,
}

fn main() {}
