use event_core::Event;

pub struct Money {
    pub cents: i64,
}

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub total: Money,
}

fn main() {}
