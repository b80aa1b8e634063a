//! Periods: UTC calendar windows, their starts, ends (resets) and edges.

use ai_budget::{ErrorCode, Period, PeriodWindow};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// An instant to the millisecond, in UTC.
fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + Duration::milliseconds(ms)
}

/// Midnight UTC opening the given day.
fn midnight(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    at(y, mo, d, 0, 0, 0, 0)
}

/// The last millisecond of the given day.
fn last_ms(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    at(y, mo, d, 23, 59, 59, 999)
}

fn assert_window(period: Period, t: DateTime<Utc>, start: DateTime<Utc>, end: DateTime<Utc>) {
    assert_eq!(period.start(t), start, "{period} start of {t}");
    assert_eq!(period.end(t), end, "{period} end of {t}");
    let calendar = ai_budget::Calendar::UTC;
    assert_eq!(
        period.window(t),
        PeriodWindow {
            period,
            calendar,
            start,
            end
        }
    );
}

#[test]
fn a_day_runs_from_its_midnight_to_the_next() {
    assert_window(
        Period::Day,
        at(2026, 11, 28, 17, 30, 0, 0),
        midnight(2026, 11, 28),
        midnight(2026, 11, 29),
    );
}

#[test]
fn the_first_instant_of_a_day_belongs_to_it() {
    let t = midnight(2026, 3, 9);
    assert_window(Period::Day, t, t, midnight(2026, 3, 10));
}

#[test]
fn the_last_millisecond_of_a_day_belongs_to_it() {
    assert_window(
        Period::Day,
        last_ms(2026, 3, 9),
        midnight(2026, 3, 9),
        midnight(2026, 3, 10),
    );
}

#[test]
fn a_week_starts_on_monday_for_every_day_of_it() {
    // 2026-11-23 is a Monday.
    for d in 23..=29 {
        for t in [
            midnight(2026, 11, d),
            at(2026, 11, d, 12, 0, 0, 0),
            last_ms(2026, 11, d),
        ] {
            assert_window(
                Period::Week,
                t,
                midnight(2026, 11, 23),
                midnight(2026, 11, 30),
            );
        }
    }
}

#[test]
fn the_last_millisecond_of_a_sunday_belongs_to_the_week_that_began_on_monday() {
    // 2024-03-10 is a Sunday.
    assert_window(
        Period::Week,
        last_ms(2024, 3, 10),
        midnight(2024, 3, 4),
        midnight(2024, 3, 11),
    );
}

#[test]
fn monday_midnight_exactly_starts_a_new_week() {
    let monday = midnight(2024, 3, 11);
    assert_window(Period::Week, monday, monday, midnight(2024, 3, 18));
}

#[test]
fn a_week_that_spans_a_month_end_starts_in_the_earlier_month() {
    // Sunday 1 March 2026 belongs to the week of Monday 23 February.
    assert_window(
        Period::Week,
        at(2026, 3, 1, 8, 0, 0, 0),
        midnight(2026, 2, 23),
        midnight(2026, 3, 2),
    );
}

#[test]
fn a_week_that_spans_a_year_end_starts_in_the_earlier_year() {
    // Thursday 1 January 2026 belongs to the week of Monday 29 December 2025.
    assert_window(
        Period::Week,
        midnight(2026, 1, 1),
        midnight(2025, 12, 29),
        midnight(2026, 1, 5),
    );
}

#[test]
fn a_month_runs_from_the_first_to_the_first_of_the_next() {
    assert_window(
        Period::Month,
        at(2026, 11, 28, 17, 30, 0, 0),
        midnight(2026, 11, 1),
        midnight(2026, 12, 1),
    );
}

#[test]
fn the_first_instant_of_a_month_belongs_to_it() {
    let t = midnight(2026, 7, 1);
    assert_window(Period::Month, t, t, midnight(2026, 8, 1));
}

#[test]
fn the_last_millisecond_of_a_31_day_month_belongs_to_it() {
    assert_window(
        Period::Month,
        last_ms(2026, 1, 31),
        midnight(2026, 1, 1),
        midnight(2026, 2, 1),
    );
}

#[test]
fn the_last_millisecond_of_a_30_day_month_belongs_to_it() {
    assert_window(
        Period::Month,
        last_ms(2026, 4, 30),
        midnight(2026, 4, 1),
        midnight(2026, 5, 1),
    );
}

#[test]
fn february_of_a_common_year_ends_after_the_28th() {
    assert_window(
        Period::Month,
        last_ms(2026, 2, 28),
        midnight(2026, 2, 1),
        midnight(2026, 3, 1),
    );
    assert_eq!(Period::Day.end(last_ms(2026, 2, 28)), midnight(2026, 3, 1));
}

#[test]
fn february_29_of_a_leap_year_belongs_to_february() {
    let leap_day = at(2024, 2, 29, 12, 0, 0, 0);
    assert_window(
        Period::Month,
        leap_day,
        midnight(2024, 2, 1),
        midnight(2024, 3, 1),
    );
    assert_window(
        Period::Day,
        leap_day,
        midnight(2024, 2, 29),
        midnight(2024, 3, 1),
    );
    assert_eq!(Period::Day.end(last_ms(2024, 2, 28)), midnight(2024, 2, 29));
}

#[test]
fn the_year_1900_has_no_february_29() {
    // Divisible by 100 and not by 400: a common year.
    assert_eq!(Period::Day.end(last_ms(1900, 2, 28)), midnight(1900, 3, 1));
    assert_eq!(
        Period::Month.end(last_ms(1900, 2, 28)),
        midnight(1900, 3, 1)
    );
}

#[test]
fn the_year_2000_has_a_february_29() {
    // Divisible by 400: a leap year.
    assert_eq!(Period::Day.end(last_ms(2000, 2, 28)), midnight(2000, 2, 29));
    assert_window(
        Period::Month,
        last_ms(2000, 2, 29),
        midnight(2000, 2, 1),
        midnight(2000, 3, 1),
    );
}

#[test]
fn december_31_rolls_over_to_january_1_of_the_next_year() {
    let t = last_ms(2026, 12, 31);
    assert_window(Period::Day, t, midnight(2026, 12, 31), midnight(2027, 1, 1));
    assert_window(
        Period::Month,
        t,
        midnight(2026, 12, 1),
        midnight(2027, 1, 1),
    );
}

#[test]
fn instants_before_1970_fall_in_their_calendar_windows() {
    // 1 January 1970 was a Thursday, so that week began on Monday 29 December 1969.
    let t = last_ms(1969, 12, 31);
    assert!(t.timestamp_millis() < 0);
    assert_window(Period::Day, t, midnight(1969, 12, 31), midnight(1970, 1, 1));
    assert_window(
        Period::Week,
        t,
        midnight(1969, 12, 29),
        midnight(1970, 1, 5),
    );
    assert_window(
        Period::Month,
        t,
        midnight(1969, 12, 1),
        midnight(1970, 1, 1),
    );
    assert_window(
        Period::Week,
        at(1815, 6, 18, 11, 0, 0, 0),
        midnight(1815, 6, 12),
        midnight(1815, 6, 19),
    );
}

#[test]
fn the_end_of_the_last_representable_period_is_the_largest_instant() {
    let last = DateTime::<Utc>::MAX_UTC;
    for period in Period::ALL {
        assert_eq!(period.end(last), last, "{period}");
        assert!(period.start(last) <= last, "{period}");
    }
}

#[test]
fn a_window_contains_its_start_but_not_its_end() {
    let window = Period::Day.window(at(2026, 5, 5, 10, 0, 0, 0));
    assert!(window.contains(window.start));
    assert!(window.contains(window.end - Duration::milliseconds(1)));
    assert!(!window.contains(window.end));
    assert!(!window.contains(window.start - Duration::milliseconds(1)));
}

#[test]
fn seconds_until_reset_counts_whole_seconds_to_the_end() {
    let window = Period::Day.window(midnight(2026, 5, 5));
    assert_eq!(window.seconds_until_reset(midnight(2026, 5, 5)), 86_400);
    assert_eq!(
        window.seconds_until_reset(at(2026, 5, 5, 23, 0, 0, 0)),
        3_600
    );
}

#[test]
fn seconds_until_reset_rounds_a_partial_second_up() {
    let window = Period::Day.window(midnight(2026, 5, 5));
    assert_eq!(window.seconds_until_reset(last_ms(2026, 5, 5)), 1);
    assert_eq!(
        window.seconds_until_reset(at(2026, 5, 5, 23, 59, 58, 500)),
        2
    );
    // A fraction of a millisecond still counts as a second to wait.
    let just_before = window.end - Duration::seconds(1) - Duration::nanoseconds(1);
    assert_eq!(window.seconds_until_reset(just_before), 2);
}

#[test]
fn seconds_until_reset_is_never_below_one() {
    let window = Period::Day.window(midnight(2026, 5, 5));
    assert_eq!(window.seconds_until_reset(window.end), 1);
    assert_eq!(
        window.seconds_until_reset(window.end + Duration::hours(5)),
        1
    );
}

fn days(window: &PeriodWindow) -> Vec<NaiveDate> {
    window.days().map(|(day, _)| day).collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn a_day_window_covers_one_day() {
    let window = Period::Day.window(at(2026, 5, 5, 13, 0, 0, 0));
    assert_eq!(days(&window), vec![date(2026, 5, 5)]);
}

#[test]
fn a_week_window_covers_monday_to_sunday() {
    let window = Period::Week.window(at(2025, 12, 31, 13, 0, 0, 0));
    let expected: Vec<NaiveDate> = (0..7)
        .map(|i| date(2025, 12, 29) + Duration::days(i))
        .collect();
    assert_eq!(days(&window), expected);
    assert_eq!(expected[6], date(2026, 1, 4));
}

#[test]
fn a_month_window_covers_each_day_of_the_month() {
    for (y, m, len) in [
        (2024, 2, 29),
        (2023, 2, 28),
        (1900, 2, 28),
        (2026, 4, 30),
        (2026, 12, 31),
    ] {
        let window = Period::Month.window(at(y, m, 15, 0, 0, 0, 0));
        let covered = days(&window);
        assert_eq!(covered.len(), len, "{y}-{m}");
        assert_eq!(covered.first(), Some(&date(y, m, 1)));
        assert_eq!(covered.last(), Some(&date(y, m, len as u32)));
    }
}

#[test]
fn periods_parse_from_their_exact_names() {
    for period in Period::ALL {
        assert_eq!(period.as_str().parse::<Period>(), Ok(period));
        assert_eq!(period.to_string(), period.as_str());
    }
    assert_eq!(Period::ALL.map(Period::as_str), ["day", "week", "month"]);
}

#[test]
fn an_unknown_period_name_is_an_error_about_the_period() {
    for name in ["fortnight", "Day", "MONTH", " week", "", "days"] {
        let err = name.parse::<Period>().unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnknownPeriod, "{name:?}");
        assert_eq!(err.field(), Some("period"));
        assert!(
            err.message().contains("\"day\", \"week\", \"month\""),
            "{}",
            err.message()
        );
    }
}

#[test]
fn the_default_period_is_a_month() {
    assert_eq!(Period::default(), Period::Month);
}

#[test]
fn periods_serialize_as_their_lowercase_names() {
    assert_eq!(serde_json::to_string(&Period::Week).unwrap(), "\"week\"");
    assert_eq!(
        serde_json::from_str::<Period>("\"day\"").unwrap(),
        Period::Day
    );
}
