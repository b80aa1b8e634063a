//! The refusals a port's gate counts for its status and the metrics, over
//! a real SQLite, natively: every kind of refusal (the port's cap, a
//! feature's, a user's, an action at the caps, a total past the exact
//! range) is counted once by reason and scope, a retry of the same
//! request id is not counted again, a granted call is not a refusal, and
//! a new period starts from zero.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::actions::{Cap, CapAction, CapActions};
use ai_budget::gate::gateway::*;
use ai_budget::gate::*;
use ai_budget::MAX_TOKENS;
use chrono::{DateTime, Duration, Utc};
use common::port::*;

/// The port's refusals in its current period at `when`, as its status
/// shows them: (reason, scope, count), sorted.
fn counted(port: &Port, when: DateTime<Utc>) -> Vec<(String, String, u64)> {
    port.run(|g| g.view(None, when))
        .refusals
        .into_iter()
        .map(|r| (r.reason, r.scope, r.count))
        .collect()
}

fn row(reason: &str, scope: &str, count: u64) -> (String, String, u64) {
    (reason.into(), scope.into(), count)
}

fn reserve_as(
    port: &Port,
    id: &str,
    feature: &str,
    user: Option<&str>,
    estimate: u64,
) -> ReserveOutcome {
    let req = HoldRequest {
        feature: feature.into(),
        user_id: user.map(str::to_owned),
        ..port.hold_request(estimate, Some(id))
    };
    port.run(|g| g.reserve(&req, now()))
}

fn refused(outcome: ReserveOutcome) -> Refusal {
    match outcome {
        ReserveOutcome::Refused { refusal, .. } => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A port of a daily budget (soft 1 000, hard 2 000 tokens) with a cap of
/// 500 on the feature `chat` and of 300 on each user.
fn capped_port() -> Port {
    let port = Port::new();
    let json = r#"{"enabled":true,"softCapTokens":1000,"hardCapTokens":2000,"period":"day",
        "featureCaps":{"chat":{"hardCap":500}},"userCap":{"hardCap":300}}"#;
    assert!(matches!(
        port.budget(json, now()),
        SaveOutcome::Saved { .. }
    ));
    port
}

#[test]
fn each_refusal_is_counted_once_by_reason_and_scope_and_holds_are_not() {
    let port = capped_port();
    assert_eq!(counted(&port, now()), vec![]);
    let r = refused(reserve_as(&port, "a", "search", None, 2_500));
    assert_eq!(
        (r.reason.as_str(), r.scope.as_str()),
        ("estimated-exceeds-cap", "port")
    );
    let r = refused(reserve_as(&port, "b", "chat", None, 600));
    assert_eq!(r.scope, "feature");
    let r = refused(reserve_as(&port, "c", "search", Some("ann"), 400));
    assert_eq!(r.scope, "user");
    refused(reserve_as(&port, "d", "search", Some("bob"), 400));
    // Granted: not refusals.
    assert!(matches!(
        reserve_as(&port, "e", "search", None, 2_000),
        ReserveOutcome::Held { .. }
    ));
    let r = refused(reserve_as(&port, "f", "search", None, 1));
    assert_eq!(
        (r.reason.as_str(), r.scope.as_str()),
        ("hard-cap-exceeded", "port")
    );
    // A usage write past the exact range (the hold's 2 000 plus 2^53 - 1).
    assert!(matches!(
        port.record("g", MAX_TOKENS, now(), now()),
        RecordOutcome::TooLarge { .. }
    ));
    assert_eq!(
        counted(&port, now()),
        vec![
            row("estimated-exceeds-cap", "feature", 1),
            row("estimated-exceeds-cap", "port", 1),
            row("estimated-exceeds-cap", "user", 2),
            row("hard-cap-exceeded", "port", 1),
            row("total-too-large", "port", 1),
        ]
    );
}

#[test]
fn a_retry_of_a_refused_request_is_not_counted_again() {
    let port = capped_port();
    for _ in 0..3 {
        refused(reserve_as(&port, "same", "search", None, 2_500));
        refused(reserve_as(&port, "mine", "search", Some("ann"), 400));
        port.record("huge", MAX_TOKENS, now(), now());
    }
    port.record("big", MAX_TOKENS - 1, now(), now());
    for _ in 0..2 {
        assert!(matches!(
            port.record("past", 2, now(), now()),
            RecordOutcome::TooLarge { .. }
        ));
    }
    assert_eq!(
        counted(&port, now()),
        vec![
            row("estimated-exceeds-cap", "port", 1),
            row("estimated-exceeds-cap", "user", 1),
            // "huge" and "past": each once.
            row("total-too-large", "port", 2),
        ]
    );
}

fn gateway_hold(port: &Port, id: &str, actions: &CapActions) -> GatewayHold {
    GatewayHold {
        hold: port.hold_request(1, Some(id)),
        model: "gpt-4.1".into(),
        seen: Some(0),
        actions: actions.clone(),
        downgraded: false,
        feature_actions: CapActions::default(),
    }
}

#[test]
fn the_actions_at_the_caps_count_their_refusals_and_throttles() {
    let port = Port::new();
    capped(&port, 100, 1_000, "day");
    port.held(150, now());
    let refuse = CapActions {
        on_soft_cap: Some(CapAction::Refuse),
        ..CapActions::default()
    };
    for _ in 0..2 {
        assert_eq!(
            port.run(|g| g.gateway_reserve(&gateway_hold(&port, "r1", &refuse), now())),
            GatewayReserveOutcome::Refused {
                cap: Cap::Soft,
                feature: false
            }
        );
    }
    let throttle = CapActions {
        on_soft_cap: Some(CapAction::Throttle {
            calls_per_minute: 1,
        }),
        ..CapActions::default()
    };
    let outcomes: Vec<_> = ["t1", "t2", "t3", "t3"]
        .iter()
        .map(|id| port.run(|g| g.gateway_reserve(&gateway_hold(&port, id, &throttle), now())))
        .collect();
    assert!(matches!(outcomes[0], GatewayReserveOutcome::Reserve { .. }));
    assert!(outcomes[1..]
        .iter()
        .all(|o| matches!(o, GatewayReserveOutcome::Throttled { .. })));
    assert_eq!(
        counted(&port, now()),
        vec![
            row("budget-throttled", "port", 2),
            row("refused-at-soft-cap", "port", 1)
        ]
    );
}

#[test]
fn a_features_own_actions_count_their_refusals_under_the_feature() {
    let port = port_with_a_feature_cap();
    port.held(150, now());
    let refuse = CapActions {
        on_soft_cap: Some(CapAction::Refuse),
        ..CapActions::default()
    };
    let hold = GatewayHold {
        feature_actions: refuse,
        ..gateway_hold(&port, "f1", &CapActions::default())
    };
    assert_eq!(
        port.run(|g| g.gateway_reserve(&hold, now())),
        GatewayReserveOutcome::Refused {
            cap: Cap::Soft,
            feature: true
        }
    );
    assert_eq!(
        counted(&port, now()),
        vec![row("refused-at-soft-cap", "feature", 1)]
    );
}

#[test]
fn a_new_period_starts_from_zero_and_the_last_keeps_its_counts() {
    let port = capped_port();
    refused(reserve_as(&port, "a", "search", None, 2_500));
    refused(reserve_as(&port, "b", "chat", None, 600));
    let tomorrow = now() + Duration::days(1);
    assert_eq!(counted(&port, tomorrow), vec![]);
    let req = HoldRequest {
        feature: "chat".into(),
        ..port.hold_request(600, Some("c"))
    };
    refused(port.run(|g| g.reserve(&req, tomorrow)));
    assert_eq!(
        counted(&port, tomorrow),
        vec![row("estimated-exceeds-cap", "feature", 1)]
    );
    let today = port
        .run(|g| g.budget())
        .budget
        .window(now())
        .start
        .timestamp_millis();
    assert_eq!(
        port.run(|g| g.refusal_counts(today)),
        vec![
            RefusalCount {
                reason: "estimated-exceeds-cap".into(),
                scope: "feature".into(),
                count: 1
            },
            RefusalCount {
                reason: "estimated-exceeds-cap".into(),
                scope: "port".into(),
                count: 1
            },
        ]
    );
}

#[test]
fn the_counts_ride_the_ports_report_to_d1_for_its_current_period_only() {
    use ai_budget::ledger::{delivery, reports};
    let port = capped_port();
    refused(reserve_as(&port, "a", "search", None, 2_500));
    refused(reserve_as(&port, "b", "search", Some("ann"), 400));
    refused(reserve_as(&port, "c", "search", Some("bob"), 400));
    let budget = port.run(|g| g.budget()).budget;
    let at = now().timestamp_millis();
    let (pending, snapshot) = port.run(|g| delivery::next_batch(g, 10, at));
    let d1 = common::sqlite::Sqlite::with_d1_schema();
    d1.batch(&delivery::batch("p", &budget, &pending, "w1", snapshot))
        .expect("D1 runs the batch");
    let read = |when: DateTime<Utc>| {
        let results = d1.batch(&reports::all_ports(when)).expect("D1 reads");
        reports::AllPorts::of(&results[0], &results[1]).refusals_of("p", &budget, when)
    };
    let status = port.run(|g| g.view(None, now())).refusals;
    assert_eq!(status.len(), 2);
    assert_eq!(read(now()), status);
    // Reported in an earlier period: nothing counts in this one yet.
    assert_eq!(read(now() + Duration::days(1)), vec![]);
}
