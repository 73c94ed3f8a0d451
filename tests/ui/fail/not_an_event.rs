pub struct OrderPlaced {
    pub order_id: u64,
}

fn main() {
    let order = OrderPlaced { order_id: 1 };
    let _ = event_core::render_metadata(&order, None);
}
