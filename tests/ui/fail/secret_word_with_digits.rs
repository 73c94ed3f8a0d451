use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct KeysRotated {
    #[event(skip)]
    pub api_key1: String,
    pub api_key2: String,
}

fn main() {}
