use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced(u64);

fn main() {}
