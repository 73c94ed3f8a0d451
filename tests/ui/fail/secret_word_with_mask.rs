use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct ApiKeyRotated {
    #[event(mask)]
    pub api_key: String,
}

fn main() {}
