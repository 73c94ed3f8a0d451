//! Writes the JSON Schema of every event type linked into the binary, for a schema registry
//! or a documentation site: `DIR/<name>/<major>.<minor>.json` and `DIR/index.json`.
//!
//! ```text
//! cargo run --example export_schemas -- DIR     (DIR defaults to target/event-schemas)
//! ```
//!
//! In your application, call `event_core::export_schemas(dir)` from a small binary or a test
//! of the crate that links all your events; here, the example's own events are exported.

use event_core::Event;

/// Someone created an account.
#[derive(Event)]
#[event(kind = "security", version = "1.1")]
pub struct UserSignedUp {
    /// Who signed up.
    pub user_id: String,
    /// Their address, keyed-hashed.
    #[event(hash)]
    pub email: String,
    /// Whether they accepted the newsletter.
    pub newsletter: bool,
    /// How they signed up, from version 1.1 on.
    #[event(since = "1.1")]
    pub method: Option<String>,
}

/// A payment went through.
#[derive(Event)]
#[event(kind = "business")]
pub struct PaymentCaptured {
    /// In the smallest unit of the currency.
    pub amount_cents: u64,
    /// ISO 4217.
    pub currency: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/event-schemas".to_owned());
    // Linked into the binary, so the catalog lists them.
    let _ = (UserSignedUp::schema(), PaymentCaptured::schema());
    let written = event_core::export_schemas(&dir)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(())
}
