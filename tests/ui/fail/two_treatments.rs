use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct NewsletterSubscribed {
    #[event(hash, mask)]
    pub email: String,
}

fn main() {}
