use event_core::Event;

#[derive(serde::Serialize)]
pub struct Money {
    pub cents: i64,
}

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub total: Option<Money>,
}

fn main() {}
