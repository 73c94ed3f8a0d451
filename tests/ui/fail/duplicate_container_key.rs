use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
#[event(kind = "security")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
