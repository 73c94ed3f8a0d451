use event_core::Event;

/// A node of a tree was moved; `Self` may appear in field types.
#[derive(Event)]
#[event(kind = "business")]
pub struct NodeMoved {
    pub node_id: u64,
    /// `Self` in a plain field's type, which the fields' table (a `static`) cannot name. (An
    /// event never implements `Serialize`, so it cannot hold itself as a plain value.)
    pub kind: std::marker::PhantomData<Self>,
}

fn main() {
    let moved = NodeMoved {
        node_id: 1,
        kind: std::marker::PhantomData,
    };
    assert_eq!(
        event_core::render_metadata(&moved, None),
        serde_json::json!({ "node_id": 1, "kind": null })
    );
}
