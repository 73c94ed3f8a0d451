use event_core::Event;

pub type Maybe<T> = Option<T>;

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub coupon: Maybe<String>,
}

fn main() {}
