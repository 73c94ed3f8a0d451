use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct SessionRefreshed {
    #[event(hash)]
    pub refresh_token: String,
}

fn main() {}
