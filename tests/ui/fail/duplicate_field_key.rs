use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    #[event(rename = "order", rename = "order_ref")]
    pub order_id: u64,
}

fn main() {}
