//! The pre-flight gate: the seed's `checkBudget`, edge case by edge case,
//! plus the reset instant.

use ai_budget::{
    decide, evaluate, Budget, Decision, DecisionCode, Period, RefusalReason, MAX_TOKENS,
};
use chrono::{DateTime, TimeZone, Utc};

mod common;

/// A Wednesday afternoon: the instant the tests that name dates run at.
fn wednesday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).unwrap()
}

/// Any instant: `TEST_NOW`, else that Wednesday. The gate's rules do not
/// depend on it.
fn now() -> DateTime<Utc> {
    common::test_now(wednesday())
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

fn refusal(decision: Decision) -> (RefusalReason, u64, u64) {
    match decision {
        Decision::Refused {
            reason, used, cap, ..
        } => (reason, used, cap),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn allowance(decision: Decision) -> (Option<u64>, u64, bool) {
    match decision {
        Decision::Allowed {
            remaining,
            used,
            soft_cap,
            ..
        } => (remaining, used, soft_cap),
        other => panic!("expected an allowance, got {other:?}"),
    }
}

#[test]
fn usage_at_the_hard_cap_refuses_as_hard_cap_exceeded() {
    let budget = enabled(800, 1_000);
    assert_eq!(
        refusal(evaluate(&budget, 1_000, 1, now())),
        (RefusalReason::HardCapExceeded, 1_000, 1_000)
    );
    assert_eq!(decide(&budget, 1_000, 1), DecisionCode::HardCapExceeded);
}

#[test]
fn usage_at_the_hard_cap_refuses_even_an_estimate_of_zero() {
    // remaining <= 0 refuses before the estimate is looked at.
    let budget = enabled(800, 1_000);
    assert_eq!(
        refusal(evaluate(&budget, 1_000, 0, now())).0,
        RefusalReason::HardCapExceeded
    );
}

#[test]
fn usage_above_the_hard_cap_refuses_as_hard_cap_exceeded() {
    let budget = enabled(800, 1_000);
    assert_eq!(
        refusal(evaluate(&budget, 1_250, 0, now())),
        (RefusalReason::HardCapExceeded, 1_250, 1_000)
    );
}

#[test]
fn a_hard_cap_of_zero_refuses_every_call() {
    let budget = enabled(0, 0);
    for estimate in [0, 1, 1_000] {
        assert_eq!(
            refusal(evaluate(&budget, 0, estimate, now())),
            (RefusalReason::HardCapExceeded, 0, 0)
        );
    }
}

#[test]
fn an_estimate_above_what_remains_refuses_as_estimated_exceeds_cap() {
    let budget = enabled(800, 1_000);
    assert_eq!(
        refusal(evaluate(&budget, 900, 101, now())),
        (RefusalReason::EstimatedExceedsCap, 900, 1_000)
    );
    assert_eq!(decide(&budget, 900, 101), DecisionCode::EstimatedExceedsCap);
}

#[test]
fn an_estimate_above_the_whole_cap_refuses_with_nothing_used() {
    let budget = enabled(800, 1_000);
    assert_eq!(
        refusal(evaluate(&budget, 0, 1_001, now())).0,
        RefusalReason::EstimatedExceedsCap
    );
}

#[test]
fn an_estimate_equal_to_what_remains_passes() {
    let budget = enabled(800, 1_000);
    assert_eq!(
        allowance(evaluate(&budget, 900, 100, now())),
        (Some(100), 900, true)
    );
}

#[test]
fn remaining_is_the_hard_cap_minus_usage_before_the_call() {
    let budget = enabled(800, 1_000);
    assert_eq!(allowance(evaluate(&budget, 250, 40, now())).0, Some(750));
}

#[test]
fn an_estimate_of_zero_passes_below_the_hard_cap() {
    let budget = enabled(800, 1_000);
    assert_eq!(decide(&budget, 999, 0), DecisionCode::AllowedOverSoftCap);
    assert!(evaluate(&budget, 999, 0, now()).is_allowed());
}

#[test]
fn usage_equal_to_the_soft_cap_is_not_flagged() {
    let budget = enabled(800, 1_000);
    assert!(!allowance(evaluate(&budget, 800, 1, now())).2);
    assert_eq!(decide(&budget, 800, 1), DecisionCode::Allowed);
}

#[test]
fn usage_above_the_soft_cap_is_flagged() {
    let budget = enabled(800, 1_000);
    assert!(allowance(evaluate(&budget, 801, 1, now())).2);
    assert_eq!(decide(&budget, 801, 1), DecisionCode::AllowedOverSoftCap);
}

#[test]
fn the_soft_cap_flag_ignores_the_estimate() {
    // The seed flagged `used > softCapTokens`, whatever the call would add.
    let budget = enabled(800, 1_000);
    assert!(!allowance(evaluate(&budget, 700, 200, now())).2);
}

#[test]
fn a_soft_cap_of_zero_flags_any_usage() {
    let budget = enabled(0, 1_000);
    assert!(!allowance(evaluate(&budget, 0, 5, now())).2);
    assert!(allowance(evaluate(&budget, 1, 5, now())).2);
}

#[test]
fn a_disabled_budget_allows_any_estimate() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    for (used, estimate) in [
        (0, 0),
        (0, MAX_TOKENS),
        (5_000, 1),
        (MAX_TOKENS, MAX_TOKENS),
    ] {
        assert_eq!(decide(&budget, used, estimate), DecisionCode::Allowed);
        assert!(evaluate(&budget, used, estimate, now()).is_allowed());
    }
}

#[test]
fn a_disabled_budget_reports_no_limit_and_the_true_usage() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    // The seed said usedTokens 0 here; the true usage is more useful.
    assert_eq!(
        allowance(evaluate(&budget, 4_321, 10, now())),
        (None, 4_321, false)
    );
}

#[test]
fn a_disabled_budget_never_flags_the_soft_cap() {
    let budget = Budget {
        enabled: false,
        ..enabled(800, 1_000)
    };
    assert!(!allowance(evaluate(&budget, 900, 0, now())).2);
}

#[test]
fn a_disabled_budget_with_a_hard_cap_of_zero_allows() {
    let budget = Budget {
        enabled: false,
        ..enabled(0, 0)
    };
    assert!(evaluate(&budget, 10, 10, now()).is_allowed());
}

#[test]
fn decisions_at_the_largest_token_counts_do_not_overflow() {
    let budget = enabled(MAX_TOKENS, MAX_TOKENS);
    assert_eq!(decide(&budget, MAX_TOKENS - 1, 1), DecisionCode::Allowed);
    assert_eq!(
        decide(&budget, MAX_TOKENS - 1, 2),
        DecisionCode::EstimatedExceedsCap
    );
    assert_eq!(
        decide(&budget, 1, u64::MAX),
        DecisionCode::EstimatedExceedsCap
    );
    assert_eq!(decide(&budget, u64::MAX, 0), DecisionCode::HardCapExceeded);
}

#[test]
fn a_refusal_says_when_the_budget_resets() {
    let budget = Budget {
        period: Period::Week,
        ..enabled(800, 1_000)
    };
    let decision = evaluate(&budget, 1_000, 1, wednesday());
    assert_eq!(
        decision.resets_at(),
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
    );
    assert_eq!(
        decision.window().start,
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    );
}

#[test]
fn every_decision_carries_the_window_of_the_budgets_period() {
    for period in Period::ALL {
        let budget = Budget {
            period,
            ..enabled(800, 1_000)
        };
        for (used, estimate) in [(0, 0), (900, 100), (900, 101), (1_000, 0)] {
            let decision = evaluate(&budget, used, estimate, now());
            assert_eq!(decision.window(), period.window(now()), "{period}");
            assert_eq!(decision.resets_at(), period.end(now()));
            assert_eq!(decision.used(), used);
        }
    }
}

#[test]
fn refusal_reasons_have_the_seeds_names() {
    assert_eq!(RefusalReason::HardCapExceeded.as_str(), "hard-cap-exceeded");
    assert_eq!(
        RefusalReason::EstimatedExceedsCap.as_str(),
        "estimated-exceeds-cap"
    );
}

#[test]
fn decision_codes_keep_their_numbers_for_the_fast_path() {
    assert_eq!(DecisionCode::Allowed as u8, 0);
    assert_eq!(DecisionCode::AllowedOverSoftCap as u8, 1);
    assert_eq!(DecisionCode::HardCapExceeded as u8, 2);
    assert_eq!(DecisionCode::EstimatedExceedsCap as u8, 3);
}

#[test]
fn only_the_two_allowed_codes_allow() {
    assert!(DecisionCode::Allowed.is_allowed());
    assert!(DecisionCode::AllowedOverSoftCap.is_allowed());
    assert!(!DecisionCode::HardCapExceeded.is_allowed());
    assert!(!DecisionCode::EstimatedExceedsCap.is_allowed());
}
