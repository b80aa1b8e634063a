//! The Worker's one clock: every instant and every elapsed time the Worker
//! uses comes from here, and everything below takes them as parameters.
//!
//! A request's instants come from its [`Clock`]: the runtime's clock, or,
//! when the test seams are on (`FAULT_INJECTION=on`, never in production),
//! the fixed instant of the request's `x-now` header (RFC 3339). A fixed
//! clock stays fixed for the request's whole life, its settlement after the
//! answer included, so a test runs as if it were that instant.
//!
//! A port's object keeps the clock of its latest request for its alarm:
//! [`Clock::Shifted`], the runtime's clock moved by the distance the tests'
//! fixed instant set, so the alarm runs on the same clock as the requests.
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
    /// The runtime's clock moved by this many milliseconds (tests only: a
    /// port's object running on from its latest request's fixed instant).
    Shifted(i64),
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
            .and_then(|h| crate::time::parse_rfc3339(h.trim()))
            .map_or(Clock::System, Clock::Fixed)
    }

    /// The current instant by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => instant_of_ms(system_ms()),
            Clock::Fixed(at) => *at,
            Clock::Shifted(by) => instant_of_ms(system_ms() + *by as f64),
        }
    }

    /// The clock that goes on from this one: a fixed clock becomes the
    /// runtime's shifted to it now; the others stay as they are.
    pub fn running_on(&self) -> Clock {
        match self {
            Clock::Fixed(at) => Clock::Shifted(at.timestamp_millis() - system_ms() as i64),
            other => *other,
        }
    }

    /// The runtime's instant (epoch ms, as an alarm is set) of an instant
    /// `at_ms` by this clock.
    pub fn runtime_ms(&self, at_ms: i64) -> f64 {
        match self {
            Clock::Shifted(by) => (at_ms - by) as f64,
            Clock::Fixed(at) => (at_ms - at.timestamp_millis()) as f64 + system_ms(),
            Clock::System => at_ms as f64,
        }
    }

    /// The `x-now` value that carries this clock to another part of the
    /// Worker (the port's Durable Object), if it is fixed.
    pub fn header_value(&self) -> Option<String> {
        match self {
            Clock::System => None,
            Clock::Fixed(at) => Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Clock::Shifted(_) => Some(
                self.now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
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
