use event_core::{Event, EventKind, Treatment, Version};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    Success,
    BadPassword,
}

/// A user tried to log in.
#[derive(Event)]
#[event(
    kind = "security",
    version = "1.1",
    level = "info",
    name = "user_login_attempted"
)]
pub struct UserLoginAttempt {
    pub user_id: String,
    #[event(pii)]
    pub ip: std::net::IpAddr,
    pub result: LoginResult,
    #[event(redact)]
    pub password: String,
    #[event(mask)]
    pub card_number: String,
    #[event(mask(keep_last = 2))]
    pub phone: String,
    #[event(hash)]
    pub email: String,
    #[event(skip)]
    pub raw_body: Vec<u8>,
    #[event(not_sensitive)]
    pub token_count: u32,
    #[event(rename = "attempt")]
    pub attempt_number: u32,
    #[event(since = "1.1")]
    pub mfa_used: Option<bool>,
    #[event(since = 1)]
    pub note: Option<String>,
}

/// Every form of `error`.
#[derive(Event)]
#[event(kind = "error", version = "1.2")]
pub struct TokenRefreshFailed {
    /// A secret word in the name: only the types are written.
    #[event(error(redact_message))]
    pub token_error: std::io::Error,
}

#[derive(Event)]
#[event(kind = "error", version = "1.2")]
pub struct InviteFailed {
    /// A PII word in the name, its messages labelled.
    #[event(error, pii, rename = "email_error")]
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

#[derive(Event)]
#[event(kind = "error", version = "1.2")]
pub struct SyncFailed {
    pub attempt: u32,
    /// Optional, added later.
    #[event(error, since = "1.2")]
    pub error: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

#[derive(Event)]
#[event(kind = "error")]
pub struct CardCheckFailed {
    #[event(error, not_sensitive)]
    pub card_error: event_core::CapturedError,
}

fn main() {
    assert_eq!(
        TokenRefreshFailed::schema().fields()[0].treatment(),
        Treatment::Error {
            redact_message: true
        }
    );
    assert_eq!(InviteFailed::schema().fields()[0].key(), "email_error");
    assert!(SyncFailed::schema().fields()[1].optional());
    assert_eq!(
        CardCheckFailed::schema().fields()[0].sensitivity(),
        event_core::Sensitivity::Public
    );
    assert_eq!(UserLoginAttempt::NAME, "user_login_attempted");
    assert_eq!(UserLoginAttempt::VERSION, Version::new(1, 1));
    assert_eq!(UserLoginAttempt::KIND, EventKind::Security);
    assert_eq!(UserLoginAttempt::LEVEL, tracing::Level::INFO);
    let fields = UserLoginAttempt::schema().fields();
    assert_eq!(fields[4].treatment(), Treatment::Mask { keep_last: 4 });
    assert_eq!(fields[5].treatment(), Treatment::Mask { keep_last: 2 });
    assert_eq!(fields[9].key(), "attempt");
}
