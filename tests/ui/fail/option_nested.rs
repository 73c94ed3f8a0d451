use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub coupon: Option<Option<String>>,
}

fn main() {}
