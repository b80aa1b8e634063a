//! Caps inside a port, in the port gate over a real SQLite, natively: a
//! reservation fits under every cap that applies or is refused by the first
//! it crosses, naming it; holds, commits, releases, usage writes and the
//! period's reset move each scope's count; a check answers as a
//! reservation would.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::*;
use chrono::{DateTime, Duration, Utc};
use common::port::*;

/// A port of a 10 000-token daily budget with `caps` (budget JSON fields).
fn port_with(caps: &str) -> Port {
    let port = Port::new();
    let json = format!(
        r#"{{"enabled":true,"softCapTokens":10000,"hardCapTokens":10000,"period":"day",{caps}}}"#
    );
    assert!(matches!(
        port.budget(&json, now()),
        SaveOutcome::Saved { .. }
    ));
    port
}

fn ask(port: &Port, feature: &str, user: Option<&str>, estimate: u64) -> HoldRequest {
    HoldRequest {
        feature: feature.into(),
        user_id: user.map(str::to_owned),
        ..port.hold_request(estimate, None)
    }
}

fn reserve_as(
    port: &Port,
    feature: &str,
    user: Option<&str>,
    estimate: u64,
    when: DateTime<Utc>,
) -> ReserveOutcome {
    let req = ask(port, feature, user, estimate);
    port.run(|g| g.reserve(&req, when))
}

fn refusal(outcome: ReserveOutcome) -> Refusal {
    match outcome {
        ReserveOutcome::Refused { refusal, .. } => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn hold(outcome: ReserveOutcome) -> Hold {
    match outcome {
        ReserveOutcome::Held { hold, .. } => hold,
        other => panic!("expected a hold, got {other:?}"),
    }
}

#[test]
fn a_feature_cap_refuses_its_feature_only_and_names_itself() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":500}}"#);
    hold(reserve_as(&port, "chat", None, 400, now()));
    let r = refusal(reserve_as(&port, "chat", None, 101, now()));
    assert_eq!(r.scope, "feature");
    assert_eq!(r.scope_id.as_deref(), Some("chat"));
    assert_eq!((r.used, r.cap), (400, 500));
    assert_eq!(r.reason, "estimated-exceeds-cap");
    hold(reserve_as(&port, "chat", None, 100, now()));
    hold(reserve_as(&port, "search", None, 5_000, now()));
}

#[test]
fn a_user_cap_counts_the_users_holds_and_committed_use_and_a_release_gives_back() {
    let port = port_with(r#""userCap":{"hardCap":300},"userCaps":{"vip":{"hardCap":2000}}"#);
    let first = hold(reserve_as(&port, "chat", Some("ann"), 200, now()));
    // Committed for more than held: the user's count follows the real use.
    assert!(matches!(
        port.commit(&first.id, 250, 0, now()),
        CommitOutcome::Committed { .. }
    ));
    let r = refusal(reserve_as(&port, "chat", Some("ann"), 60, now()));
    assert_eq!(
        (r.scope.as_str(), r.scope_id.as_deref()),
        ("user", Some("ann"))
    );
    assert_eq!(r.used, 250);
    hold(reserve_as(&port, "chat", Some("bob"), 300, now()));
    hold(reserve_as(&port, "chat", Some("vip"), 1_900, now()));
    hold(reserve_as(&port, "chat", None, 1_900, now()));

    let bob_more = hold(reserve_as(&port, "draft", Some("cy"), 250, now()));
    refusal(reserve_as(&port, "draft", Some("cy"), 100, now()));
    assert!(matches!(
        port.run(|g| g.release(&bob_more.id, now())),
        ReleaseOutcome::Released { .. }
    ));
    hold(reserve_as(&port, "draft", Some("cy"), 100, now()));
}

#[test]
fn an_expired_hold_counts_as_used_at_its_estimate_for_its_user() {
    let port = port_with(r#""userCap":{"hardCap":300}"#);
    hold(reserve_as(&port, "chat", Some("ann"), 250, now()));
    let later = now() + Duration::minutes(10);
    let r = refusal(reserve_as(&port, "chat", Some("ann"), 100, later));
    assert_eq!(r.used, 250, "the expired hold's estimate is used");
}

#[test]
fn the_period_reset_frees_every_scope() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":100}},"userCap":{"hardCap":100}"#);
    let h = hold(reserve_as(&port, "chat", Some("ann"), 100, now()));
    assert!(matches!(
        port.commit(&h.id, 100, 0, now()),
        CommitOutcome::Committed { .. }
    ));
    refusal(reserve_as(&port, "chat", None, 1, now()));
    refusal(reserve_as(&port, "other", Some("ann"), 1, now()));
    let tomorrow = now() + Duration::days(1);
    hold(reserve_as(&port, "chat", Some("ann"), 100, tomorrow));
}

#[test]
fn the_ports_cap_is_judged_first_and_a_sub_cap_above_it_never_refuses() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":50000}}"#);
    let r = refusal(reserve_as(&port, "chat", None, 10_001, now()));
    assert_eq!((r.scope.as_str(), r.scope_id), ("port", None));
    hold(reserve_as(&port, "chat", None, 10_000, now()));
}

#[test]
fn a_check_answers_as_the_next_reservation_would() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":500}},"userCap":{"hardCap":200}"#);
    hold(reserve_as(&port, "chat", Some("ann"), 150, now()));
    for (feature, user, estimate) in [
        ("chat", Some("ann"), 60),
        ("chat", Some("ann"), 50),
        ("chat", Some("bob"), 200),
        ("chat", None, 351),
        ("chat", None, 350),
        ("search", Some("ann"), 51),
    ] {
        let checked = port.run(|g| g.check(feature, user, estimate, now()));
        let would = reserve_as(&port, feature, user, estimate, now());
        let refused = match &would {
            ReserveOutcome::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        };
        assert_eq!(checked.sub_cap, refused, "{feature} {user:?} {estimate}");
        if let ReserveOutcome::Held { hold, .. } = would {
            port.run(|g| g.release(&hold.id, now()));
        }
    }
}

#[test]
fn a_lowered_sub_cap_binds_the_next_hold_and_null_removes_it() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":500}}"#);
    hold(reserve_as(&port, "chat", None, 300, now()));
    port.budget(r#"{"featureCaps":{"chat":{"hardCap":300}}}"#, now());
    refusal(reserve_as(&port, "chat", None, 1, now()));
    port.budget(r#"{"featureCaps":null}"#, now());
    hold(reserve_as(&port, "chat", None, 1_000, now()));
}

#[test]
fn a_bad_sub_cap_is_refused_and_nothing_is_saved() {
    let port = port_with(r#""featureCaps":{"chat":{"hardCap":500}}"#);
    let before = port.run(|g| g.budget());
    for bad in [
        r#"{"featureCaps":{"chat":{"hardCap":-1}}}"#,
        r#"{"featureCaps":{"chat":{"hardCap":2.5}}}"#,
        r#"{"userCap":{"softCap":10}}"#,
        r#"{"userCaps":{"":{"hardCap":10}}}"#,
        r#"{"featureCaps":{"chat":{"hardCap":10}},"hardCapTokens":"x"}"#,
    ] {
        assert!(
            matches!(port.budget(bad, now()), SaveOutcome::Invalid { .. }),
            "{bad}"
        );
    }
    assert_eq!(port.run(|g| g.budget()), before);
}

#[test]
fn the_report_lists_each_feature_cap_and_the_users_nearest_their_caps() {
    let port = port_with(
        r#""featureCaps":{"chat":{"softCap":100,"hardCap":1000},"ocr":{"hardCap":50}},"userCap":{"hardCap":100},"userCaps":{"vip":{"hardCap":10000},"idle":{"hardCap":5}}"#,
    );
    for n in 0..15u64 {
        let user = format!("u{n:02}");
        let h = hold(reserve_as(&port, "chat", Some(&user), 5 + n * 5, now()));
        assert!(matches!(
            port.commit(&h.id, 5 + n * 5, 0, now()),
            CommitOutcome::Committed { .. }
        ));
    }
    // 2 000 of 10 000 is a smaller share than u14's 75 of 100, held only.
    hold(reserve_as(&port, "draft", Some("vip"), 2_000, now()));
    let stored = port.run(|g| g.budget());
    let report = port.run(|g| g.caps_report(&stored, 4, now()));
    let ids: Vec<&str> = report.top_users.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["u14", "u13", "u12", "u11"]);
    assert_eq!(report.top_users[0].used_tokens, 75);
    assert!(!report.top_users[0].overridden);

    let wide = port.run(|g| g.caps_report(&stored, 20, now()));
    let vip = wide
        .top_users
        .iter()
        .find(|l| l.id == "vip")
        .expect("an override is weighed");
    assert_eq!(
        (vip.held_tokens, vip.hard_cap, vip.overridden),
        (2_000, 10_000, true)
    );
    assert!(
        wide.top_users.iter().any(|l| l.id == "idle"),
        "an idle override is listed too"
    );
    assert_eq!(wide.top_users.len(), 17);

    let features: Vec<(&str, u64, u64)> = report
        .features
        .iter()
        .map(|l| (l.id.as_str(), l.gate_tokens(), l.hard_cap))
        .collect();
    let chat_used: u64 = (0..15u64).map(|n| 5 + n * 5).sum();
    assert_eq!(features, [("chat", chat_used, 1000), ("ocr", 0, 50)]);

    let tomorrow = now() + Duration::days(1);
    let fresh = port.run(|g| g.caps_report(&stored, 4, tomorrow));
    assert!(
        fresh.top_users.iter().all(|l| l.used_tokens == 0),
        "a new period starts at zero"
    );
}

#[test]
fn a_seeded_history_of_many_users_counts_each_user() {
    let port = port_with(r#""userCap":{"hardCap":100}"#);
    port.budget(r#"{"hardCapTokens":100000}"#, now());
    port.run(|g| g.seed_history(1_000, 100, now()));
    // 1 000 rows of 10 tokens over 100 users: 100 tokens each, at the cap.
    let r = refusal(reserve_as(&port, "chat", Some("user-42"), 1, now()));
    assert_eq!((r.scope_id.as_deref(), r.used), (Some("user-42"), 100));
    hold(reserve_as(&port, "chat", Some("user-100"), 100, now()));
    let stored = port.run(|g| g.budget());
    let report = port.run(|g| g.caps_report(&stored, 3, now()));
    // 101 users tie at their cap: the tie goes by id.
    let ids: Vec<&str> = report.top_users.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["user-0", "user-1", "user-10"]);
    assert!(report.top_users.iter().all(|l| l.gate_tokens() == 100));
}
