use event_core::Event;

// A misspelled `version` does not hide that `kind` is missing.
#[derive(Event)]
#[event(verison = "1.1")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
