//! Cap status for banners and previews: bands that agree with the gate,
//! percentages, tokens remaining and the reset.

use ai_budget::{cap_status, decide, Budget, CapState, DecisionCode, Period};
use chrono::{DateTime, TimeZone, Utc};

mod common;

/// A Wednesday in mid-July: the instant the tests that name dates run at.
fn mid_july() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 15, 10, 0, 0).unwrap()
}

/// Any instant: `TEST_NOW`, else mid-July. The bands do not depend on it.
fn now() -> DateTime<Utc> {
    common::test_now(mid_july())
}

fn enabled(soft: u64, hard: u64) -> Budget {
    Budget {
        enabled: true,
        soft_cap_tokens: soft,
        hard_cap_tokens: hard,
        period: Period::Month,
        ..Budget::default()
    }
}

#[test]
fn a_disabled_budget_is_in_the_disabled_band_whatever_the_usage() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    for used in [0, 900, 1_000, 5_000] {
        assert_eq!(cap_status(&budget, used, now()).state, CapState::Disabled);
    }
}

#[test]
fn a_disabled_budget_has_no_remaining_limit() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    assert_eq!(cap_status(&budget, 900, now()).remaining, None);
}

#[test]
fn a_disabled_budget_still_reports_usage_against_its_caps() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    let status = cap_status(&budget, 900, now());
    assert_eq!(status.used, 900);
    assert_eq!(status.hard_percent, 90.0);
}

#[test]
fn usage_up_to_the_soft_cap_is_ok() {
    let budget = enabled(800, 1_000);
    assert_eq!(cap_status(&budget, 0, now()).state, CapState::Ok);
    assert_eq!(cap_status(&budget, 800, now()).state, CapState::Ok);
}

#[test]
fn usage_above_the_soft_cap_and_below_the_hard_cap_is_soft() {
    let budget = enabled(800, 1_000);
    assert_eq!(cap_status(&budget, 801, now()).state, CapState::Soft);
    assert_eq!(cap_status(&budget, 999, now()).state, CapState::Soft);
}

#[test]
fn usage_at_or_above_the_hard_cap_is_hard() {
    let budget = enabled(800, 1_000);
    assert_eq!(cap_status(&budget, 1_000, now()).state, CapState::Hard);
    assert_eq!(cap_status(&budget, 7_000, now()).state, CapState::Hard);
}

#[test]
fn a_hard_cap_of_zero_is_hard_from_the_start() {
    assert_eq!(cap_status(&enabled(0, 0), 0, now()).state, CapState::Hard);
}

#[test]
fn a_soft_cap_equal_to_the_hard_cap_goes_straight_from_ok_to_hard() {
    let budget = enabled(1_000, 1_000);
    assert_eq!(cap_status(&budget, 999, now()).state, CapState::Ok);
    assert_eq!(cap_status(&budget, 1_000, now()).state, CapState::Hard);
}

#[test]
fn the_bands_agree_with_the_gate() {
    let budget = enabled(800, 1_000);
    for used in [0, 1, 799, 800, 801, 999, 1_000, 1_001] {
        let state = cap_status(&budget, used, now()).state;
        let expected = match decide(&budget, used, 0) {
            DecisionCode::HardCapExceeded => CapState::Hard,
            DecisionCode::AllowedOverSoftCap => CapState::Soft,
            DecisionCode::Allowed => CapState::Ok,
            DecisionCode::EstimatedExceedsCap => unreachable!("an estimate of 0 always fits"),
        };
        assert_eq!(state, expected, "used {used}");
    }
}

#[test]
fn percentages_are_of_each_cap() {
    let status = cap_status(&enabled(800, 1_000), 900, now());
    assert_eq!(status.soft_percent, 112.5);
    assert_eq!(status.hard_percent, 90.0);
}

#[test]
fn percentages_may_pass_100() {
    let status = cap_status(&enabled(800, 1_000), 3_000, now());
    assert_eq!(status.soft_percent, 375.0);
    assert_eq!(status.hard_percent, 300.0);
}

#[test]
fn a_percentage_of_a_zero_cap_is_100() {
    let status = cap_status(&enabled(0, 0), 0, now());
    assert_eq!(status.soft_percent, 100.0);
    assert_eq!(status.hard_percent, 100.0);
}

#[test]
fn remaining_is_what_is_left_under_the_hard_cap() {
    assert_eq!(
        cap_status(&enabled(800, 1_000), 250, now()).remaining,
        Some(750)
    );
}

#[test]
fn remaining_stops_at_zero_above_the_hard_cap() {
    let budget = enabled(800, 1_000);
    assert_eq!(cap_status(&budget, 1_000, now()).remaining, Some(0));
    assert_eq!(cap_status(&budget, 9_000, now()).remaining, Some(0));
}

#[test]
fn a_status_reports_the_caps_and_usage_it_was_given() {
    let status = cap_status(&enabled(800, 1_000), 250, now());
    assert_eq!(
        (status.used, status.soft_cap, status.hard_cap),
        (250, 800, 1_000)
    );
}

#[test]
fn a_status_carries_the_period_and_its_reset() {
    for period in Period::ALL {
        let budget = Budget {
            period,
            ..enabled(800, 1_000)
        };
        let status = cap_status(&budget, 10, now());
        assert_eq!(status.window, period.window(now()), "{period}");
    }
    let monthly = cap_status(&enabled(800, 1_000), 10, mid_july());
    assert_eq!(
        monthly.window.end,
        Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap()
    );
}

#[test]
fn bands_have_their_public_names() {
    assert_eq!(
        [
            CapState::Disabled,
            CapState::Ok,
            CapState::Soft,
            CapState::Hard
        ]
        .map(CapState::as_str),
        ["disabled", "ok", "soft", "hard"]
    );
}

#[test]
fn over_the_soft_cap_is_above_it_in_the_soft_and_hard_bands_of_an_enabled_budget() {
    let budget = enabled(800, 1_000);
    assert!(!cap_status(&budget, 800, now()).over_soft_cap());
    assert!(cap_status(&budget, 801, now()).over_soft_cap());
    assert!(
        cap_status(&budget, 1_000, now()).over_soft_cap(),
        "the hard band is above the soft cap too"
    );
    let disabled = Budget {
        enabled: false,
        ..budget
    };
    assert!(!cap_status(&disabled, 5_000, now()).over_soft_cap());
    // A soft cap above the hard cap never shows.
    assert!(!cap_status(&enabled(2_000, 1_000), 1_500, now()).over_soft_cap());
}
