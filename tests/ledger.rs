//! Delivery from a port gate's outbox to the ledger of record, natively:
//! the D1 schema (migrations/) and the D1 statements on a real SQLite.
//! Each version of each entry counts once however often a delivery is
//! retried, corrections move the rollup by the difference, and the ledger
//! ends equal to the gate.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::*;
use ai_budget::ledger::delivery::{self, Delivered, Snapshot};
use ai_budget::ledger::reports;
use ai_budget::sql::Sql;
use ai_budget::TokenCounts;
use ai_budget::{Period, RawBudget};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::sqlite::Sqlite;

fn now() -> DateTime<Utc> {
    common::test_now(Utc.with_ymd_and_hms(2026, 9, 30, 23, 0, 0).unwrap())
}

/// (period, period start, feature, tokens, calls) rows of the rollup.
type RollupRows = Vec<(String, i64, String, i64, i64)>;

struct World {
    gate: Sqlite,
    d1: Sqlite,
    attempt: std::cell::Cell<u32>,
}

impl World {
    fn new() -> World {
        let gate = Sqlite::new();
        Gate::open(&gate).unwrap();
        World {
            gate,
            d1: Sqlite::with_d1_schema(),
            attempt: std::cell::Cell::new(0),
        }
    }

    fn run<T>(&self, f: impl FnOnce(&Gate<'_, Sqlite>) -> Result<T, GateError>) -> T {
        self.gate.transaction(|db| f(&Gate::open(db)?)).unwrap()
    }

    /// One delivery attempt of everything pending; `lose_reply` runs the
    /// batch but drops its answer, as a reply lost on the way back.
    fn deliver(&self, lose_reply: bool) -> Vec<Delivered> {
        let pending = self.run(|g| g.pending(delivery::BATCH_ENTRIES as u32));
        let n = self.attempt.get() + 1;
        self.attempt.set(n);
        let batch = delivery::batch(
            "p",
            &ai_budget::Budget::default(),
            &pending,
            &format!("w{n}"),
            Snapshot::default(),
        );
        let results = self.d1.batch(&batch).expect("D1 runs the batch");
        if lose_reply {
            return Vec::new();
        }
        let out = delivery::outcome(&pending, results.last().unwrap());
        let stored: Vec<(u64, u64)> = out
            .iter()
            .filter_map(|d| match d {
                Delivered::Stored { seq, version } => Some((*seq, *version)),
                Delivered::Duplicate { .. } => None,
            })
            .collect();
        self.run(|g| g.delivered(&stored));
        out
    }

    /// A hold of 500 tokens (`rsv_late`, request `late`, 5 s) taken now and
    /// expired unused: charged its estimate, so a commit of it later is a
    /// correction.
    fn expire_late_hold(&self) {
        let hold = HoldRequest {
            estimated_tokens: 500,
            feature: "chat".into(),
            user_id: None,
            request_id: "late".into(),
            ttl_seconds: 5,
            body_hash: "h".into(),
            hold_id: "rsv_late".into(),
            estimated_usd: None,
            unpriced_estimate: None,
        };
        self.run(|g| g.reserve(&hold, now()));
        self.run(|g| g.expire_due(now() + Duration::seconds(10)));
    }

    fn record(&self, id: &str, feature: &str, tokens: u64, at: DateTime<Utc>) {
        let usage = CallUsage {
            user_id: None,
            feature: Some(feature.into()),
            provider: "p".into(),
            model: "m".into(),
            tokens: TokenCounts::new(tokens, 1),
            cost_usd: None,
            price_version: None,
            price_source: None,
        };
        self.run(|g| g.record(&usage, id, "h", id, at, now()));
    }

    /// The rollup as it is, and as the ledger's rows say it should be.
    fn rollup_against_ledger(&self) -> (RollupRows, RollupRows) {
        let rows = self
            .d1
            .exec(
                "SELECT feature, total_tokens, created_at FROM usage_ledger WHERE port_id = 'p'",
                &[],
            )
            .unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for r in &rows {
            let at = reports::at(r.int("created_at").unwrap());
            for period in Period::ALL {
                let key = (
                    period.as_str().to_owned(),
                    period.start(at).timestamp_millis(),
                    r.text("feature").unwrap(),
                );
                let slot = expected.entry(key).or_insert((0, 0));
                slot.0 += r.int("total_tokens").unwrap();
                slot.1 += 1;
            }
        }
        let expected = expected
            .into_iter()
            .map(|((p, s, f), (t, c))| (p, s, f, t, c))
            .collect();
        let actual = self
            .d1
            .exec("SELECT period, period_start, feature, tokens, calls FROM usage_rollup WHERE port_id = 'p' ORDER BY period, period_start, feature", &[])
            .unwrap()
            .iter()
            .map(|r| (r.text("period").unwrap(), r.int("period_start").unwrap(), r.text("feature").unwrap(), r.int("tokens").unwrap(), r.int("calls").unwrap()))
            .collect();
        (expected, actual)
    }

    fn d1_used(&self, period: Period, at: DateTime<Utc>) -> u64 {
        self.d1
            .exec(
                "SELECT COALESCE(SUM(tokens), 0) AS t FROM usage_rollup WHERE port_id = 'p' AND period = ?1 AND period_start = ?2",
                &[period.as_str().into(), period.start(at).timestamp_millis().into()],
            )
            .unwrap()[0]
            .count("t")
    }
}

#[test]
fn delivered_entries_land_once_with_their_numbers_and_the_rollup_equals_the_ledger() {
    let w = World::new();
    w.record("a", "chat", 10, now());
    w.record("b", "ocr", 20, now() - Duration::days(40));
    w.record("c", "chat", 30, now() + Duration::minutes(30));
    let out = w.deliver(false);
    assert_eq!(
        out,
        [1, 2, 3].map(|seq| Delivered::Stored { seq, version: 1 })
    );
    let (expected, actual) = w.rollup_against_ledger();
    assert_eq!(actual, expected);
    let page =
        w.d1.exec(
            &reports::ledger_page("p", None, 10).sql,
            &reports::ledger_page("p", None, 10).params,
        )
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.count("seq")).collect::<Vec<_>>(),
        [3, 2, 1],
        "numbered by the gate, newest first"
    );
    assert_eq!(w.run(|g| g.pending_count()), 0);
    for period in Period::ALL {
        assert_eq!(
            w.d1_used(period, now()),
            w.run(|g| g.load(period, None, now())).used_tokens,
            "{period}"
        );
    }
}

#[test]
fn a_delivery_retried_after_its_reply_was_lost_counts_nothing_twice() {
    let w = World::new();
    w.record("a", "chat", 10, now());
    w.record("b", "chat", 20, now());
    w.deliver(true);
    w.deliver(true);
    assert_eq!(w.run(|g| g.pending_count()), 2, "the gate never heard back");
    let out = w.deliver(false);
    assert_eq!(out.len(), 2);
    let (expected, actual) = w.rollup_against_ledger();
    assert_eq!(actual, expected);
    assert_eq!(w.d1_used(Period::Day, now()), 32);
}

#[test]
fn a_late_commit_is_delivered_as_a_correction_that_moves_the_rollup_by_the_difference() {
    let w = World::new();
    w.expire_late_hold();
    // Its periods are those of the instant it expired.
    let expired = now() + Duration::seconds(5);
    w.deliver(false);
    assert_eq!(
        w.d1_used(Period::Day, expired),
        500,
        "the estimate, delivered"
    );
    let usage = CallUsage {
        user_id: Some("u1".into()),
        feature: Some("summary".into()),
        provider: "openai".into(),
        model: "gpt".into(),
        tokens: TokenCounts {
            input_tokens: 70,
            cached_input_tokens: 20,
            cache_write_tokens: 0,
            output_tokens: 5,
            reasoning_tokens: 3,
        },
        cost_usd: None,
        price_version: None,
        price_source: None,
    };
    let weeks_later = now() + Duration::days(20);
    w.run(|g| g.commit("rsv_late", &usage, "c", "w", weeks_later));
    // Lost once, then delivered: one correction.
    w.deliver(true);
    let out = w.deliver(false);
    assert_eq!(out, [Delivered::Stored { seq: 1, version: 2 }]);
    assert_eq!(w.d1_used(Period::Day, expired), 75);
    let (expected, actual) = w.rollup_against_ledger();
    assert_eq!(
        actual, expected,
        "no empty row left for the old feature either"
    );
    let row = &w
        .d1
        .exec("SELECT * FROM usage_ledger WHERE port_id = 'p'", &[])
        .unwrap()[0];
    assert_eq!(
        (
            row.text("feature").unwrap(),
            row.int("estimated").unwrap(),
            row.int("cached_input_tokens").unwrap(),
            row.int("reasoning_tokens").unwrap(),
            row.int("version").unwrap()
        ),
        ("summary".into(), 0, 20, 3, 2)
    );
}

#[test]
fn a_first_version_is_delivered_in_two_statements_and_a_correction_in_four() {
    let w = World::new();
    let statements = |w: &World| {
        let pending = w.run(|g| g.pending(delivery::BATCH_ENTRIES as u32));
        let batch = delivery::batch(
            "p",
            &ai_budget::Budget::default(),
            &pending,
            "w",
            Snapshot::default(),
        );
        // Less the batch's tail: empty rollups dropped, the snapshot, the read-back.
        batch.len() - 3
    };
    // A first version: its row and its count (no older row to uncount or correct).
    w.record("first", "chat", 40, now());
    assert_eq!(statements(&w), 2);
    w.deliver(false);
    // A late commit of an expired hold: version 2, uncounted and corrected too.
    w.expire_late_hold();
    w.deliver(false);
    let usage = CallUsage {
        user_id: None,
        feature: Some("chat".into()),
        provider: "p".into(),
        model: "m".into(),
        tokens: TokenCounts::new(60, 5),
        cost_usd: None,
        price_version: None,
        price_source: None,
    };
    w.run(|g| g.commit("rsv_late", &usage, "c", "w2", now() + Duration::minutes(1)));
    assert_eq!(statements(&w), 4);
    w.deliver(false);
    let (expected, actual) = w.rollup_against_ledger();
    assert_eq!(actual, expected);
    // The late call counts in the day its hold expired (the next one, near
    // a day's end).
    let expired = now() + Duration::seconds(5);
    let later_day = Period::Day.start(expired) != Period::Day.start(now());
    let used = w.d1_used(Period::Day, now())
        + if later_day {
            w.d1_used(Period::Day, expired)
        } else {
            0
        };
    assert_eq!(used, (40 + 1) + (60 + 5));
}

#[test]
fn a_correction_made_before_the_first_delivery_is_delivered_once_as_the_final_row() {
    let w = World::new();
    let hold = HoldRequest {
        estimated_tokens: 90,
        feature: "chat".into(),
        user_id: None,
        request_id: "x".into(),
        ttl_seconds: 1,
        body_hash: "h".into(),
        hold_id: "rsv_x".into(),
        estimated_usd: None,
        unpriced_estimate: None,
    };
    w.run(|g| g.reserve(&hold, now()));
    w.run(|g| g.expire_due(now() + Duration::seconds(2)));
    // The estimate's delivery ran but its reply was lost; then the late commit.
    w.deliver(true);
    let usage = CallUsage {
        user_id: None,
        feature: None,
        provider: "p".into(),
        model: "m".into(),
        tokens: TokenCounts::new(4, 4),
        cost_usd: None,
        price_version: None,
        price_source: None,
    };
    w.run(|g| g.commit("rsv_x", &usage, "c", "w", now() + Duration::seconds(3)));
    w.deliver(false);
    assert_eq!(
        w.d1_used(Period::Day, now() + Duration::seconds(1)),
        8,
        "in the periods of its expiry"
    );
    let (expected, actual) = w.rollup_against_ledger();
    assert_eq!(actual, expected);
}

#[test]
fn a_request_id_the_ledger_already_holds_under_another_number_is_reported_as_a_duplicate() {
    let w = World::new();
    // A row from before the objects: numbered by its row id.
    w.d1.exec(
        "INSERT INTO usage_ledger (port_id, user_id, feature, provider, model, input_tokens, output_tokens, total_tokens, \
           request_id, body_hash, write_id, created_at) VALUES ('p', NULL, 'chat', 'p', 'm', 5, 0, 5, 'old-id', 'h', 'w0', ?1)",
        &[now().timestamp_millis().into()],
    )
    .unwrap();
    w.d1.exec("UPDATE usage_ledger SET seq = id", &[]).unwrap();
    w.run(|g| {
        g.import(&Import {
            last_seq: 1,
            ..Import::default()
        })
    });
    w.record("old-id", "chat", 9, now());
    let out = w.deliver(false);
    assert_eq!(out, [Delivered::Duplicate { seq: 2 }]);
    let rows =
        w.d1.exec(
            "SELECT seq, total_tokens FROM usage_ledger WHERE port_id = 'p'",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "the ledger kept its row");
    assert_eq!(rows[0].count("total_tokens"), 5);
}

#[test]
fn a_port_from_before_the_objects_is_imported_from_d1_with_its_open_and_expired_holds() {
    let d1 = Sqlite::with_d1_schema();
    let day = Period::Day.start(now()).timestamp_millis();
    let t = now().timestamp_millis();
    for (request, feature, tokens, estimated, reservation) in [
        ("r1", "chat", 100, 0, None),
        ("r2", "chat", 400, 1, Some("rsv_exp")),
    ] {
        d1.exec(
            "INSERT INTO usage_ledger (port_id, feature, provider, model, input_tokens, output_tokens, total_tokens, request_id, \
               reservation_id, body_hash, write_id, created_at, estimated) VALUES ('p', ?1, 'p', 'm', ?2, 0, ?2, ?3, ?4, '', 'w', ?5, ?6)",
            &[feature.into(), (tokens as i64).into(), request.into(), reservation.into(), t.into(), (estimated as i64).into()],
        )
        .unwrap();
    }
    d1.exec("UPDATE usage_ledger SET seq = id", &[]).unwrap();
    d1.exec(
        "INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) VALUES ('p', 'day', ?1, 'chat', 500, 2)",
        &[day.into()],
    )
    .unwrap();
    for (id, request, state, est) in [
        ("rsv_open", "h1", "held", 70),
        ("rsv_exp", "r2", "expired", 400),
        ("rsv_done", "h3", "committed", 10),
    ] {
        d1.exec(
            "INSERT INTO reservations (id, port_id, request_id, feature, estimated_tokens, state, body_hash, created_at, expires_at, settled_at) \
             VALUES (?1, 'p', ?2, 'chat', ?3, ?4, 'b', ?5, ?6, ?7)",
            &[id.into(), request.into(), (est as i64).into(), state.into(), (t - 60_000).into(), (t + 60_000).into(), (if state == "held" { None } else { Some(t) }).into()],
        )
        .unwrap();
    }
    let statements = reports::import("p", day - 86_400_000);
    let results: Vec<_> = statements
        .iter()
        .map(|s| d1.exec(&s.sql, &s.params).unwrap())
        .collect();
    let import = reports::import_of(&results);
    assert_eq!(import.last_seq, 2);
    assert_eq!(
        import
            .holds
            .iter()
            .map(|h| h.id.as_str())
            .collect::<Vec<_>>(),
        ["rsv_exp", "rsv_open"]
    );
    let gate = Sqlite::new();
    let g = Gate::open(&gate).unwrap();
    g.import(&import).unwrap();
    let load = g.load(Period::Day, None, now()).unwrap();
    assert_eq!(
        (load.used_tokens, load.held_tokens, load.expired_tokens),
        (500, 70, 400)
    );
    assert_eq!(
        g.pending_count().unwrap(),
        0,
        "what came from the ledger is not delivered back"
    );
    // A late commit of the hold that expired before the upgrade corrects its row.
    let usage = CallUsage {
        user_id: None,
        feature: None,
        provider: "p".into(),
        model: "m".into(),
        tokens: TokenCounts::new(30, 0),
        cost_usd: None,
        price_version: None,
        price_source: None,
    };
    assert!(matches!(
        g.commit("rsv_exp", &usage, "c", "w", now()).unwrap(),
        CommitOutcome::Committed {
            replayed: false,
            ..
        }
    ));
    assert_eq!(g.load(Period::Day, None, now()).unwrap().used_tokens, 130);
    let _ = RawBudget::default();
}

#[test]
fn a_delivery_with_no_entries_still_records_the_ports_snapshot() {
    let w = World::new();
    let snapshot = Snapshot {
        held_tokens: 70,
        open_holds: 1,
        pending_entries: 0,
        at: now().timestamp_millis(),
        held_usd: 0,
        ..Snapshot::default()
    };
    let results =
        w.d1.batch(&delivery::batch(
            "p",
            &ai_budget::Budget::default(),
            &[],
            "w1",
            snapshot,
        ))
        .expect("a batch of no entries runs");
    assert_eq!(delivery::outcome(&[], results.last().unwrap()), []);
    let row = &w
        .d1
        .exec(
            "SELECT held_tokens, open_holds FROM port_gates WHERE port_id = 'p'",
            &[],
        )
        .unwrap()[0];
    assert_eq!((row.count("held_tokens"), row.count("open_holds")), (70, 1));
}
