use event_core::Event;

#[derive(Event)]
#[event(kind = "business", version = 1.5)]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
