use event_core::Event;

pub struct CardNumber([u8; 16]);

#[derive(Event)]
#[event(kind = "business")]
pub struct PaymentCaptured {
    #[event(mask)]
    pub card_number: CardNumber,
}

fn main() {}
