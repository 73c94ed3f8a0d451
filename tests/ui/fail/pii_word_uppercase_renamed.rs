use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
#[allow(non_snake_case)]
pub struct ContactAdded {
    #[event(rename = "contact")]
    pub EMAIL: String,
}

fn main() {}
