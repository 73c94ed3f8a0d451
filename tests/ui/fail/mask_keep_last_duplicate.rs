use event_core::Event;

#[derive(Event)]
#[event(kind = "business")]
pub struct PaymentCaptured {
    #[event(mask(keep_last = 2, keep_last = 3))]
    pub card_number: String,
}

fn main() {}
