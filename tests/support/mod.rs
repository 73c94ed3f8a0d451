//! Realistic events shared by the end-to-end tests, and test sinks.
#![allow(dead_code)]

pub mod sinks;

use std::collections::BTreeMap;
use std::net::IpAddr;

use event_core::Event;
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    Success,
    BadPassword,
    Locked,
}

/// A user tried to log in.
#[derive(Event)]
#[event(kind = "security", version = "1.1")]
pub struct UserLoginAttempt {
    pub user_id: String,
    /// Where the attempt came from.
    #[event(pii)]
    pub ip: IpAddr,
    pub result: LoginResult,
    #[event(redact)]
    pub password: String,
    #[event(mask)]
    pub card_number: String,
    #[event(hash)]
    pub email: String,
    #[event(skip)]
    pub raw_body: Vec<u8>,
    #[event(since = "1.1")]
    pub mfa_used: Option<bool>,
}

#[derive(Serialize, JsonSchema, Clone)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: u64,
}

#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Eur,
    Usd,
}

/// A card payment was captured.
#[derive(Event)]
#[event(kind = "business", version = 2)]
pub struct PaymentCaptured {
    pub order_id: u64,
    pub amount_cents: u64,
    pub currency: Currency,
    pub items: Vec<LineItem>,
    #[event(mask(keep_last = 2))]
    pub card_number: String,
    #[event(hash)]
    pub billing_email: Option<String>,
    #[event(redact)]
    pub cvv_secret: Option<String>,
    pub coupon: Option<String>,
}

/// An export to a partner failed.
#[derive(Event)]
#[event(kind = "error")]
pub struct ExportFailed {
    pub partner: String,
    pub reason: String,
    pub retryable: bool,
    pub attempt: u32,
    pub latency_ms: f64,
    pub labels: BTreeMap<String, String>,
    #[event(redact)]
    pub auth_token: String,
}

/// A session began; its ids go to the envelope's top level.
#[derive(Event)]
#[event(kind = "user_action", level = "debug")]
pub struct SessionStarted {
    pub user_id: String,
    #[event(hash)]
    pub session_id: String,
    #[event(rename = "request_id")]
    pub correlation: String,
    #[event(mask(keep_last = 0))]
    pub phone_number: String,
}

/// The cache was warmed.
#[derive(Event)]
#[event(kind = "system_event")]
pub struct CacheWarmed;

pub const CANARY_PASSWORD: &str = "CANARY-PASSWORD-hunter2";
pub const CANARY_CARD: &str = "CANARY-CARD-4111111111111111";
pub const CANARY_EMAIL: &str = "canary-email@example.com";
pub const CANARY_RAW: &[u8] = b"CANARY-RAW-BODY";
pub const CANARY_CVV: &str = "CANARY-CVV-123";
pub const CANARY_TOKEN: &str = "CANARY-TOKEN-abcdef";
pub const CANARY_SESSION: &str = "CANARY-SESSION-0001";
pub const CANARY_PHONE: &str = "CANARY-PHONE-+33612345678";

/// Strings that must never appear in any output.
pub fn canaries() -> Vec<&'static str> {
    vec![
        CANARY_PASSWORD,
        "hunter2",
        CANARY_CARD,
        "CANARY-CARD",
        "41111111",
        CANARY_EMAIL,
        "canary-email",
        "CANARY-RAW-BODY",
        CANARY_CVV,
        CANARY_TOKEN,
        CANARY_SESSION,
        CANARY_PHONE,
        "+3361234",
    ]
}

pub fn login_attempt() -> UserLoginAttempt {
    UserLoginAttempt {
        user_id: "u-42".into(),
        ip: "203.0.113.9".parse().unwrap(),
        result: LoginResult::BadPassword,
        password: CANARY_PASSWORD.into(),
        card_number: CANARY_CARD.into(),
        email: CANARY_EMAIL.into(),
        raw_body: CANARY_RAW.to_vec(),
        mfa_used: Some(false),
    }
}

pub fn payment() -> PaymentCaptured {
    PaymentCaptured {
        order_id: 981,
        amount_cents: 4599,
        currency: Currency::Eur,
        items: vec![LineItem {
            sku: "SKU-1".into(),
            quantity: 3,
            unit_price_cents: 1533,
        }],
        card_number: CANARY_CARD.into(),
        billing_email: Some(CANARY_EMAIL.into()),
        cvv_secret: Some(CANARY_CVV.into()),
        coupon: None,
    }
}

pub fn export_failed() -> ExportFailed {
    ExportFailed {
        partner: "acme".into(),
        reason: "connection reset\nby peer \u{1b}[31m".into(),
        retryable: true,
        attempt: 3,
        latency_ms: 1234.5,
        labels: BTreeMap::from([("region".into(), "eu-west-1".into())]),
        auth_token: CANARY_TOKEN.into(),
    }
}

pub fn session_started() -> SessionStarted {
    SessionStarted {
        user_id: "u-42".into(),
        session_id: CANARY_SESSION.into(),
        correlation: "req-7".into(),
        phone_number: CANARY_PHONE.into(),
    }
}

/// A field whose own `Serialize` fails or panics, next to treated secrets.
pub struct Flaky {
    pub panic: bool,
}

impl Serialize for Flaky {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        if self.panic {
            panic!("flaky serializer panicked");
        }
        Err(serde::ser::Error::custom("flaky serializer failed"))
    }
}

impl JsonSchema for Flaky {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Flaky".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

/// An event whose `flaky` field fails (or panics) to serialize.
#[derive(Event)]
#[event(kind = "error")]
pub struct SyncFailed {
    #[event(redact)]
    pub password: String,
    #[event(mask)]
    pub card_number: String,
    pub flaky: Flaky,
}

pub fn sync_failed(panic: bool) -> SyncFailed {
    SyncFailed {
        password: CANARY_PASSWORD.into(),
        card_number: CANARY_CARD.into(),
        flaky: Flaky { panic },
    }
}

/// An error with a source: an import that failed on a file it could not read.
#[derive(Debug)]
pub struct ImportError(pub std::io::Error);

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("import of contacts.csv failed")
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
