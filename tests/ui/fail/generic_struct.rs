use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct ItemAdded<T> {
    pub item: T,
}

fn main() {}
