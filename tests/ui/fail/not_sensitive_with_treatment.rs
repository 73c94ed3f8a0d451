use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct QuotaUsed {
    #[event(not_sensitive, redact)]
    pub token_count: u64,
}

fn main() {}
