//! Budget periods: calendar windows that tile time without gaps (UTC
//! unless a port's [`Calendar`] says otherwise).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Calendar, Error, ErrorCode};

/// The calendar window a budget counts over, in UTC.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// From 00:00 UTC to the next 00:00 UTC.
    Day,
    /// From Monday 00:00 UTC to the next Monday 00:00 UTC.
    Week,
    /// From the 1st of the month, 00:00 UTC, to the 1st of the next month.
    #[default]
    Month,
}

impl Period {
    /// Every period, shortest first.
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// The period's name as stored and sent: `day`, `week` or `month`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The instant the period containing `at` began (inclusive).
    ///
    /// # Example
    /// ```
    /// use ai_budget::Period;
    /// use chrono::{TimeZone, Utc};
    ///
    /// // A Sunday, one millisecond before midnight: still last week's window.
    /// let at = Utc.with_ymd_and_hms(2024, 3, 10, 23, 59, 59).unwrap()
    ///     + chrono::Duration::milliseconds(999);
    /// assert_eq!(Period::Week.start(at), Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap());
    /// ```
    pub fn start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        Calendar::UTC.start(self, at)
    }

    /// The instant the period containing `at` ends (exclusive): when the
    /// budget resets (UTC; [`Calendar::end`] in a port's calendar).
    ///
    /// At the very end of chrono's range, where the next period cannot be
    /// represented, this is the largest representable instant.
    pub fn end(self, at: DateTime<Utc>) -> DateTime<Utc> {
        Calendar::UTC.end(self, at)
    }

    /// The window (start and end) of the period containing `at`, in UTC
    /// ([`Calendar::window`] in a port's calendar).
    pub fn window(self, at: DateTime<Utc>) -> PeriodWindow {
        Calendar::UTC.window(self, at)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = Error;

    /// Parses `day`, `week` or `month` (exactly; no other spelling).
    fn from_str(s: &str) -> Result<Period, Error> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            _ => Err(Error::new(
                ErrorCode::UnknownPeriod,
                Some("period"),
                format!("period must be one of \"day\", \"week\", \"month\" (got {s:?})"),
            )),
        }
    }
}

/// Whole seconds from `now` until `reset`, rounded up: the value of an
/// HTTP `Retry-After`. Never below 1, even once `reset` has passed, so a
/// client is never told to retry in a hot loop.
pub fn seconds_until(reset: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let left = reset - now;
    if left <= chrono::TimeDelta::zero() {
        return 1;
    }
    // Round up on any fraction, down to the nanosecond: a client told to
    // come back must never come back before the reset.
    let whole = left.num_seconds() as u64;
    let partial = u64::from(left.subsec_nanos() > 0);
    (whole + partial).max(1)
}

/// One period's window: `start <= t < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeriodWindow {
    /// The kind of period.
    pub period: Period,
    /// The calendar whose period it is.
    pub calendar: Calendar,
    /// The first instant inside the window.
    pub start: DateTime<Utc>,
    /// The first instant after the window: the reset.
    pub end: DateTime<Utc>,
}

impl PeriodWindow {
    /// True when `at` falls inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// Whole seconds from `now` until the reset, rounded up: the value of an
    /// HTTP `Retry-After`. Never below 1, even once the window has closed, so
    /// a client is never told to retry in a hot loop.
    pub fn seconds_until_reset(&self, now: DateTime<Utc>) -> u64 {
        seconds_until(self.end, now)
    }

    /// The calendar's local days the window covers, in order, each with
    /// the instant it starts (for daily series).
    pub fn days(&self) -> impl Iterator<Item = (NaiveDate, DateTime<Utc>)> + '_ {
        let first = self.calendar.date_of(self.start);
        let end = self.end;
        let calendar = self.calendar;
        first
            .iter_days()
            .map(move |day| (day, calendar.day_start(day)))
            .take_while(move |(_, start)| *start < end)
    }
}
