use event_core::Event;

// Three mistakes: a one-word name, a missing kind, and an untreated password.
// Exactly three errors, and none where the type is used.
#[derive(Event)]
pub struct Signup {
    pub user_id: String,
    pub password: String,
}

fn main() {
    let signup = Signup { user_id: "u1".into(), password: "p".into() };
    let _ = event_core::render_metadata(&signup, None);
    println!("{signup:?}");
}
