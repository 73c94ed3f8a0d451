pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {
    event_core::emit!(OrderPlaced { order_id: 1 });
}
