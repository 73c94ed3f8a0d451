use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    #[event(rename = "orderId")]
    pub order_id: u64,
}

fn main() {}
