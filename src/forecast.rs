//! Where a period is heading: a projection of its end from its usage so far.
//!
//! The model is deliberately simple, so a person can check it by hand:
//!
//! - **The rate** is the period's average so far: what was used divided by
//!   the time elapsed since the period began. A caller may give a rate
//!   instead (the admin page's "what if" box).
//! - **The projection** carries that rate to the reset:
//!   `projected = used + rate × (reset − now)`, rounded down.
//! - **The run-out instant** is when, at that rate, the usage reaches the
//!   hard cap: `now + (hard cap − used) / rate`, rounded up to the
//!   millisecond; none when that is at or after the reset, or the rate is 0.
//!   A port already at or above its hard cap ran out `now`.
//! - **Too early to tell:** in the period's first [`MIN_ELAPSED_MS`] the
//!   average says more about one call than about a rate, so no rate is
//!   taken from it (a given rate still projects).
//!
//! Everything is integer arithmetic on the budget's base unit (tokens, or
//! micro-dollars), so the Worker, the package and the page agree to the
//! unit and to the millisecond.

use chrono::{DateTime, Utc};

use crate::amount::MAX_AMOUNT;
use crate::budget::Budget;
use crate::time::{instant, ms};

/// How long a period must have run before its average is taken as a rate:
/// one hour.
pub const MIN_ELAPSED_MS: i64 = 60 * 60 * 1000;

/// Milliseconds in an hour: rates are given and answered per hour.
const HOUR_MS: u128 = 60 * 60 * 1000;

/// What a projection starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForecastInput {
    /// The first instant of the period.
    pub start: DateTime<Utc>,
    /// The reset: the first instant after the period.
    pub end: DateTime<Utc>,
    /// The instant the projection is made at.
    pub now: DateTime<Utc>,
    /// Used so far in the period (held amounts are not usage yet).
    pub used: u64,
    /// The hard cap.
    pub hard_cap: u64,
    /// A rate to project with instead of the period's average, per hour.
    pub rate_per_hour: Option<u64>,
}

/// Where the rate of a [`Forecast`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForecastBasis {
    /// The period's average so far.
    PeriodAverage,
    /// The rate the caller gave.
    GivenRate,
    /// The period began less than [`MIN_ELAPSED_MS`] ago and no rate was
    /// given: nothing is projected beyond what is used.
    TooEarly,
}

impl ForecastBasis {
    /// `period-average`, `given-rate` or `too-early`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ForecastBasis::PeriodAverage => "period-average",
            ForecastBasis::GivenRate => "given-rate",
            ForecastBasis::TooEarly => "too-early",
        }
    }
}

/// A period's projected end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forecast {
    /// Where the rate came from.
    pub basis: ForecastBasis,
    /// The rate projected with, per hour, rounded down (0 when too early).
    pub rate_per_hour: u64,
    /// The usage the period would end with at that rate (at most
    /// [`MAX_AMOUNT`]).
    pub projected_used: u64,
    /// When the hard cap would be reached at that rate; `None` when not
    /// before the reset.
    pub run_out_at: Option<DateTime<Utc>>,
}

impl Forecast {
    /// True when the port is projected to reach its hard cap before the
    /// reset (or already has).
    pub fn runs_out_before_reset(&self) -> bool {
        self.run_out_at.is_some()
    }
}

/// Projects the period of `input` to its end (see the module's model).
///
/// `now` is clamped into the period: before its start nothing has elapsed,
/// at or after its end nothing remains.
///
/// # Example
/// ```
/// use ai_budget::forecast::{forecast, ForecastInput};
/// use chrono::{TimeZone, Utc};
///
/// // 10 days into a 30-day month, 400 of 1,000 used: 40 a day.
/// let f = forecast(&ForecastInput {
///     start: Utc.with_ymd_and_hms(2027, 4, 1, 0, 0, 0).unwrap(),
///     end: Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap(),
///     now: Utc.with_ymd_and_hms(2027, 4, 11, 0, 0, 0).unwrap(),
///     used: 400,
///     hard_cap: 1_000,
///     rate_per_hour: None,
/// });
/// assert_eq!(f.projected_used, 1_200);
/// // The 600 left last 15 days: out on the 26th, 5 days before the reset.
/// assert_eq!(f.run_out_at, Some(Utc.with_ymd_and_hms(2027, 4, 26, 0, 0, 0).unwrap()));
/// ```
pub fn forecast(input: &ForecastInput) -> Forecast {
    let start = ms(input.start);
    let end = ms(input.end).max(start);
    let now = ms(input.now).clamp(start, end);
    let elapsed = u128::from((now - start).unsigned_abs());
    let left = u128::from((end - now).unsigned_abs());
    let used = u128::from(input.used);

    // The rate as a fraction: `per` amount every `over` milliseconds.
    let (basis, per, over) = match input.rate_per_hour {
        Some(rate) => (ForecastBasis::GivenRate, u128::from(rate), HOUR_MS),
        None if elapsed < MIN_ELAPSED_MS as u128 => (ForecastBasis::TooEarly, 0, 1),
        None => (ForecastBasis::PeriodAverage, used, elapsed),
    };
    let rate_per_hour = saturate(per * HOUR_MS / over);
    let projected_used = saturate(used + per * left / over);
    let run_out_at = if input.used >= input.hard_cap {
        Some(instant(now))
    } else if per == 0 {
        None
    } else {
        let short = u128::from(input.hard_cap - input.used);
        let wait = (short * over).div_ceil(per);
        (wait < left).then(|| instant(now + wait as i64))
    };
    Forecast {
        basis,
        rate_per_hour,
        projected_used,
        run_out_at,
    }
}

/// `value`, or [`MAX_AMOUNT`] when it is larger.
fn saturate(value: u128) -> u64 {
    u64::try_from(value).map_or(MAX_AMOUNT, |v| v.min(MAX_AMOUNT))
}

/// The forecast of a port with `budget` that used `used` in the period
/// containing `now` (the period [`cap_status`](crate::cap_status) reports);
/// `None` when the budget is disabled, since nothing runs out.
pub fn forecast_of(
    budget: &Budget,
    used: u64,
    now: DateTime<Utc>,
    rate_per_hour: Option<u64>,
) -> Option<Forecast> {
    if !budget.enabled {
        return None;
    }
    let window = budget.period.window(now);
    Some(forecast(&ForecastInput {
        start: window.start,
        end: window.end,
        now,
        used,
        hard_cap: budget.hard_cap(),
        rate_per_hour,
    }))
}
