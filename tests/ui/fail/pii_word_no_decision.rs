use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct NewsletterSubscribed {
    pub email: String,
}

fn main() {}
