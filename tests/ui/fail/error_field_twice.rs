use event_core::Event;

#[derive(Event)]
#[event(kind = "error")]
pub struct UploadFailed {
    #[event(error)]
    pub error: std::io::Error,
    #[event(error)]
    pub cleanup_error: std::io::Error,
}

fn main() {}
