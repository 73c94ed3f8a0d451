use event_core::Event;

#[derive(Event)]
#[event(kind = "error")]
pub struct LookupFailed {
    #[event(error, rename = "request_id")]
    pub error: std::io::Error,
}

fn main() {}
