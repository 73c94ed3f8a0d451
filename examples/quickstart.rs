//! Define typed events and see them exactly as sinks will write them.
//!
//! Run with `cargo run --example quickstart`.

use event_core::{check_catalog, render_metadata, Event, HashKey};
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginResult {
    Success,
    BadPassword,
}

/// A user tried to log in.
#[derive(Event)]
#[event(kind = "security", version = "1.1")]
pub struct UserLoginAttempt {
    pub user_id: String,
    /// Where the attempt came from.
    #[event(pii)]
    pub ip: std::net::IpAddr,
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

/// An order was paid.
#[derive(Event)]
#[event(kind = "business")]
pub struct OrderPaid {
    pub order_id: u64,
    pub amount_cents: u64,
    pub coupon: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In production the key comes from your secret store; it must be at least 32 bytes.
    let hash_key = HashKey::new("k1", b"quickstart-demo-key-0123456789abcdef")?;

    let attempt = UserLoginAttempt {
        user_id: "u-42".into(),
        ip: "203.0.113.9".parse()?,
        result: LoginResult::BadPassword,
        password: "hunter2".into(),
        card_number: "4111111111111111".into(),
        email: "ada@example.com".into(),
        raw_body: b"{\"password\":\"hunter2\"}".to_vec(),
        mfa_used: Some(false),
    };
    let order = OrderPaid {
        order_id: 981,
        amount_cents: 4599,
        coupon: None,
    };

    println!("Events as sinks write their `metadata` (treatments applied):");
    println!(
        "  {} {}",
        UserLoginAttempt::NAME,
        render_metadata(&attempt, Some(&hash_key))
    );
    println!(
        "  {} {}",
        OrderPaid::NAME,
        render_metadata(&order, Some(&hash_key))
    );
    println!("  (user_id travels at the envelope's top level, so it is not in `metadata`)");
    println!("\nDebug never shows a secret either:\n  {attempt:?}");

    let schema = UserLoginAttempt::schema();
    println!(
        "\nSchema of {} v{} ({}), fingerprint {}:",
        schema.name(),
        schema.version(),
        schema.kind(),
        &schema.fingerprint()[..16]
    );
    println!("{}", serde_json::to_string_pretty(&schema.json_schema())?);

    check_catalog()?;
    let names: Vec<_> = event_core::catalog().map(|s| s.name()).collect();
    println!(
        "\nCatalog: {} event types, no conflicts: {names:?}",
        names.len()
    );
    Ok(())
}
