//! What the native integration tests share: the tests' one clock, and a
//! real SQLite for the port gate's and the ledger's SQL.
#![allow(dead_code)]

#[cfg(not(target_arch = "wasm32"))]
pub mod port;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod sqlite;

use chrono::{DateTime, Utc};

/// The instant a test runs at: `TEST_NOW` (RFC 3339) when it is set, else
/// `default`, the suite's own fixed instant. Never the wall clock.
///
/// # Panics
/// When `TEST_NOW` is set but is not an RFC 3339 instant: a run meant for
/// one instant must not quietly run at another.
pub fn test_now(default: DateTime<Utc>) -> DateTime<Utc> {
    match std::env::var("TEST_NOW") {
        Ok(text) if !text.trim().is_empty() => DateTime::parse_from_rfc3339(text.trim())
            .unwrap_or_else(|e| panic!("TEST_NOW must be an RFC 3339 instant ({text:?}: {e})"))
            .with_timezone(&Utc),
        _ => default,
    }
}
