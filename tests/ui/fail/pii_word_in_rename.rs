use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct ContactAdded {
    #[event(rename = "contact_phone")]
    pub contact: String,
}

fn main() {}
