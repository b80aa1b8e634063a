//! Rolling an endpoint's signing secret with an overlap: for a while after
//! a rotation each delivery carries a `v1=` signature under the new secret
//! and one under the retiring secret, so a receiver can switch its secret
//! at any time in that window without refusing an event; after it, only
//! the new one.
//!
//! The overlap's end is an instant; whether it has passed is judged on the
//! `now` the caller gives (the Worker's clock).

use chrono::{DateTime, Duration, Utc};

/// The overlap when a rotation names none: 24 hours.
pub const DEFAULT_OVERLAP_HOURS: u64 = 24;
/// The longest overlap a rotation may ask for: 7 days.
pub const MAX_OVERLAP_HOURS: u64 = 168;

/// A secret being retired: still signed with until `expires_at` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retiring<'a> {
    /// The secret before the rotation.
    pub secret: &'a str,
    /// The first instant it is no longer signed with.
    pub expires_at: DateTime<Utc>,
}

impl Retiring<'_> {
    /// True while deliveries at `now` still carry its signature.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// The secrets a delivery at `now` is signed with, newest first: the
/// current one, then the retiring one while its overlap lasts.
pub fn signing_secrets<'a>(
    current: &'a str,
    retiring: Option<Retiring<'a>>,
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    let mut secrets = vec![current];
    if let Some(old) = retiring.filter(|r| r.active(now) && r.secret != current) {
        secrets.push(old.secret);
    }
    secrets
}

/// When an overlap of `hours` begun at `now` ends.
pub fn overlap_end(now: DateTime<Utc>, hours: u64) -> DateTime<Utc> {
    let hours = i64::try_from(hours.min(MAX_OVERLAP_HOURS)).unwrap_or(0);
    now + Duration::hours(hours)
}

/// What a rotation at `now` keeps of the secret it replaces: `current`,
/// retiring at the overlap's end, or nothing for an overlap of 0 hours (the
/// old secret stops at once). A secret still retiring from an earlier
/// rotation is dropped: only the one just replaced overlaps.
pub fn retire(current: &str, now: DateTime<Utc>, hours: u64) -> Option<(String, DateTime<Utc>)> {
    (hours > 0).then(|| (current.to_owned(), overlap_end(now, hours)))
}
