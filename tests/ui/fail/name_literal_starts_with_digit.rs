use event_core::Event;

#[derive(Event)]
#[event(kind = "user_action", name = "2fa_enabled")]
pub struct TwoFactorEnabled {
    pub user_id: String,
}

fn main() {}
