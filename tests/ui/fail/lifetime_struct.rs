use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct ItemAdded<'a> {
    pub sku: &'a str,
}

fn main() {}
