//! The benchmarks' event: a login attempt with ten fields, two of them treated, and the
//! inputs every stack builds it from.
#![allow(dead_code)] // each bench uses part of this

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

/// The `user_agent` of every event.
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0";

/// The `result` field of event `i`.
pub fn outcome(i: u64) -> &'static str {
    if i.is_multiple_of(3) {
        "success"
    } else {
        "failure"
    }
}

/// Inputs shared by every stack, built before any measurement.
pub struct Inputs {
    pub users: Vec<String>,
    pub sessions: Vec<String>,
    pub emails: Vec<String>,
    pub ip: IpAddr,
}

impl Inputs {
    pub fn new() -> Self {
        Inputs {
            users: (0..64).map(|i| format!("user-{i:05}")).collect(),
            sessions: (0..64).map(|i| format!("sess-{i:08x}")).collect(),
            emails: (0..64).map(|i| format!("user{i}@example.com")).collect(),
            ip: "203.0.113.9".parse().unwrap(),
        }
    }

    pub fn user(&self, i: u64) -> &str {
        &self.users[(i % 64) as usize]
    }
    pub fn session(&self, i: u64) -> &str {
        &self.sessions[(i % 64) as usize]
    }
    pub fn email(&self, i: u64) -> &str {
        &self.emails[(i % 64) as usize]
    }

    pub fn event(&self, i: u64) -> LoginAttempted {
        LoginAttempted {
            user_id: self.user(i).to_owned(),
            session_id: self.session(i).to_owned(),
            ip: self.ip,
            user_agent: USER_AGENT.to_owned(),
            result: outcome(i),
            failure_reason: "bad_password",
            attempt_count: (i % 5) as u32,
            latency_ms: (i % 1000) as f64 * 0.25,
            card_number: "4111111111111111".to_owned(),
            email: self.email(i).to_owned(),
        }
    }
}

/// The CPU time of `clock` (`CLOCK_THREAD_CPUTIME_ID`: this thread; `CLOCK_PROCESS_CPUTIME_ID`:
/// all threads of the process), in ns.
pub fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; both clocks exist on Linux.
    let ok = unsafe { libc::clock_gettime(clock, &mut now) } == 0;
    assert!(ok, "clock_gettime");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
