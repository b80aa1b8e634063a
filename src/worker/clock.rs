//! The Worker's one clock: every instant and every elapsed time the Worker
//! uses comes from here, and everything below takes them as parameters.
//!
//! A request's instants come from its [`Clock`]: the runtime's clock, or,
//! when the test seams are on (`FAULT_INJECTION=on`, never in production),
//! the fixed instant of the request's `x-now` header (RFC 3339). A fixed
//! clock stays fixed for the request's whole life, its settlement after the
//! answer included, so a test runs as if it were that instant.
//!
//! Elapsed times (cache lifetimes, a stream's idle timeout) are real time
//! whatever the clock says: [`system_ms`] reads the runtime's clock for them.

use chrono::{DateTime, TimeZone, Utc};

/// The header a test sends to fix the Worker's clock.
pub const NOW_HEADER: &str = "x-now";

/// Where one request's instants come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The runtime's clock.
    System,
    /// A fixed instant (tests only: the `x-now` header).
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The clock of a request: fixed at its `x-now` header when the test
    /// seams are on and the header holds an RFC 3339 instant, else the
    /// runtime's.
    pub fn for_request(seams_on: bool, header: Option<&str>) -> Clock {
        if !seams_on {
            return Clock::System;
        }
        header
            .and_then(|h| DateTime::parse_from_rfc3339(h.trim()).ok())
            .map_or(Clock::System, |at| Clock::Fixed(at.with_timezone(&Utc)))
    }

    /// The current instant by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => instant_of_ms(system_ms()),
            Clock::Fixed(at) => *at,
        }
    }

    /// The `x-now` value that carries this clock to another part of the
    /// Worker (the port's Durable Object), if it is fixed.
    pub fn header_value(&self) -> Option<String> {
        match self {
            Clock::System => None,
            Clock::Fixed(at) => Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
    }
}

/// The runtime's clock in epoch milliseconds: for measuring real elapsed
/// time, and the one place the Worker reads the time of day.
pub fn system_ms() -> f64 {
    js_sys::Date::now()
}

/// The instant of epoch milliseconds (the epoch for a value out of range).
pub fn instant_of_ms(ms: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_default()
}
