use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct AccountCreated {
    #[event(rename = "initial_password")]
    pub initial: String,
}

fn main() {}
