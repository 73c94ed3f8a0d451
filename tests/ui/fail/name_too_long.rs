use event_core::Event;

#[derive(Event)]
#[event(
    kind = "business",
    name = "customer_subscription_renewal_payment_authorization_retry_attempt_failed"
)]
pub struct RenewalRetryFailed {
    pub order_id: u64,
}

fn main() {}
