use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct Login {
    pub user_id: String,
}

fn main() {}
