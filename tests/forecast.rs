//! The run-out forecast on fixed series, against answers worked out by
//! hand from the model in `src/forecast.rs` (average rate of the period so
//! far, carried to the reset; a cap reached at that rate).

use ai_budget::forecast::{forecast, forecast_of, ForecastBasis, ForecastInput, MIN_ELAPSED_MS};
use ai_budget::{Budget, Period};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// An instant in April 2027 (30 days, from Thursday the 1st).
fn april(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 4, day, hour, minute, 0).unwrap()
}

/// April 2027 as a month's window, at `now`, with `used` of `hard_cap`.
fn in_april(now: DateTime<Utc>, used: u64, hard_cap: u64) -> ForecastInput {
    ForecastInput {
        start: april(1, 0, 0),
        end: Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap(),
        now,
        used,
        hard_cap,
        rate_per_hour: None,
    }
}

/// The sum of a daily series: what the period used by the end of its last day.
fn used_by(days: &[u64]) -> u64 {
    days.iter().sum()
}

#[test]
fn a_flat_series_projects_its_daily_rate_to_the_reset() {
    // 240 a day for 10 days: 2,400 used at the start of the 11th.
    let days = [240; 10];
    let f = forecast(&in_april(april(11, 0, 0), used_by(&days), 6_000));
    assert_eq!(f.basis, ForecastBasis::PeriodAverage);
    assert_eq!(f.rate_per_hour, 10);
    // 2,400 + 20 days × 240 = 7,200.
    assert_eq!(f.projected_used, 7_200);
    // 3,600 left at 240 a day: 15 days on, the 26th at midnight.
    assert_eq!(f.run_out_at, Some(april(26, 0, 0)));
    assert!(f.runs_out_before_reset());
}

#[test]
fn a_cap_the_rate_does_not_reach_before_the_reset_has_no_run_out() {
    let f = forecast(&in_april(april(11, 0, 0), 2_400, 7_201));
    assert_eq!(f.projected_used, 7_200);
    assert_eq!(f.run_out_at, None);
    assert!(!f.runs_out_before_reset());
}

#[test]
fn reaching_the_cap_exactly_at_the_reset_is_not_running_out() {
    // At 240 a day the 7,200th unit is used at the reset's instant: the
    // period ends with the cap just reached, not exceeded early.
    let f = forecast(&in_april(april(11, 0, 0), 2_400, 7_200));
    assert_eq!(f.projected_used, 7_200);
    assert_eq!(f.run_out_at, None);
}

#[test]
fn a_growing_series_is_projected_at_its_average_not_its_last_day() {
    // 10, 20, ..., 100: 550 in 10 days, so 55 a day, however steep the
    // last days were (the model is the period's average, by design).
    let days: Vec<u64> = (1..=10).map(|d| d * 10).collect();
    let f = forecast(&in_april(april(11, 0, 0), used_by(&days), 1_500));
    assert_eq!(f.projected_used, 550 + 20 * 55);
    // 950 left at 55 a day: 17.27... days, so 17 days 6 h 32 min 43.637 s,
    // rounded up to the millisecond.
    let wait_ms = (950u64 * 10 * 86_400_000).div_ceil(550);
    assert_eq!(
        f.run_out_at,
        Some(april(11, 0, 0) + Duration::milliseconds(wait_ms as i64))
    );
    assert_eq!(
        f.run_out_at.unwrap().to_rfc3339(),
        "2027-04-28T06:32:43.637+00:00"
    );
}

#[test]
fn a_burst_then_silence_is_spread_over_the_period_so_far() {
    // 900 in the first hour of the 1st, nothing for 9 days and 23 hours.
    let f = forecast(&in_april(april(11, 0, 0), 900, 10_000));
    assert_eq!(f.projected_used, 2_700);
    assert_eq!(f.rate_per_hour, 3);
    assert_eq!(f.run_out_at, None);
}

#[test]
fn a_period_just_started_is_too_early_to_take_a_rate_from() {
    let f = forecast(&in_april(april(1, 0, 30), 500, 1_000));
    assert_eq!(f.basis, ForecastBasis::TooEarly);
    assert_eq!(f.rate_per_hour, 0);
    assert_eq!(f.projected_used, 500);
    assert_eq!(f.run_out_at, None);

    // From one hour in, the average counts.
    let start = april(1, 0, 0);
    let hour_in = start + Duration::milliseconds(MIN_ELAPSED_MS);
    let f = forecast(&in_april(hour_in, 10, 100_000));
    assert_eq!(f.basis, ForecastBasis::PeriodAverage);
    assert_eq!(f.rate_per_hour, 10);
    assert_eq!(f.projected_used, 10 * 24 * 30);
}

#[test]
fn an_empty_period_projects_nothing_and_never_runs_out() {
    let f = forecast(&in_april(april(20, 12, 0), 0, 1_000));
    assert_eq!(f.basis, ForecastBasis::PeriodAverage);
    assert_eq!(f.rate_per_hour, 0);
    assert_eq!(f.projected_used, 0);
    assert_eq!(f.run_out_at, None);
}

#[test]
fn a_port_at_or_over_its_hard_cap_ran_out_now() {
    let now = april(3, 8, 0);
    for used in [1_000, 1_001] {
        let f = forecast(&in_april(now, used, 1_000));
        assert_eq!(f.run_out_at, Some(now), "used {used}");
    }
    // Even too early to take a rate from: the cap is reached.
    let now = april(1, 0, 1);
    assert_eq!(forecast(&in_april(now, 1_000, 1_000)).run_out_at, Some(now));
}

#[test]
fn a_given_rate_replaces_the_average() {
    // 2,400 used by the 11th; what if the rate were 30 an hour?
    let mut input = in_april(april(11, 0, 0), 2_400, 20_000);
    input.rate_per_hour = Some(30);
    let f = forecast(&input);
    assert_eq!(f.basis, ForecastBasis::GivenRate);
    assert_eq!(f.rate_per_hour, 30);
    assert_eq!(f.projected_used, 2_400 + 30 * 24 * 20);
    assert_eq!(f.run_out_at, None);

    input.rate_per_hour = Some(100);
    let f = forecast(&input);
    // 17,600 left at 100 an hour: 176 hours, 7 days 8 hours.
    assert_eq!(f.run_out_at, Some(april(18, 8, 0)));

    // A given rate projects even when the average would be too early.
    let mut early = in_april(april(1, 0, 10), 0, 1_000);
    early.rate_per_hour = Some(10);
    assert_eq!(forecast(&early).projected_used, 7_200 - 2);
}

#[test]
fn instants_outside_the_period_are_clamped_into_it() {
    // Before the start: nothing elapsed, nothing projected.
    let f = forecast(&in_april(april(1, 0, 0) - Duration::days(2), 0, 1_000));
    assert_eq!(f.basis, ForecastBasis::TooEarly);
    assert_eq!(f.projected_used, 0);
    // At the reset: nothing remains, so the projection is the usage.
    let end = Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap();
    let f = forecast(&in_april(end, 3_000, 5_000));
    assert_eq!(f.projected_used, 3_000);
    assert_eq!(f.run_out_at, None);
}

#[test]
fn huge_amounts_saturate_at_the_exact_range() {
    let max = ai_budget::amount::MAX_AMOUNT;
    let f = forecast(&in_april(april(2, 0, 0), max, max));
    assert_eq!(f.projected_used, max);
    let mut input = in_april(april(2, 0, 0), 1, max);
    input.rate_per_hour = Some(u64::MAX);
    let f = forecast(&input);
    assert_eq!(f.projected_used, max);
    assert_eq!(f.rate_per_hour, max);
    assert!(f.run_out_at.is_some());
}

#[test]
fn a_budget_forecasts_over_the_period_cap_status_reports() {
    let budget = Budget {
        enabled: true,
        soft_cap_tokens: 500,
        hard_cap_tokens: 1_000,
        period: Period::Week,
        ..Budget::default()
    };
    // Wednesday 2027-04-07 12:00: 2.5 days into the week from Monday the 5th.
    let now = april(7, 12, 0);
    let f = forecast_of(&budget, 600, now, None).unwrap();
    assert_eq!(f.rate_per_hour, 10);
    // 600 + 4.5 days × 240 = 1,680; 400 left at 10 an hour: 40 hours on.
    assert_eq!(f.projected_used, 1_680);
    assert_eq!(f.run_out_at, Some(april(9, 4, 0)));

    let disabled = Budget {
        enabled: false,
        ..budget
    };
    assert_eq!(forecast_of(&disabled, 600, now, None), None);
}
