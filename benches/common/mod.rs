//! The benchmarks' event: a login attempt with ten fields, two of them treated.

use std::net::IpAddr;

use event_core::Event;

/// A login attempt.
#[derive(Event)]
#[event(kind = "security")]
pub struct LoginAttempted {
    pub user_id: String,
    pub session_id: String,
    #[event(pii)]
    pub ip: IpAddr,
    pub user_agent: String,
    pub result: &'static str,
    pub failure_reason: &'static str,
    pub attempt_count: u32,
    pub latency_ms: f64,
    #[event(mask)]
    pub card_number: String,
    #[event(hash)]
    pub email: String,
}
