use event_core::Event;

/// Not an error: a code and a text.
pub struct Failure {
    pub code: u16,
    pub text: String,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct UploadFailed {
    #[event(error)]
    pub error: Failure,
}

fn main() {}
