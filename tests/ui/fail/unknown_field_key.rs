use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct PasswordChanged {
    pub user_id: String,
    #[event(redcat)]
    pub new_password: String,
}

fn main() {}
