//! Money totals stay exact: no write takes a period's micro-dollars (used,
//! or used plus held) past 2^53 - 1, by the same rule as tokens, in token
//! budgets (which count money too) and in usd ones; and a call's cost past
//! that range is never clamped into it.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::amount::TotalTooLarge;
use ai_budget::gate::*;
use ai_budget::pricing::{bound, cost, exact_amount, Price};
use ai_budget::TokenCounts;
use ai_budget::{ErrorCode, Period, Unit, MAX_TOKENS};
use chrono::Duration;
use common::port::{now, usage, Port};

/// A usage write of `tokens` costing `usd` micro-dollars (priced by the
/// caller).
fn record_usd(port: &Port, id: &str, tokens: u64, usd: u64) -> RecordOutcome {
    let usage = CallUsage {
        cost_usd: Some(usd),
        ..usage(tokens, 0)
    };
    let write = port.write_id();
    port.run(|g| g.record(&usage, id, &format!("r-{usd}"), &write, now(), now()))
}

fn money_hold(port: &Port, tokens: u64, usd: u64) -> ReserveOutcome {
    let req = HoldRequest {
        estimated_usd: Some(usd),
        ..port.hold_request(tokens, None)
    };
    port.run(|g| g.reserve(&req, now()))
}

fn held(port: &Port, tokens: u64, usd: u64) -> Hold {
    match money_hold(port, tokens, usd) {
        ReserveOutcome::Held { hold, .. } => hold,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn commit_usd(
    port: &Port,
    id: &str,
    usd: u64,
    when: chrono::DateTime<chrono::Utc>,
) -> CommitOutcome {
    let usage = CallUsage {
        cost_usd: Some(usd),
        ..usage(10, 0)
    };
    let write = port.write_id();
    port.run(|g| g.commit(id, &usage, &format!("c-{usd}"), &write, when))
}

/// What a refused write must leave as it was.
fn state(port: &Port) -> (Vec<PortLoad>, u64) {
    let loads = Period::ALL.map(|p| port.load(p, now())).to_vec();
    (loads, port.run(|g| g.pending_count()))
}

fn assert_usd_refusal(refusal: &TotalTooLarge, would_be: u64) {
    assert_eq!(refusal.unit, Unit::Usd, "the refusal names the unit");
    assert_eq!((refusal.would_be, refusal.max), (would_be, MAX_TOKENS));
}

#[test]
fn a_usage_write_past_2_53_micro_dollars_is_refused_and_nothing_is_written() {
    let port = Port::new();
    assert!(matches!(
        record_usd(&port, "a", 10, MAX_TOKENS),
        RecordOutcome::Recorded { .. }
    ));
    let before = state(&port);
    let RecordOutcome::TooLarge { refusal, .. } = record_usd(&port, "b", 10, 1) else {
        panic!("a micro-dollar more passes the exact range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert_eq!(state(&port), before, "nothing was written");
    assert_eq!(before.0[0].used_usd, MAX_TOKENS);
    // The request id was not taken: the same id, free, is counted.
    assert!(matches!(
        record_usd(&port, "b", 10, 0),
        RecordOutcome::Recorded { .. }
    ));
    assert_eq!(port.load(Period::Day, now()).calls, 2);
}

#[test]
fn tokens_are_judged_first_and_their_refusal_says_tokens() {
    let port = Port::new();
    record_usd(&port, "a", MAX_TOKENS, MAX_TOKENS);
    let RecordOutcome::TooLarge { refusal, .. } = record_usd(&port, "b", 1, 1) else {
        panic!("both totals would pass");
    };
    assert_eq!(
        (refusal.unit, refusal.would_be),
        (Unit::Tokens, MAX_TOKENS + 1)
    );
}

#[test]
fn a_hold_is_refused_when_used_plus_held_micro_dollars_would_pass_2_53() {
    let port = Port::new();
    record_usd(&port, "base", 1, MAX_TOKENS - 10);
    let before = state(&port);
    let ReserveOutcome::TooLarge { refusal, .. } = money_hold(&port, 1, 11) else {
        panic!("used plus 11 passes the range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert_eq!(state(&port), before, "no hold was taken");
    let first = held(&port, 1, 6);
    // Used plus held: the open hold counts.
    let ReserveOutcome::TooLarge { refusal, .. } = money_hold(&port, 1, 5) else {
        panic!("used + held + 5 passes the range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    held(&port, 1, 4);
    assert_eq!(port.load(Period::Day, now()).gate_usd(), MAX_TOKENS);
    // Released, its money makes room again.
    port.run(|g| g.release(&first.id, now()));
    held(&port, 1, 6);
}

#[test]
fn a_commit_whose_cost_would_pass_2_53_is_refused_and_the_hold_stays_open() {
    let port = Port::new();
    record_usd(&port, "base", 1, MAX_TOKENS - 10);
    let hold = held(&port, 1, 5);
    let before = state(&port);
    let CommitOutcome::TooLarge { refusal, .. } = commit_usd(&port, &hold.id, 11, now()) else {
        panic!("the real cost passes the range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert_eq!(state(&port), before, "nothing was counted");
    assert_eq!(
        port.run(|g| g.hold(&hold.id)).map(|h| h.state),
        Some(HoldState::Held)
    );
    let CommitOutcome::Committed { load, .. } = commit_usd(&port, &hold.id, 10, now()) else {
        panic!("exactly the range fits");
    };
    assert_eq!((load.used_usd, load.held_usd), (MAX_TOKENS, 0));
}

#[test]
fn a_late_commit_is_judged_without_the_estimate_it_replaces() {
    let port = Port::new();
    // The base row, the hold's expiry and the late commit in one day: at
    // the suite's instant, or a minute before its day ends if it is later.
    let t0 = now().min(Period::Day.end(now()) - Duration::minutes(1));
    let usage_at = CallUsage {
        cost_usd: Some(MAX_TOKENS - 100),
        ..usage(1, 0)
    };
    let write = port.write_id();
    port.run(|g| g.record(&usage_at, "base", "r-base", &write, t0, t0));
    let req = HoldRequest {
        estimated_usd: Some(60),
        ttl_seconds: 5,
        ..port.hold_request(1, None)
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&req, t0)) else {
        panic!()
    };
    let later = t0 + Duration::seconds(10);
    port.run(|g| g.expire_due(later));
    assert_eq!(port.load(Period::Day, later).used_usd, MAX_TOKENS - 40);
    let CommitOutcome::TooLarge { refusal, .. } = commit_usd(&port, &hold.id, 101, later) else {
        panic!("the estimate's place holds 100 micro-dollars, not 101");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert_eq!(port.load(Period::Day, later).used_usd, MAX_TOKENS - 40);
    let CommitOutcome::Committed { entry, .. } = commit_usd(&port, &hold.id, 100, later) else {
        panic!("the estimate's place fits exactly");
    };
    assert_eq!(entry.cost_usd, Some(100));
    assert_eq!(port.load(Period::Day, later).used_usd, MAX_TOKENS);
}

#[test]
fn a_usd_budget_keeps_its_totals_exact_past_its_cap_too() {
    let port = Port::new();
    let json = r#"{"enabled": true, "unit": "usd", "softCapUsd": 1000000000, "hardCapUsd": 1000000000, "period": "month"}"#;
    assert!(matches!(
        port.budget(json, now()),
        SaveOutcome::Saved { .. }
    ));
    let a = held(&port, 1, 1);
    let b = held(&port, 1, 1);
    // A call may cost more than it held: counted, as long as used plus
    // what the other hold holds stays exact.
    let CommitOutcome::TooLarge { refusal, .. } = commit_usd(&port, &a.id, MAX_TOKENS, now())
    else {
        panic!("with b's micro-dollar held, MAX passes the range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert!(matches!(
        commit_usd(&port, &a.id, MAX_TOKENS - 1, now()),
        CommitOutcome::Committed { .. }
    ));
    let before = state(&port);
    let CommitOutcome::TooLarge { refusal, .. } = commit_usd(&port, &b.id, 2, now()) else {
        panic!("a micro-dollar more passes the range");
    };
    assert_usd_refusal(&refusal, MAX_TOKENS + 1);
    assert_eq!(state(&port), before);
    let ReserveOutcome::Refused { refusal, .. } = money_hold(&port, 1, 1) else {
        panic!("over its cap, the budget refuses before any total is at stake");
    };
    assert_eq!(refusal.unit, Unit::Usd);
}

#[test]
fn a_cost_past_the_range_is_not_clamped_into_it_and_the_gate_refuses_it() {
    // $1e9 per million tokens, the largest price accepted.
    let price = Price::per_mtok(1e9, None, None, 1e9).unwrap();
    let tokens = TokenCounts::new(10_000_000, 0);
    let micros = cost(&tokens, &price);
    assert_eq!(micros, 10_000_000_000_000_000, "$1e10, exactly");
    assert!(micros > MAX_TOKENS);
    assert_eq!(bound(10_000_000, 0, &price), micros);
    let err = exact_amount(micros).unwrap_err();
    assert_eq!(err.code(), ErrorCode::AmountTooLarge);
    assert_eq!(exact_amount(MAX_TOKENS), Ok(MAX_TOKENS));
    // Past even u64: the largest u64 stands for it, never a smaller cost.
    let huge = TokenCounts::new(MAX_TOKENS, MAX_TOKENS);
    assert_eq!(cost(&huge, &price), u64::MAX);

    // Counted nowhere: a fresh port refuses it on its own.
    let port = Port::new();
    let RecordOutcome::TooLarge { refusal, .. } = record_usd(&port, "absurd", 10_000_000, micros)
    else {
        panic!("the cost alone passes the range");
    };
    assert_usd_refusal(&refusal, micros);
    assert_eq!(state(&port).1, 0);
    let ReserveOutcome::TooLarge { refusal, .. } = money_hold(&port, 10_000_000, micros) else {
        panic!("so does its hold");
    };
    assert_usd_refusal(&refusal, micros);
}

#[test]
fn a_port_fallback_price_is_held_to_the_same_rule() {
    let port = Port::new();
    let json = r#"{"fallbackPrice": {"inputPerMTok": 1000000000, "outputPerMTok": 1000000000}}"#;
    assert!(matches!(
        port.budget(json, now()),
        SaveOutcome::Saved { .. }
    ));
    // 9e6 tokens at $1e3 each: $9e9, just under 2^53 - 1 micro-dollars.
    let write = port.write_id();
    let fits = usage(9_000_000, 0);
    let outcome = port.run(|g| g.record(&fits, "a", "a", &write, now(), now()));
    assert!(
        matches!(outcome, RecordOutcome::Recorded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        port.load(Period::Day, now()).used_usd,
        9_000_000_000_000_000
    );
    let write = port.write_id();
    let more = usage(8_000, 0);
    let RecordOutcome::TooLarge { refusal, .. } =
        port.run(|g| g.record(&more, "b", "b", &write, now(), now()))
    else {
        panic!("$8e6 more passes the range");
    };
    assert_usd_refusal(&refusal, 9_008_000_000_000_000);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever mix of usage writes, holds, commits and releases with
    /// costs near the range: every total stays within 2^53 - 1, a refused
    /// write changes nothing, and what is counted is the sum of what was
    /// accepted.
    #[test]
    fn money_totals_never_pass_2_53_and_refusals_write_nothing(
        ops in proptest::collection::vec((0u8..4, 0u64..=MAX_TOKENS / 3), 1..30),
    ) {
        let port = Port::new();
        let mut open: Vec<Hold> = Vec::new();
        let mut used = 0u64;
        for (n, (kind, usd)) in ops.into_iter().enumerate() {
            let before = state(&port);
            let refused = match kind {
                0 => match record_usd(&port, &format!("r{n}"), 1, usd) {
                    RecordOutcome::Recorded { .. } => { used += usd; None }
                    RecordOutcome::TooLarge { refusal, .. } => Some(refusal),
                    other => panic!("{other:?}"),
                },
                1 => match money_hold(&port, 1, usd) {
                    ReserveOutcome::Held { hold, .. } => { open.push(hold); None }
                    ReserveOutcome::TooLarge { refusal, .. } => Some(refusal),
                    other => panic!("{other:?}"),
                },
                2 if !open.is_empty() => {
                    let hold = open.remove(0);
                    match commit_usd(&port, &hold.id, usd, now()) {
                        CommitOutcome::Committed { .. } => { used += usd; None }
                        CommitOutcome::TooLarge { refusal, .. } => { open.push(hold); Some(refusal) }
                        other => panic!("{other:?}"),
                    }
                }
                _ => {
                    if let Some(hold) = open.pop() {
                        port.run(|g| g.release(&hold.id, now()));
                    }
                    None
                }
            };
            if let Some(refusal) = refused {
                proptest::prop_assert_eq!(refusal.unit, Unit::Usd);
                proptest::prop_assert!(refusal.would_be > MAX_TOKENS);
                proptest::prop_assert_eq!(&state(&port), &before);
            }
            for period in Period::ALL {
                let load = port.load(period, now());
                proptest::prop_assert_eq!(load.used_usd, used);
                proptest::prop_assert!(load.used_usd + load.held_usd <= MAX_TOKENS);
            }
        }
    }
}
