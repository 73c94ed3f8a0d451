// A crate that re-exports event_core under another path.
mod telemetry {
    pub use event_core as events;
}

use event_core::Event;

#[derive(Event)]
#[event(kind = "business", crate = "crate::telemetry::events")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {
    assert_eq!(
        <OrderPlaced as telemetry::events::Event>::NAME,
        "order_placed"
    );
}
