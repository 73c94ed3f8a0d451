use event_core::Event;

#[derive(Event)]
#[event(kind = "error")]
pub struct UploadFailed {
    #[event(error, redact)]
    pub error: std::io::Error,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct CleanupFailed {
    #[event(skip, error)]
    pub error: std::io::Error,
}

fn main() {}
