use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    #[event(rename = "order_id")]
    pub legacy_order_id: u64,
}

fn main() {}
