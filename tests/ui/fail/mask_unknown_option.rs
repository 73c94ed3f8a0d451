use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct PaymentCaptured {
    #[event(mask(keep = 2))]
    pub card_number: String,
}

fn main() {}
