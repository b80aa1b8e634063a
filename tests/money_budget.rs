//! Budgets in dollars: the unit, caps as whole micro-dollars, the same gate
//! rules in that unit, and the original shape of token budgets kept.
#![cfg(not(target_arch = "wasm32"))]

use ai_budget::pricing::{bound, cost, Price};
use ai_budget::{cap_status, decide, evaluate, Budget, CapState, Decision, DecisionCode};
use ai_budget::{ErrorCode, RawBudget, RefusalReason, Unit};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

fn raw(json: &str) -> RawBudget {
    serde_json::from_str(json).unwrap()
}

fn usd(soft: u64, hard: u64) -> Budget {
    Budget {
        enabled: true,
        unit: Unit::Usd,
        soft_cap_usd: Some(soft),
        hard_cap_usd: Some(hard),
        ..Budget::default()
    }
}

#[test]
fn a_budget_in_dollars_keeps_its_caps_as_whole_micro_dollars() {
    let b = Budget::default()
        .merge(&raw(
            r#"{"enabled": true, "unit": "usd", "softCapUsd": 40.5, "hardCapUsd": 50.000001}"#,
        ))
        .unwrap();
    assert_eq!(b.unit, Unit::Usd);
    assert_eq!(
        (b.soft_cap_usd, b.hard_cap_usd),
        (Some(40_500_000), Some(50_000_001))
    );
    assert_eq!((b.soft_cap(), b.hard_cap()), (40_500_000, 50_000_001));
    // The token caps stay as they were: switching back restores them.
    assert_eq!(b.hard_cap_tokens, Budget::default().hard_cap_tokens);
}

#[test]
fn a_token_budget_keeps_the_original_shape_and_a_usd_budget_shows_dollars() {
    let tokens = serde_json::to_value(Budget::default()).unwrap();
    assert_eq!(
        tokens,
        serde_json::json!({"enabled": false, "softCapTokens": 100000, "hardCapTokens": 500000, "period": "month"})
    );
    let money = serde_json::to_value(usd(1_500_000, 2_000_000)).unwrap();
    assert_eq!(money["unit"], "usd");
    assert_eq!(money["softCapUsd"], 1.5);
    assert_eq!(money["hardCapUsd"], 2.0);
    assert!(money["fallbackPrice"].is_null());
    // What is shown reads back as the same budget.
    let again = Budget::normalize(&serde_json::from_value(money).unwrap());
    assert_eq!(again, usd(1_500_000, 2_000_000));
}

#[test]
fn bad_caps_in_dollars_are_refused_with_a_code_and_the_field() {
    for (update, code, field) in [
        (
            r#"{"unit": "usd", "hardCapUsd": -1}"#,
            ErrorCode::NegativeAmount,
            "hardCapUsd",
        ),
        (
            r#"{"unit": "usd", "hardCapUsd": 1.0000001}"#,
            ErrorCode::TooManyDecimals,
            "hardCapUsd",
        ),
        (
            r#"{"unit": "usd", "hardCapUsd": 1000000001}"#,
            ErrorCode::AmountTooLarge,
            "hardCapUsd",
        ),
        (
            r#"{"unit": "usd", "hardCapUsd": "5"}"#,
            ErrorCode::InvalidType,
            "hardCapUsd",
        ),
        (r#"{"unit": "usd"}"#, ErrorCode::InvalidValue, "hardCapUsd"),
        (
            r#"{"unit": "euro", "hardCapUsd": 5}"#,
            ErrorCode::InvalidValue,
            "unit",
        ),
        (
            r#"{"unit": "usd", "softCapUsd": 6, "hardCapUsd": 5}"#,
            ErrorCode::SoftCapAboveHardCap,
            "softCapUsd",
        ),
        (
            r#"{"unit": "usd", "hardCapUsd": 5, "fallbackPrice": {"inputPerMTok": -2, "outputPerMTok": 8}}"#,
            ErrorCode::NegativeAmount,
            "fallbackPrice.inputPerMTok",
        ),
    ] {
        let err = Budget::default().merge(&raw(update)).unwrap_err();
        assert_eq!((err.code(), err.field()), (code, Some(field)), "{update}");
    }
}

#[test]
fn a_fallback_price_is_set_by_an_object_and_removed_by_null() {
    let b = Budget::default()
        .merge(&raw(
            r#"{"unit": "usd", "hardCapUsd": 5, "fallbackPrice": {"inputPerMTok": 2, "outputPerMTok": 8}}"#,
        ))
        .unwrap();
    let price = b.fallback_price.unwrap();
    assert_eq!(
        (price.input, price.cached_input, price.output),
        (2_000_000, 2_000_000, 8_000_000)
    );
    let kept = b.merge(&raw(r#"{"enabled": true}"#)).unwrap();
    assert_eq!(kept.fallback_price, Some(price));
    let removed = b.merge(&raw(r#"{"fallbackPrice": null}"#)).unwrap();
    assert_eq!(removed.fallback_price, None);
}

#[test]
fn a_stored_usd_budget_without_a_valid_cap_refuses_every_call() {
    // Fail closed: a damaged cap is 0, never unlimited.
    let b = Budget::normalize(&raw(
        r#"{"enabled": true, "unit": "usd", "hardCapUsd": "lots"}"#,
    ));
    assert_eq!(b.hard_cap(), 0);
    assert_eq!(decide(&b, 0, 0), DecisionCode::HardCapExceeded);
}

#[test]
fn the_gate_rules_hold_in_micro_dollars() {
    let b = usd(8_000_000, 10_000_000);
    assert_eq!(decide(&b, 0, 10_000_000), DecisionCode::Allowed);
    assert_eq!(decide(&b, 0, 10_000_001), DecisionCode::EstimatedExceedsCap);
    assert_eq!(decide(&b, 8_000_001, 1), DecisionCode::AllowedOverSoftCap);
    assert_eq!(decide(&b, 10_000_000, 0), DecisionCode::HardCapExceeded);
    let now = Utc.with_ymd_and_hms(2027, 3, 31, 23, 59, 59).unwrap();
    match evaluate(&b, 9_999_999, 2, now) {
        Decision::Refused {
            reason,
            cap,
            window,
            ..
        } => {
            assert_eq!(reason, RefusalReason::EstimatedExceedsCap);
            assert_eq!(cap, 10_000_000, "the cap in the budget's unit");
            assert_eq!(
                window.end,
                Utc.with_ymd_and_hms(2027, 4, 1, 0, 0, 0).unwrap()
            );
        }
        other => panic!("{other:?}"),
    }
    let status = cap_status(&b, 9_000_000, now);
    assert_eq!(
        (status.state, status.unit, status.remaining),
        (CapState::Soft, Unit::Usd, Some(1_000_000))
    );
}

#[test]
fn a_usd_budget_without_a_soft_cap_flags_nothing_before_the_hard_cap() {
    let b = Budget {
        soft_cap_usd: None,
        ..usd(0, 5_000_000)
    };
    assert_eq!(b.soft_cap(), 5_000_000);
    assert_eq!(decide(&b, 4_999_999, 1), DecisionCode::Allowed);
}

#[test]
fn a_complete_usd_budget_needs_no_token_caps_but_a_cap_in_dollars() {
    let b = Budget::parse(&raw(
        r#"{"enabled": true, "unit": "usd", "hardCapUsd": 3, "period": "day"}"#,
    ))
    .unwrap();
    assert_eq!(b.hard_cap(), 3_000_000);
    let err =
        Budget::parse(&raw(r#"{"enabled": true, "unit": "usd", "period": "day"}"#)).unwrap_err();
    assert_eq!(err.field(), Some("hardCapUsd"));
    let err = Budget::parse(&raw(r#"{"enabled": true, "period": "day"}"#)).unwrap_err();
    assert_eq!(
        err.field(),
        Some("softCapTokens"),
        "a token budget still needs its caps"
    );
}

proptest! {
    #[test]
    fn accepted_money_holds_never_cross_the_cap(
        hard in 0u64..50_000_000,
        calls in prop::collection::vec((0u64..200_000, 0u64..20_000), 1..60),
    ) {
        let price = Price::per_mtok(3.0, Some(0.3), Some(3.75), 15.0).unwrap();
        let b = usd(hard / 2, hard);
        let mut used = 0u64;
        for (input, output) in calls {
            let held = bound(input, output, &price);
            if decide(&b, used, held).is_allowed() {
                used += held;
                prop_assert!(used <= hard, "{used} > {hard}");
            }
        }
    }

    #[test]
    fn a_call_settled_within_its_hold_keeps_the_money_total_under_the_cap(
        hard in 1u64..50_000_000,
        calls in prop::collection::vec((0u64..200_000, 0u64..20_000, 0u64..=100, 0u64..=100), 1..60),
    ) {
        let price = Price::per_mtok(2.0, Some(0.5), None, 8.0).unwrap();
        let b = usd(hard, hard);
        let mut used = 0u64;
        for (input, output, cached, out_share) in calls {
            if decide(&b, used, bound(input, output, &price)).is_allowed() {
                let tokens = ai_budget::TokenCounts {
                    input_tokens: input,
                    cached_input_tokens: input * cached / 100,
                    output_tokens: output * out_share / 100,
                    ..Default::default()
                };
                used += cost(&tokens, &price);
                prop_assert!(used <= hard);
            }
        }
    }
}
