//! The port gate in money, natively: holds and counters in micro-dollars
//! beside tokens, refusals in the budget's unit, each entry's cost as it was
//! priced at settlement, and the same costs delivered to D1's ledger and
//! rollup.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::*;
use ai_budget::ledger::delivery::{self, Delivered, Snapshot};
use ai_budget::sql::Sql;
use ai_budget::{Period, Unit};
use chrono::Duration;
use common::port::{now, usage, Port};
use common::sqlite::Sqlite;

fn usd_budget(port: &Port, soft: &str, hard: &str) {
    let json = format!(
        r#"{{"enabled": true, "unit": "usd", "softCapUsd": {soft}, "hardCapUsd": {hard}, "period": "day"}}"#
    );
    assert!(matches!(
        port.budget(&json, now()),
        SaveOutcome::Saved { .. }
    ));
}

fn money_hold(port: &Port, tokens: u64, usd: Option<u64>) -> ReserveOutcome {
    let req = HoldRequest {
        estimated_usd: usd,
        ..port.hold_request(tokens, None)
    };
    port.run(|g| g.reserve(&req, now()))
}

fn commit_priced(port: &Port, id: &str, cost: Option<u64>) -> CommitOutcome {
    let usage = CallUsage {
        cost_usd: cost,
        ..usage(100, 50)
    };
    let write = port.write_id();
    port.run(|g| g.commit(id, &usage, &format!("c-{cost:?}"), &write, now()))
}

#[test]
fn a_usd_budget_holds_by_money_and_refuses_in_micro_dollars() {
    let port = Port::new();
    usd_budget(&port, "0.5", "1");
    // Tokens do not matter to a usd budget: a huge token estimate passes.
    for _ in 0..2 {
        assert!(matches!(
            money_hold(&port, 10_000_000, Some(400_000)),
            ReserveOutcome::Held { .. }
        ));
    }
    let ReserveOutcome::Refused { refusal, load } = money_hold(&port, 1, Some(200_001)) else {
        panic!("the third hold would cross $1");
    };
    assert_eq!(refusal.reason, "estimated-exceeds-cap");
    assert_eq!(refusal.unit, Unit::Usd);
    assert_eq!((refusal.used, refusal.cap), (800_000, 1_000_000));
    assert_eq!((load.held_usd, load.gate_usd()), (800_000, 800_000));
    // Exactly what is left fits.
    assert!(matches!(
        money_hold(&port, 1, Some(200_000)),
        ReserveOutcome::Held { .. }
    ));
    let ReserveOutcome::Refused { refusal, .. } = money_hold(&port, 0, Some(0)) else {
        panic!("the cap is reached");
    };
    assert_eq!(refusal.reason, "hard-cap-exceeded");
}

#[test]
fn a_usd_budget_never_holds_a_call_without_a_money_estimate() {
    let port = Port::new();
    usd_budget(&port, "100", "100");
    assert!(matches!(
        money_hold(&port, 1, None),
        ReserveOutcome::Unpriced { .. }
    ));
    assert_eq!(port.run(|g| g.open_holds()), (0, 0, 0));
}

#[test]
fn a_model_without_a_price_takes_the_ports_fallback_price_or_is_refused() {
    let port = Port::new();
    usd_budget(&port, "1", "1");
    let req = HoldRequest {
        unpriced_estimate: Some((1_000, 100)),
        ..port.hold_request(1_100, None)
    };
    assert!(matches!(
        port.run(|g| g.reserve(&req, now())),
        ReserveOutcome::Unpriced { .. }
    ));
    let unpriced = CallUsage {
        cost_usd: None,
        ..usage(10, 10)
    };
    let write = port.write_id();
    assert!(matches!(
        port.run(|g| g.record(&unpriced, "r1", "h", &write, now(), now())),
        RecordOutcome::Unpriced { .. }
    ));
    assert_eq!(port.load(Period::Day, now()).calls, 0, "nothing counted");
    // $2 input, $8 output per million: 1 000 x 2 + 100 x 8 = 2 800 micro-dollars.
    assert!(matches!(
        port.budget(
            r#"{"fallbackPrice": {"inputPerMTok": 2, "outputPerMTok": 8}}"#,
            now()
        ),
        SaveOutcome::Saved { .. }
    ));
    let req = HoldRequest {
        hold_id: "rsv_fallback".into(),
        request_id: "fallback".into(),
        ..req
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&req, now())) else {
        panic!("the fallback price prices it")
    };
    assert_eq!(hold.estimated_usd, Some(2_800));
    let write = port.write_id();
    let CommitOutcome::Committed { entry, .. } =
        port.run(|g| g.commit(&hold.id, &unpriced, "c", &write, now()))
    else {
        panic!()
    };
    // 10 x $2 + 10 x $8 per million tokens: $0.0001, 100 micro-dollars.
    assert_eq!(entry.cost_usd, Some(100));
}

#[test]
fn a_commit_counts_its_cost_and_frees_its_money_hold() {
    let port = Port::new();
    usd_budget(&port, "1", "1");
    let ReserveOutcome::Held { hold, .. } = money_hold(&port, 150, Some(600_000)) else {
        panic!()
    };
    let CommitOutcome::Committed { entry, load, .. } = commit_priced(&port, &hold.id, Some(12_345))
    else {
        panic!()
    };
    assert_eq!(entry.cost_usd, Some(12_345));
    assert_eq!((load.used_usd, load.held_usd), (12_345, 0));
    // Under every period kind, and in the feature's scope.
    for period in Period::ALL {
        assert_eq!(port.load(period, now()).used_usd, 12_345);
    }
    assert_eq!(
        port.run(|g| g.load(Period::Day, Some("chat"), now()))
            .used_usd,
        12_345
    );
}

#[test]
fn a_commit_the_gate_cannot_price_is_refused_like_a_usage_write_never_free() {
    let port = Port::new();
    usd_budget(&port, "1", "1");
    // A hold of $0 (an explicit estimate) and a commit nobody priced: the
    // same rule as a usage write of it, refused, nothing counted.
    for bound in [0, 600_000] {
        let ReserveOutcome::Held { hold, .. } = money_hold(&port, 150, Some(bound)) else {
            panic!()
        };
        let CommitOutcome::Unpriced { hold: open, load } = commit_priced(&port, &hold.id, None)
        else {
            panic!("refused as unpriced")
        };
        assert_eq!((open.state, load.used_usd), (HoldState::Held, 0));
        // The gateway, whose hold the table priced, charges that bound.
        let CommitOutcome::Committed { entry, .. } = commit_priced(&port, &hold.id, Some(bound))
        else {
            panic!()
        };
        assert_eq!(entry.cost_usd, Some(bound));
    }
    let unpriced = CallUsage {
        cost_usd: None,
        ..usage(100, 50)
    };
    assert!(matches!(
        port.run(|g| g.record(&unpriced, "r", "h", "w", now(), now())),
        RecordOutcome::Unpriced { .. }
    ));
}

#[test]
fn a_release_gives_the_money_back() {
    let port = Port::new();
    usd_budget(&port, "1", "1");
    let ReserveOutcome::Held { hold, .. } = money_hold(&port, 1, Some(1_000_000)) else {
        panic!()
    };
    let ReleaseOutcome::Released { load, .. } = port.run(|g| g.release(&hold.id, now())) else {
        panic!()
    };
    assert_eq!(load.gate_usd(), 0);
    assert!(matches!(
        money_hold(&port, 1, Some(1_000_000)),
        ReserveOutcome::Held { .. }
    ));
}

#[test]
fn an_expired_money_hold_is_charged_its_bound_and_a_late_commit_corrects_the_cost() {
    let port = Port::new();
    usd_budget(&port, "1", "1");
    let req = HoldRequest {
        estimated_usd: Some(700_000),
        ttl_seconds: 5,
        ..port.hold_request(900, None)
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&req, now())) else {
        panic!()
    };
    let later = now() + Duration::seconds(10);
    port.run(|g| g.expire_due(later));
    assert_eq!(port.load(Period::Day, later).used_usd, 700_000);
    let usage = CallUsage {
        cost_usd: Some(5_000),
        ..usage(100, 50)
    };
    let write = port.write_id();
    let CommitOutcome::Committed { entry, .. } =
        port.run(|g| g.commit(&hold.id, &usage, "late", &write, later))
    else {
        panic!()
    };
    assert_eq!((entry.cost_usd, entry.estimated), (Some(5_000), false));
    assert_eq!(port.load(Period::Day, later).used_usd, 5_000);
}

#[test]
fn a_token_budget_counts_money_too_where_a_price_is_known_and_judges_tokens() {
    let port = Port::new();
    common::port::capped(&port, 100, 1_000, "day");
    // A money estimate far above any usd cap does not matter to tokens.
    let ReserveOutcome::Held { hold, .. } = money_hold(&port, 1_000, Some(u64::MAX >> 12)) else {
        panic!()
    };
    commit_priced(&port, &hold.id, Some(2_500));
    let record = CallUsage {
        feature: Some("ocr".into()),
        ..usage(10, 0)
    };
    let write = port.write_id();
    port.run(|g| g.record(&record, "unpriced", "h", &write, now(), now()));
    let load = port.load(Period::Day, now());
    assert_eq!((load.used_tokens, load.used_usd), (160, 2_500));
}

#[test]
fn costs_reach_d1_and_its_rollup_equals_the_gate_after_a_correction() {
    let gate = Sqlite::remembering();
    Gate::open(&gate).unwrap();
    let d1 = Sqlite::with_d1_schema();
    let run = |f: &dyn Fn(&Gate<'_, Sqlite>) -> Result<(), GateError>| {
        gate.transaction(|db| f(&Gate::over(db))).unwrap()
    };
    let deliver = |n: u32| {
        let pending = gate.transaction(|db| Gate::over(db).pending(50)).unwrap();
        let batch = delivery::batch(
            "p",
            &ai_budget::Budget::default(),
            &pending,
            &format!("w{n}"),
            Snapshot::default(),
        );
        let results = d1.batch(&batch).unwrap();
        let stored: Vec<(u64, u64)> = delivery::outcome(&pending, results.last().unwrap())
            .into_iter()
            .filter_map(|d| match d {
                Delivered::Stored { seq, version } => Some((seq, version)),
                Delivered::Duplicate { .. } => None,
            })
            .collect();
        gate.transaction(|db| Gate::over(db).delivered(&stored))
            .unwrap();
    };
    let hold = HoldRequest {
        estimated_tokens: 500,
        feature: "chat".into(),
        user_id: None,
        request_id: "late".into(),
        ttl_seconds: 5,
        body_hash: "h".into(),
        hold_id: "rsv_late".into(),
        estimated_usd: Some(90_000),
        unpriced_estimate: None,
    };
    run(&|g| g.reserve(&hold, now()).map(|_| ()));
    run(&|g| g.expire_due(now() + Duration::seconds(10)).map(|_| ()));
    deliver(1);
    let d1_usd = || {
        d1.exec(
            "SELECT (SELECT cost_usd_micros FROM usage_ledger WHERE port_id = 'p') AS row, \
             (SELECT usd_micros FROM usage_rollup WHERE port_id = 'p' AND period = 'month') AS month",
            &[],
        )
        .unwrap()[0]
            .clone()
    };
    assert_eq!(
        (d1_usd().count("row"), d1_usd().count("month")),
        (90_000, 90_000)
    );
    let correction = CallUsage {
        cost_usd: Some(1_234),
        ..usage(70, 5)
    };
    run(&|g| {
        g.commit("rsv_late", &correction, "c", "w", now() + Duration::days(1))
            .map(|_| ())
    });
    deliver(2);
    deliver(3);
    assert_eq!(
        (d1_usd().count("row"), d1_usd().count("month")),
        (1_234, 1_234),
        "the correction moved the rollup by the difference, once"
    );
    let unpriced = CallUsage {
        cost_usd: None,
        ..usage(1, 1)
    };
    run(&|g| g.record(&unpriced, "u", "h", "w", now(), now()).map(|_| ()));
    deliver(4);
    let rows = d1
        .exec(
            "SELECT cost_usd_micros FROM usage_ledger WHERE request_id = 'u'",
            &[],
        )
        .unwrap();
    assert_eq!(
        rows[0].int("cost_usd_micros"),
        None,
        "unpriced stays unpriced"
    );
}

#[test]
fn a_gate_of_the_schema_before_money_is_migrated_and_keeps_its_state() {
    let port = Port::new();
    common::port::capped(&port, 100, 1_000, "day");
    let hold = port.held(300, now());
    port.record("before", 40, now(), now());
    // Back to the schema before money: its columns gone, its version 1.
    for statement in [
        "ALTER TABLE holds DROP COLUMN estimated_usd_micros",
        "ALTER TABLE entries DROP COLUMN cost_usd_micros",
        "ALTER TABLE counters DROP COLUMN usd_micros",
        // And the later versions' columns.
        "ALTER TABLE entries DROP COLUMN set_aside_version",
        "ALTER TABLE entries DROP COLUMN set_aside_reason",
        "ALTER TABLE entries DROP COLUMN set_aside_at",
        "ALTER TABLE entries DROP COLUMN funded_by",
        "ALTER TABLE entries DROP COLUMN price_version",
        "ALTER TABLE entries DROP COLUMN price_source",
        "UPDATE meta SET value = '1' WHERE key = 'schema'",
    ] {
        port.db.exec(statement, &[]).unwrap();
    }
    port.restart();
    // The next operation migrates: the hold, the counters and the ledger
    // are kept, unpriced.
    let load = port.load(Period::Day, now());
    assert_eq!(
        (
            load.used_tokens,
            load.held_tokens,
            load.used_usd,
            load.held_usd
        ),
        (40, 300, 0, 0)
    );
    let kept = port.run(|g| g.hold(&hold.id)).unwrap();
    assert_eq!((kept.estimated_tokens, kept.estimated_usd), (300, None));
    let CommitOutcome::Committed { entry, load, .. } = commit_priced(&port, &hold.id, Some(700))
    else {
        panic!("the old hold commits after the migration")
    };
    assert_eq!(
        (entry.cost_usd, load.used_usd, load.used_tokens),
        (Some(700), 700, 190)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random holds in micro-dollars, each committed at most at its bound,
    /// released or left open: the gate's used plus held money never passes
    /// the cap, and every refusal is a true one.
    #[test]
    fn money_holds_and_commits_never_cross_a_usd_cap(
        cap in 1u64..5_000_000,
        ops in proptest::collection::vec((1u64..2_000_000, 0u8..3, 0u64..=100), 1..40),
    ) {
        let port = Port::new();
        usd_budget(&port, &ai_budget::pricing::usd_string(cap), &ai_budget::pricing::usd_string(cap));
        for (bound, settle, share) in ops {
            let before = port.load(Period::Day, now()).gate_usd();
            match money_hold(&port, 1, Some(bound)) {
                ReserveOutcome::Held { hold, .. } => {
                    proptest::prop_assert!(before + bound <= cap);
                    match settle {
                        0 => {
                            commit_priced(&port, &hold.id, Some(bound * share / 100));
                        }
                        1 => {
                            port.run(|g| g.release(&hold.id, now()));
                        }
                        _ => {}
                    }
                }
                ReserveOutcome::Refused { .. } => proptest::prop_assert!(before + bound > cap),
                other => proptest::prop_assert!(false, "{other:?}"),
            }
            proptest::prop_assert!(port.load(Period::Day, now()).gate_usd() <= cap);
        }
    }
}
