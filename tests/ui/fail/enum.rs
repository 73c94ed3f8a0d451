use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub enum OrderEvent {
    Placed { order_id: u64 },
    Cancelled { order_id: u64 },
}

fn main() {}
