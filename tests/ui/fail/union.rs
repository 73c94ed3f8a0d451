use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub union OrderRef {
    pub id: u64,
    pub legacy: u32,
}

fn main() {}
