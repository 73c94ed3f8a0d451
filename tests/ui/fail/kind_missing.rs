use event_core::Event;

#[derive(Event)]
#[event(version = "1.0")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
