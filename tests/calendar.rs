//! Port calendars: local days, weeks and months in a time zone, checked
//! against instants computed independently (with another time-zone
//! library over the IANA data), and the rules every window keeps.

// Native only: the property test and the bundled time-zone data.
#![cfg(not(target_arch = "wasm32"))]

use ai_budget::{Budget, Calendar, ErrorCode, Period, RawBudget, Zone};
use chrono::{DateTime, Duration, Utc, Weekday};
use proptest::prelude::*;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn zone(name: &str) -> Calendar {
    Calendar {
        zone: Zone::named(name).unwrap(),
        ..Calendar::UTC
    }
}

/// (zone, an instant inside the day, the day's start, its end, its length
/// in minutes).
const DAYS: &[(&str, &str, &str, &str, i64)] = &[
    // Clocks spring forward at 02:00: a 23-hour day.
    (
        "America/New_York",
        "2027-03-14T12:00:00Z",
        "2027-03-14T05:00:00Z",
        "2027-03-15T04:00:00Z",
        23 * 60,
    ),
    // And fall back at 02:00: a 25-hour day.
    (
        "America/New_York",
        "2027-11-07T12:00:00Z",
        "2027-11-07T04:00:00Z",
        "2027-11-08T05:00:00Z",
        25 * 60,
    ),
    (
        "Europe/London",
        "2027-03-28T12:00:00Z",
        "2027-03-28T00:00:00Z",
        "2027-03-28T23:00:00Z",
        23 * 60,
    ),
    // Half an hour: 23.5 and 24.5 hours.
    (
        "Australia/Lord_Howe",
        "2027-04-04T05:00:00Z",
        "2027-04-03T13:00:00Z",
        "2027-04-04T13:30:00Z",
        24 * 60 + 30,
    ),
    (
        "Australia/Lord_Howe",
        "2027-10-03T05:00:00Z",
        "2027-10-02T13:30:00Z",
        "2027-10-03T13:00:00Z",
        23 * 60 + 30,
    ),
    (
        "Asia/Kathmandu",
        "2027-06-01T00:00:00Z",
        "2027-05-31T18:15:00Z",
        "2027-06-01T18:15:00Z",
        24 * 60,
    ),
    (
        "Pacific/Chatham",
        "2027-04-04T00:00:00Z",
        "2027-04-03T10:15:00Z",
        "2027-04-04T11:15:00Z",
        25 * 60,
    ),
    // Midnight skipped: the day starts at 01:00 local.
    (
        "America/Asuncion",
        "2024-10-06T12:00:00Z",
        "2024-10-06T04:00:00Z",
        "2024-10-07T03:00:00Z",
        23 * 60,
    ),
    (
        "America/Santiago",
        "2027-09-05T12:00:00Z",
        "2027-09-05T04:00:00Z",
        "2027-09-06T03:00:00Z",
        23 * 60,
    ),
    (
        "America/Los_Angeles",
        "2027-03-14T12:00:00Z",
        "2027-03-14T08:00:00Z",
        "2027-03-15T07:00:00Z",
        23 * 60,
    ),
    (
        "Asia/Tokyo",
        "2027-01-01T03:00:00Z",
        "2026-12-31T15:00:00Z",
        "2027-01-01T15:00:00Z",
        24 * 60,
    ),
];

#[test]
fn local_days_start_at_local_midnight_or_the_first_instant_after_it() {
    for (name, inside, start, end, minutes) in DAYS {
        let c = zone(name);
        let w = c.window(Period::Day, t(inside));
        assert_eq!(
            (w.start, w.end),
            (t(start), t(end)),
            "{name} day of {inside}"
        );
        assert_eq!(
            (w.end - w.start).num_minutes(),
            *minutes,
            "{name} day length"
        );
        assert_eq!(c.start(Period::Day, t(inside)), t(start));
        assert_eq!(c.end(Period::Day, t(inside)), t(end));
        // Both edges: the first instant is in, the last before it is not.
        assert_eq!(c.window(Period::Day, t(start)).start, t(start));
        assert_eq!(
            c.window(Period::Day, t(start) - Duration::milliseconds(1))
                .end,
            t(start)
        );
    }
}

#[test]
fn a_month_straddling_a_change_of_the_zone_s_rules_follows_the_rules_in_force() {
    // Paraguay kept UTC-3 all year from October 2024: March 2025 no longer
    // ends on a clock change back to UTC-4.
    let c = zone("America/Asuncion");
    let oct = c.window(Period::Month, t("2024-10-15T00:00:00Z"));
    assert_eq!(
        (oct.start, oct.end),
        (t("2024-10-01T04:00:00Z"), t("2024-11-01T03:00:00Z"))
    );
    let march = c.window(Period::Month, t("2025-03-31T12:00:00Z"));
    assert_eq!(
        (march.start, march.end),
        (t("2025-03-01T03:00:00Z"), t("2025-04-01T03:00:00Z"))
    );
}

#[test]
fn a_month_start_day_missing_from_a_month_starts_it_on_its_last_day() {
    let on = |day: u8| Calendar {
        month_start_day: day,
        ..Calendar::UTC
    };
    // (start day, an instant, its month's start, its end): through
    // February of a leap year (2028) and a common one (2027).
    let cases: &[(u8, &str, &str, &str)] = &[
        (
            31,
            "2027-02-15T00:00:00Z",
            "2027-01-31T00:00:00Z",
            "2027-02-28T00:00:00Z",
        ),
        (
            31,
            "2027-02-28T00:00:00Z",
            "2027-02-28T00:00:00Z",
            "2027-03-31T00:00:00Z",
        ),
        (
            31,
            "2028-02-28T23:59:59Z",
            "2028-01-31T00:00:00Z",
            "2028-02-29T00:00:00Z",
        ),
        (
            31,
            "2028-02-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2028-03-31T00:00:00Z",
        ),
        (
            31,
            "2027-04-30T00:00:00Z",
            "2027-04-30T00:00:00Z",
            "2027-05-31T00:00:00Z",
        ),
        (
            30,
            "2027-03-01T00:00:00Z",
            "2027-02-28T00:00:00Z",
            "2027-03-30T00:00:00Z",
        ),
        (
            30,
            "2028-03-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2028-03-30T00:00:00Z",
        ),
        (
            29,
            "2027-02-28T12:00:00Z",
            "2027-02-28T00:00:00Z",
            "2027-03-29T00:00:00Z",
        ),
        (
            29,
            "2028-02-28T12:00:00Z",
            "2028-01-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
        ),
        (
            29,
            "2028-02-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2028-03-29T00:00:00Z",
        ),
        (
            15,
            "2027-01-14T23:59:59Z",
            "2026-12-15T00:00:00Z",
            "2027-01-15T00:00:00Z",
        ),
    ];
    for (day, inside, start, end) in cases {
        let w = on(*day).window(Period::Month, t(inside));
        assert_eq!((w.start, w.end), (t(start), t(end)), "day {day}, {inside}");
    }
}

#[test]
fn a_week_starts_on_the_calendar_s_week_day() {
    // Wednesday 2027-03-10, noon UTC: the week began on the last start day
    // at or before it.
    let days = [
        (Weekday::Mon, "2027-03-08"),
        (Weekday::Tue, "2027-03-09"),
        (Weekday::Wed, "2027-03-10"),
        (Weekday::Thu, "2027-03-04"),
        (Weekday::Fri, "2027-03-05"),
        (Weekday::Sat, "2027-03-06"),
        (Weekday::Sun, "2027-03-07"),
    ];
    for (day, start) in days {
        let c = Calendar {
            week_start: day,
            ..Calendar::UTC
        };
        let w = c.window(Period::Week, t("2027-03-10T12:00:00Z"));
        assert_eq!(w.start, t(&format!("{start}T00:00:00Z")), "{day}");
        assert_eq!(w.end - w.start, Duration::days(7));
    }
    // A Sunday week in New York across the spring change: 167 hours.
    let ny = Calendar {
        week_start: Weekday::Sun,
        ..zone("America/New_York")
    };
    let w = ny.window(Period::Week, t("2027-03-16T00:00:00Z"));
    assert_eq!(
        (w.start, w.end),
        (t("2027-03-14T05:00:00Z"), t("2027-03-21T04:00:00Z"))
    );
}

#[test]
fn the_default_calendar_gives_the_utc_windows() {
    for period in Period::ALL {
        for at in [
            "2024-02-29T23:59:59.999Z",
            "2027-01-01T00:00:00Z",
            "2026-12-06T11:00:00Z",
        ] {
            assert_eq!(Calendar::UTC.window(period, t(at)), period.window(t(at)));
        }
    }
}

#[test]
fn a_local_day_series_lists_the_port_s_days() {
    let c = zone("America/New_York");
    let w = c.window(Period::Week, t("2027-03-14T12:00:00Z"));
    let days: Vec<_> = w.days().collect();
    assert_eq!(days.len(), 7);
    assert_eq!(days[0].1, w.start);
    assert_eq!(days[0].0.to_string(), "2027-03-08");
    assert_eq!(days[6].1, t("2027-03-14T05:00:00Z"));
}

fn raw(json: &str) -> RawBudget {
    serde_json::from_str(json).unwrap()
}

#[test]
fn bad_calendar_fields_are_refused_with_their_field() {
    let cases = [
        (
            r#"{"timeZone": "Mars/Olympus_Mons"}"#,
            ErrorCode::UnknownTimeZone,
            "timeZone",
        ),
        (r#"{"timeZone": 5}"#, ErrorCode::InvalidType, "timeZone"),
        (
            r#"{"weekStart": "Monday"}"#,
            ErrorCode::UnknownWeekDay,
            "weekStart",
        ),
        (
            r#"{"weekStart": "funday"}"#,
            ErrorCode::UnknownWeekDay,
            "weekStart",
        ),
        (
            r#"{"monthStartDay": 0}"#,
            ErrorCode::InvalidValue,
            "monthStartDay",
        ),
        (
            r#"{"monthStartDay": 32}"#,
            ErrorCode::InvalidValue,
            "monthStartDay",
        ),
        (
            r#"{"monthStartDay": 1.5}"#,
            ErrorCode::InvalidValue,
            "monthStartDay",
        ),
        (
            r#"{"monthStartDay": "3"}"#,
            ErrorCode::InvalidType,
            "monthStartDay",
        ),
        (
            r#"{"calendarChange": {}}"#,
            ErrorCode::UnknownField,
            "calendarChange",
        ),
    ];
    for (json, code, field) in cases {
        let e = Budget::default().merge(&raw(json)).unwrap_err();
        assert_eq!((e.code(), e.field()), (code, Some(field)), "{json}");
    }
}

#[test]
fn a_budget_keeps_its_calendar_and_shows_it_only_when_set() {
    let b = Budget::default()
        .merge(&raw(
            r#"{"timeZone": "america/los_angeles", "weekStart": "sunday", "monthStartDay": 15}"#,
        ))
        .unwrap();
    assert_eq!(b.calendar.zone.name(), "America/Los_Angeles");
    let json = serde_json::to_value(b).unwrap();
    assert_eq!(json["timeZone"], "America/Los_Angeles");
    assert_eq!(json["weekStart"], "sunday");
    assert_eq!(json["monthStartDay"], 15);
    assert_eq!(Budget::normalize(&raw(&json.to_string())), b);
    // Seed parity: without the fields, the budget's shape is unchanged.
    let plain = serde_json::to_value(Budget::default()).unwrap();
    assert!(plain.get("timeZone").is_none() && plain.get("calendarChange").is_none());
}

#[test]
fn a_calendar_change_keeps_the_current_period_and_hands_over_at_its_end() {
    let old = Budget {
        period: Period::Day,
        ..Budget::default()
    };
    let now = t("2027-03-10T18:00:00Z");
    let next = old
        .merge(&raw(r#"{"timeZone": "America/Los_Angeles"}"#))
        .unwrap()
        .calendar_changed(&old, true, now);
    // Today (UTC) keeps its end.
    assert_eq!(next.window(now).end, t("2027-03-11T00:00:00Z"));
    // The first day under the new calendar runs from there to the next
    // Los Angeles midnight; then Los Angeles days.
    let first = next.window(t("2027-03-11T03:00:00Z"));
    assert_eq!(
        (first.start, first.end),
        (t("2027-03-11T00:00:00Z"), t("2027-03-11T08:00:00Z"))
    );
    let after = next.window(t("2027-03-11T09:00:00Z"));
    assert_eq!(
        (after.start, after.end),
        (t("2027-03-11T08:00:00Z"), t("2027-03-12T08:00:00Z"))
    );
    // It survives storage.
    let stored = serde_json::to_value(next).unwrap();
    assert_eq!(
        stored["calendarChange"]["until"],
        "2027-03-11T00:00:00.000Z"
    );
    assert_eq!(Budget::normalize(&raw(&stored.to_string())), next);
    // Going back before the hand-over cancels the change.
    let back = next
        .merge(&raw(r#"{"timeZone": "UTC"}"#))
        .unwrap()
        .calendar_changed(&next, true, now);
    assert_eq!(back.calendar_change, None);
    // A port never saved takes its calendar at once.
    let fresh = old
        .merge(&raw(r#"{"timeZone": "America/Los_Angeles"}"#))
        .unwrap()
        .calendar_changed(&old, false, now);
    assert_eq!(fresh.window(now).start, t("2027-03-10T08:00:00Z"));
}

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/Asuncion",
    "America/Santiago",
    "Pacific/Apia",
    "Africa/Casablanca",
];

proptest! {
    #[test]
    fn every_instant_lies_in_its_window_and_windows_tile_time(
        zone_index in 0..ZONES.len(),
        week in 0u8..7,
        day in 1u8..=31,
        period_index in 0usize..3,
        // 1900 to 2200 (past 2100 the zone's rule is evaluated directly).
        secs in -2_208_988_800i64..7_258_118_400,
    ) {
        let c = Calendar {
            zone: Zone::named(ZONES[zone_index]).unwrap(),
            week_start: Weekday::try_from(week).unwrap(),
            month_start_day: day,
        };
        let period = Period::ALL[period_index];
        let at = DateTime::from_timestamp(secs, 0).unwrap();
        let w = c.window(period, at);
        prop_assert!(w.start <= at && at < w.end, "{at} not in [{}, {})", w.start, w.end);
        // The next window starts where this one ends, the previous one ends
        // where this one starts.
        prop_assert_eq!(c.window(period, w.end).start, w.end);
        prop_assert_eq!(c.window(period, w.start - Duration::milliseconds(1)).end, w.start);
    }
}
