use event_core::Event;

/// A node of a tree was moved; `Self` may appear in field types.
#[derive(Event)]
#[event(kind = "business")]
pub struct NodeMoved {
    pub node_id: u64,
    pub children: Vec<Box<Self>>,
}

impl schemars::JsonSchema for NodeMoved {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeMoved".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object" })
    }
}

impl serde::Serialize for NodeMoved {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.node_id)
    }
}

fn main() {
    let moved = NodeMoved {
        node_id: 1,
        children: vec![Box::new(NodeMoved {
            node_id: 2,
            children: vec![],
        })],
    };
    assert_eq!(
        event_core::render_metadata(&moved, None),
        serde_json::json!({ "node_id": 1, "children": [2] })
    );
}
