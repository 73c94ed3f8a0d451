use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    #[event(version = "1.1")]
    pub order_id: u64,
}

fn main() {}
