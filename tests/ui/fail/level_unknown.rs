use event_core::Event;

#[derive(Event)]
#[event(kind = "business", level = "warning")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
