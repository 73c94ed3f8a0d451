use event_core::Event;

#[derive(Event)]
#[event(kind = "business", crate = "not a path")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
