use event_core::Event;

#[derive(Event)]
#[event(kind = "business", verison = "1.1")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
