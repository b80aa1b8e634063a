//! Instants as the crate passes them around: epoch milliseconds in storage
//! and on the wire between the Worker and the ports' objects, ISO 8601 with
//! milliseconds in the API. Pure conversions; nothing here reads a clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// Epoch milliseconds of an instant.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant of epoch milliseconds (the epoch for one out of range).
pub fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// ISO 8601 with milliseconds, as the API writes instants
/// (`2026-11-28T17:00:00.000Z`).
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
