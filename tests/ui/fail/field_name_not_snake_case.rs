use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
#[allow(non_snake_case)]
pub struct OrderPlaced {
    pub orderId: u64,
}

fn main() {}
