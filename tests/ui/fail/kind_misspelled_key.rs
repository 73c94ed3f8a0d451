use event_core::Event;

// `knd` is close to `kind`: one error, not also "no kind".
#[derive(Event)]
#[event(knd = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {}
