// `Option` written with its full path is optional; the user's own `Option` written with its own
// path is an ordinary field.
use event_core::Event;

mod mine {
    #[derive(serde::Serialize, schemars::JsonSchema)]
    pub struct Option<T> {
        pub value: T,
    }
}

#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub coupon: ::core::option::Option<String>,
    pub note: std::option::Option<String>,
    pub wrapped: mine::Option<u8>,
}

fn main() {
    let order = OrderPlaced {
        order_id: 1,
        coupon: None,
        note: Some("n".into()),
        wrapped: mine::Option { value: 3 },
    };
    let metadata = event_core::render_metadata(&order, None);
    assert_eq!(
        metadata,
        serde_json::json!({ "order_id": 1, "note": "n", "wrapped": { "value": 3 } })
    );
    let fields = OrderPlaced::schema().fields();
    assert!(fields[1].optional() && fields[2].optional() && !fields[3].optional());
}
