use event_core::Event;

#[derive(Event)]
#[event(kind = "security")]
pub struct CookieSet {
    #[event(pii)]
    pub session_cookie: String,
}

fn main() {}
