use event_core::Event;

/// The user's own `Option`, shadowing the prelude's.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Option<T> {
    pub value: T,
}

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub coupon: Option<String>,
}

fn main() {}
