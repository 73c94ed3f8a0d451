use event_core::Event;

#[derive(Event)]
#[event(kind = "system_event", error)]
pub struct UploadFailed {
    pub attempts: u32,
}

fn main() {}
