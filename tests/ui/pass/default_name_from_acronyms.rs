use event_core::Event;

#[derive(Event)]
#[event(kind = "error")]
pub struct HTTPRequestFailed {
    pub status: u16,
}

fn main() {
    assert_eq!(HTTPRequestFailed::NAME, "http_request_failed");
    assert_eq!(HTTPRequestFailed::LEVEL, tracing::Level::ERROR);
}
