use event_core::Event;

pub struct EmailAddress {
    pub local: String,
    pub domain: String,
}

#[derive(Event)]
#[event(kind = "business")]
pub struct NewsletterSubscribed {
    #[event(hash)]
    pub email: EmailAddress,
}

fn main() {}
