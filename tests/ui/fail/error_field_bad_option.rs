use event_core::Event;

#[derive(Event)]
#[event(kind = "error")]
pub struct UploadFailed {
    #[event(error(redact_mesage))]
    pub error: std::io::Error,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct DownloadFailed {
    #[event(error = "redact_message")]
    pub error: std::io::Error,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct SyncFailed {
    #[event(error(redact_message = true))]
    pub error: std::io::Error,
}

fn main() {}
