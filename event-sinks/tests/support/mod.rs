//! The workspace's shared test events and sinks, and an HTTP receiver with scripted faults.
#![allow(dead_code)]

#[path = "../../../tests/support/mod.rs"]
mod shared;

// Not every test binary uses the shared events.
#[allow(unused_imports)]
pub use shared::*;

pub mod http_server;
pub mod tmpfs;
