//! A port's calendar: the time zone its days are counted in, the day its
//! weeks start on and the day of the month its months start on. Periods
//! ([`Period`]) are windows of a calendar; UTC with Monday weeks and months
//! from the 1st is the default, and gives exactly the UTC windows.
//!
//! A local day starts at local midnight, or, when a clock change skips
//! midnight, at the first instant that exists after it: a day lasts 23, 24
//! or 25 hours (23.5 or 24.5 where clocks move by half an hour). A month
//! whose length is short of the start day starts on its last day.

mod posix;
mod tzif;
mod zone;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, Utc, Weekday};

pub use zone::{database_version, load_database, Zone};

#[cfg(not(feature = "web"))]
pub use zone::bundled_database;

use crate::{Error, ErrorCode, Period, PeriodWindow};

/// Where a port's periods begin and end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Calendar {
    /// The zone whose local days make the periods.
    pub zone: Zone,
    /// The first day of a week.
    pub week_start: Weekday,
    /// The day of the month a month starts on, 1 to 31 (the month's last day
    /// when it has fewer days).
    pub month_start_day: u8,
}

impl Default for Calendar {
    /// UTC, weeks from Monday, months from the 1st.
    fn default() -> Calendar {
        Calendar::UTC
    }
}

impl Calendar {
    /// The default calendar: UTC, weeks from Monday, months from the 1st.
    pub const UTC: Calendar = Calendar {
        zone: Zone::UTC,
        week_start: Weekday::Mon,
        month_start_day: 1,
    };

    /// True for the default calendar.
    pub fn is_default(&self) -> bool {
        *self == Calendar::UTC
    }

    /// The local date of `at`.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        if self.zone.is_utc() {
            return at.date_naive();
        }
        let offset = i64::from(self.zone.offset_at(at.timestamp()));
        civil(at.timestamp() + offset).map_or(at.date_naive(), |dt| dt.date())
    }

    /// The instant the local day `date` starts.
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        let local = date.and_time(chrono::NaiveTime::MIN).and_utc();
        if self.zone.is_utc() {
            return local;
        }
        let t = self.zone.first_at_or_after(local.timestamp());
        DateTime::from_timestamp(t, 0).unwrap_or(local)
    }

    /// The instant the `period` containing `at` began (inclusive).
    pub fn start(&self, period: Period, at: DateTime<Utc>) -> DateTime<Utc> {
        self.day_start(self.start_date(period, self.date_of(at)))
    }

    /// The instant the `period` containing `at` ends (exclusive): when the
    /// budget resets. The largest instant at the end of chrono's range.
    pub fn end(&self, period: Period, at: DateTime<Utc>) -> DateTime<Utc> {
        self.end_after(period, self.start_date(period, self.date_of(at)))
    }

    /// The window of the `period` containing `at`.
    pub fn window(&self, period: Period, at: DateTime<Utc>) -> PeriodWindow {
        let start = self.start_date(period, self.date_of(at));
        PeriodWindow {
            period,
            calendar: *self,
            start: self.day_start(start),
            end: self.end_after(period, start),
        }
    }

    /// The reset of the `period` that began on the local date `start`.
    fn end_after(&self, period: Period, start: NaiveDate) -> DateTime<Utc> {
        let next = match period {
            Period::Day => start.checked_add_days(Days::new(1)),
            Period::Week => start.checked_add_days(Days::new(7)),
            Period::Month => start
                .with_day(1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .map(|month| self.month_start(month)),
        };
        next.map_or(DateTime::<Utc>::MAX_UTC, |d| self.day_start(d))
    }

    /// The local date the `period` containing the local date `date` began.
    fn start_date(&self, period: Period, date: NaiveDate) -> NaiveDate {
        match period {
            Period::Day => date,
            Period::Week => {
                let back = (7 + date.weekday().num_days_from_monday()
                    - self.week_start.num_days_from_monday())
                    % 7;
                date.checked_sub_days(Days::new(u64::from(back)))
                    .unwrap_or(NaiveDate::MIN)
            }
            Period::Month => {
                let this = self.month_start(date);
                if date >= this {
                    return this;
                }
                date.with_day(1)
                    .and_then(|first| first.checked_sub_months(Months::new(1)))
                    .map_or(NaiveDate::MIN, |month| self.month_start(month))
            }
        }
    }

    /// The day the month of `date` starts on in this calendar.
    fn month_start(&self, date: NaiveDate) -> NaiveDate {
        let mut day = u32::from(self.month_start_day).clamp(1, 31);
        loop {
            if let Some(d) = date.with_day(day) {
                return d;
            }
            day -= 1;
        }
    }
}

/// The local date and time of local seconds since the epoch.
pub(crate) fn civil(local: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(local, 0).map(|dt| dt.naive_utc())
}

/// A week day's name as stored and sent: `monday` to `sunday`.
pub fn week_day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// Reads a `weekStart` value: `monday` to `sunday`, exactly.
///
/// # Errors
/// `unknown-week-day` (field `weekStart`) for anything else.
pub fn week_day(name: &str) -> Result<Weekday, Error> {
    Ok(match name {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => {
            return Err(Error::new(
                ErrorCode::UnknownWeekDay,
                Some("weekStart"),
                "weekStart must be a week day in lower case, \"monday\" to \"sunday\"",
            ))
        }
    })
}

/// Reads a `monthStartDay` value: a whole number from 1 to 31.
///
/// # Errors
/// `invalid-value` (field `monthStartDay`) for anything else.
pub fn month_start_day(value: f64) -> Result<u8, Error> {
    if value.fract() == 0.0 && (1.0..=31.0).contains(&value) {
        return Ok(value as u8);
    }
    Err(Error::new(
        ErrorCode::InvalidValue,
        Some("monthStartDay"),
        "monthStartDay must be a whole number from 1 to 31",
    ))
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, weeks from {}, months from day {}",
            self.zone.name(),
            week_day_name(self.week_start),
            self.month_start_day
        )
    }
}

impl FromStr for Zone {
    type Err = Error;

    fn from_str(s: &str) -> Result<Zone, Error> {
        Zone::named(s)
    }
}

/// A change of a port's calendar in progress: until `until` (the reset the
/// previous calendar gave the period the change was saved in) periods
/// follow `previous`; from then on the new one. The first period under the
/// new calendar starts at `until` and ends at the new calendar's first
/// reset after it, so no instant belongs to two periods and none to none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CalendarChange {
    /// The calendar before the change.
    pub previous: Calendar,
    /// When the new calendar takes over.
    pub until: DateTime<Utc>,
}

impl CalendarChange {
    /// The window of `period` containing `at` when the calendar `next`
    /// follows this change.
    pub fn window(&self, next: &Calendar, period: Period, at: DateTime<Utc>) -> PeriodWindow {
        if at < self.until {
            let mut w = self.previous.window(period, at);
            w.end = w.end.min(self.until);
            w
        } else {
            let mut w = next.window(period, at);
            w.start = w.start.max(self.until);
            w
        }
    }
}
