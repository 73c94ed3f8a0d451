use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct BatchExported<const N: usize> {
    pub rows: [u32; N],
}

fn main() {}
