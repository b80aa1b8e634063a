//! The port gate's logic over a real SQLite, natively: no overshoot,
//! exactly once, expiry and late commits, period boundaries, exact totals,
//! budget saves, the outbox, the first-start import, and atomicity.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::*;
use ai_budget::sql::{Fact, Row, Sql, SqlError, Value};
use ai_budget::time::iso;
use ai_budget::{Period, MAX_TOKENS};
use chrono::{DateTime, Duration, Utc};
use common::port::*;
use common::sqlite::Sqlite;

fn at(iso: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn holds_are_granted_while_they_fit_and_count_as_used() {
    let port = Port::new();
    capped(&port, 10_000, 10_000, "day");
    let granted = (0..200)
        .filter(|_| matches!(port.reserve(70, now()), ReserveOutcome::Held { .. }))
        .count();
    assert_eq!(granted, 10_000 / 70);
    let load = port.load(Period::Day, now());
    assert_eq!(load.held_tokens, 142 * 70);
    assert_eq!(load.used_tokens, 0);
}

#[test]
fn a_refusal_carries_the_cores_reason_and_the_reset() {
    let port = Port::new();
    capped(&port, 100, 100, "week");
    port.held(60, now());
    let ReserveOutcome::Refused { refusal, load } = port.reserve(41, now()) else {
        panic!("refused");
    };
    assert_eq!(refusal.reason, "estimated-exceeds-cap");
    assert_eq!((refusal.used, refusal.cap), (60, 100));
    assert_eq!(
        refusal.resets_at,
        Period::Week.end(now()).timestamp_millis()
    );
    assert_eq!(load.gate_tokens(), 60);
    port.held(40, now());
    let ReserveOutcome::Refused { refusal, .. } = port.reserve(0, now()) else {
        panic!("refused");
    };
    assert_eq!(refusal.reason, "hard-cap-exceeded");
}

#[test]
fn a_reservation_retried_with_the_same_body_is_the_same_hold_and_another_body_conflicts() {
    let port = Port::new();
    let req = port.hold_request(50, Some("same"));
    let first = port.run(|g| g.reserve(&req, now()));
    let again = port.run(|g| {
        g.reserve(
            &HoldRequest {
                hold_id: "rsv_other".into(),
                ..req.clone()
            },
            now(),
        )
    });
    let (
        ReserveOutcome::Held {
            hold: a,
            replayed: false,
            ..
        },
        ReserveOutcome::Held {
            hold: b,
            replayed: true,
            ..
        },
    ) = (first, again)
    else {
        panic!("held, then replayed");
    };
    assert_eq!(a, b);
    let other = HoldRequest {
        body_hash: "another".into(),
        ..req
    };
    assert!(matches!(
        port.run(|g| g.reserve(&other, now())),
        ReserveOutcome::Conflict { .. }
    ));
    assert_eq!(port.load(Period::Month, now()).held_tokens, 50, "held once");
}

#[test]
fn a_commit_counts_once_and_a_retry_answers_the_same() {
    let port = Port::new();
    let hold = port.held(100, now());
    let CommitOutcome::Committed {
        entry,
        load,
        replayed: false,
        hold: settled,
    } = port.commit(&hold.id, 60, 30, now())
    else {
        panic!("committed");
    };
    assert_eq!(settled.state, HoldState::Committed);
    assert_eq!(settled.actual_tokens, Some(90));
    assert_eq!(entry.total_tokens(), 90);
    assert_eq!((load.used_tokens, load.held_tokens, load.calls), (90, 0, 1));
    let CommitOutcome::Committed {
        entry: again,
        replayed: true,
        ..
    } = port.commit(&hold.id, 60, 30, now())
    else {
        panic!("replayed");
    };
    assert_eq!(again, entry);
    assert!(matches!(
        port.commit(&hold.id, 61, 30, now()),
        CommitOutcome::Conflict { .. }
    ));
    assert_eq!(
        port.load(Period::Month, now()).used_tokens,
        90,
        "counted once"
    );
    assert!(matches!(
        port.commit("rsv_nope", 1, 1, now()),
        CommitOutcome::NotFound { .. }
    ));
}

#[test]
fn a_released_hold_gives_its_tokens_back_and_cannot_be_committed() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let hold = port.held(100, now());
    assert!(matches!(
        port.reserve(1, now()),
        ReserveOutcome::Refused { .. }
    ));
    let release = |id: &str| port.run(|g| g.release(id, now()));
    assert!(matches!(release(&hold.id), ReleaseOutcome::Released { .. }));
    assert!(
        matches!(release(&hold.id), ReleaseOutcome::Released { .. }),
        "twice answers the same"
    );
    assert!(matches!(
        port.commit(&hold.id, 1, 1, now()),
        CommitOutcome::Conflict { .. }
    ));
    assert_eq!(port.load(Period::Day, now()), PortLoad::default());
    let committed = port.held(10, now());
    port.commit(&committed.id, 5, 5, now());
    assert!(matches!(
        release(&committed.id),
        ReleaseOutcome::Conflict { .. }
    ));
}

#[test]
fn an_expired_hold_becomes_an_estimated_entry_at_its_expiry_and_a_late_commit_corrects_it() {
    let port = Port::new();
    capped(&port, 1_000, 1_000, "day");
    let req = HoldRequest {
        ttl_seconds: 5,
        ..port.hold_request(400, None)
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&req, now())) else {
        panic!("held");
    };
    let later = now() + Duration::seconds(10);
    assert_eq!(port.run(|g| g.expire_due(later)), 1);
    let load = port.load(Period::Day, later);
    assert_eq!(
        (load.used_tokens, load.expired_tokens, load.held_tokens),
        (400, 400, 0)
    );
    let entry = port.run(|g| g.pending(10)).pop().unwrap().0;
    assert!(entry.estimated);
    assert_eq!(
        entry.created_at, hold.expires_at,
        "charged at the instant it expired"
    );
    assert_eq!(
        (entry.provider.as_str(), entry.tokens.input_tokens),
        ("unknown", 400)
    );
    assert!(matches!(
        port.run(|g| g.release(&hold.id, later)),
        ReleaseOutcome::Conflict { .. }
    ));

    let CommitOutcome::Committed {
        entry: corrected,
        replayed: false,
        ..
    } = port.commit(&hold.id, 70, 30, later)
    else {
        panic!("a late commit");
    };
    assert_eq!(
        (corrected.seq, corrected.created_at, corrected.estimated),
        (entry.seq, entry.created_at, false)
    );
    assert_eq!(corrected.version, 2, "delivered again");
    let load = port.load(Period::Day, later);
    assert_eq!(
        (load.used_tokens, load.expired_tokens, load.calls),
        (100, 0, 1)
    );
    assert!(matches!(
        port.commit(&hold.id, 70, 30, later),
        CommitOutcome::Committed { replayed: true, .. }
    ));
    assert_eq!(port.load(Period::Day, later).used_tokens, 100);
}

#[test]
fn a_late_commit_weeks_later_corrects_the_entrys_own_day_week_and_month() {
    let port = Port::new();
    capped(&port, 1_000_000, 1_000_000, "week");
    let thursday = at("2026-03-05T10:00:00Z");
    let req = HoldRequest {
        ttl_seconds: 5,
        ..port.hold_request(500, None)
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&req, thursday)) else {
        panic!("held");
    };
    let weeks_later = at("2026-04-14T09:00:00Z");
    let CommitOutcome::Committed { entry, .. } = port.commit(&hold.id, 30, 12, weeks_later) else {
        panic!("a late commit");
    };
    assert_eq!(entry.created_at, hold.expires_at);
    for period in Period::ALL {
        assert_eq!(port.load(period, thursday).used_tokens, 42, "{period}");
        assert_eq!(port.load(period, weeks_later).used_tokens, 0, "{period}");
    }
}

#[test]
fn a_hold_taken_before_a_reset_weighs_on_the_new_period() {
    let port = Port::new();
    capped(&port, 1_000, 1_000, "day");
    let midnight = Period::Day.end(now());
    let first = port.held(1_000, midnight - Duration::seconds(1));
    assert!(matches!(
        port.reserve(1_000, midnight + Duration::seconds(1)),
        ReserveOutcome::Refused { .. }
    ));
    port.commit(&first.id, 1_000, 0, midnight + Duration::seconds(2));
    assert!(matches!(
        port.reserve(1, midnight + Duration::seconds(3)),
        ReserveOutcome::Refused { .. }
    ));
    assert_eq!(
        port.load(Period::Day, midnight + Duration::seconds(4))
            .used_tokens,
        1_000
    );
    assert_eq!(
        port.load(Period::Day, midnight - Duration::seconds(1))
            .used_tokens,
        0
    );
}

#[test]
fn a_usage_write_counts_once_in_the_periods_it_occurred_in() {
    let port = Port::new();
    let last_month = Period::Month.start(now()) - Duration::hours(12);
    assert!(matches!(
        port.record("old", 100, last_month, now()),
        RecordOutcome::Recorded {
            replayed: false,
            ..
        }
    ));
    assert!(matches!(
        port.record("old", 100, last_month, now()),
        RecordOutcome::Recorded { replayed: true, .. }
    ));
    assert!(matches!(
        port.record("old", 101, last_month, now()),
        RecordOutcome::Conflict { .. }
    ));
    assert_eq!(port.load(Period::Month, now()).used_tokens, 0);
    assert_eq!(port.load(Period::Month, last_month).used_tokens, 100);
    assert_eq!(port.load(Period::Day, last_month).calls, 1);
}

#[test]
fn a_usage_write_that_took_a_holds_request_id_makes_its_commit_conflict_and_its_expiry_free() {
    let port = Port::new();
    let hold = port.held(100, now());
    assert!(matches!(
        port.record(&hold.request_id, 40, now(), now()),
        RecordOutcome::Recorded { .. }
    ));
    assert!(matches!(
        port.commit(&hold.id, 1, 1, now()),
        CommitOutcome::Conflict { .. }
    ));
    let later = now() + Duration::hours(1);
    port.run(|g| g.expire_due(later));
    assert_eq!(
        port.load(Period::Month, now()).used_tokens,
        40,
        "the call was counted once, by the usage write"
    );
    assert_eq!(
        port.load(Period::Month, now()).held_tokens,
        0,
        "and the hold is gone"
    );
}

#[test]
fn no_write_takes_a_total_past_2_53() {
    let port = Port::new();
    let max = |id: &str| port.record(id, MAX_TOKENS, now(), now());
    assert!(matches!(max("a"), RecordOutcome::Recorded { .. }));
    let RecordOutcome::TooLarge { refusal, .. } = max("b") else {
        panic!("refused");
    };
    assert_eq!(refusal.max, MAX_TOKENS);
    assert_eq!(
        port.load(Period::Month, now()).used_tokens,
        MAX_TOKENS,
        "nothing more was written"
    );
    assert_eq!(port.run(|g| g.pending_count()), 1);

    // A disabled budget allows any estimate, but not past the exact range.
    let holds = Port::new();
    assert!(matches!(
        holds.reserve(MAX_TOKENS, now()),
        ReserveOutcome::Held { .. }
    ));
    assert!(matches!(
        holds.reserve(1, now()),
        ReserveOutcome::TooLarge { .. }
    ));
    let commits = Port::new();
    commits.record("base", MAX_TOKENS - 10, now(), now());
    let hold = commits.held(5, now());
    assert!(matches!(
        commits.commit(&hold.id, 11, 0, now()),
        CommitOutcome::TooLarge { .. }
    ));
    assert!(matches!(
        commits.commit(&hold.id, 10, 0, now()),
        CommitOutcome::Committed { .. }
    ));
    assert_eq!(commits.load(Period::Month, now()).used_tokens, MAX_TOKENS);
}

#[test]
fn the_outbox_holds_every_entry_until_its_newest_version_is_delivered() {
    let port = Port::new();
    port.record("r1", 10, now(), now());
    let hold = port.held(20, now());
    port.commit(&hold.id, 5, 5, now());
    let pending = port.run(|g| g.pending(10));
    assert_eq!(
        pending
            .iter()
            .map(|(e, had)| (e.seq, e.version, *had))
            .collect::<Vec<_>>(),
        [(1, 1, 0), (2, 1, 0)]
    );
    port.run(|g| g.delivered(&[(1, 1), (2, 1)]));
    assert_eq!(port.run(|g| g.pending_count()), 0);

    // An expiry, then its late commit: a new version to deliver over the first.
    let short = HoldRequest {
        ttl_seconds: 1,
        ..port.hold_request(50, None)
    };
    let ReserveOutcome::Held { hold, .. } = port.run(|g| g.reserve(&short, now())) else {
        panic!("held")
    };
    let later = now() + Duration::seconds(5);
    port.run(|g| g.expire_due(later));
    let (estimated, had) = port.run(|g| g.pending(10)).pop().unwrap();
    assert_eq!((estimated.version, had, estimated.estimated), (1, 0, true));
    port.run(|g| g.delivered(&[(estimated.seq, 1)]));
    port.commit(&hold.id, 3, 4, later);
    let (corrected, had) = port.run(|g| g.pending(10)).pop().unwrap();
    assert_eq!(
        (corrected.seq, corrected.version, had),
        (estimated.seq, 2, 1)
    );
    // A delivery of an older version does not mark the newer one delivered.
    port.run(|g| g.delivered(&[(corrected.seq, 1)]));
    assert_eq!(port.run(|g| g.pending_count()), 1);
}

#[test]
fn ledger_numbers_are_never_reused() {
    let port = Port::new();
    let seqs: Vec<u64> = (0..5)
        .map(|i| match port.record(&format!("n{i}"), 1, now(), now()) {
            RecordOutcome::Recorded { entry, .. } => entry.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let much_later = now() + Duration::days(ENTRY_RETENTION_DAYS + 1);
    port.run(|g| g.delivered(&[(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]));
    port.run(|g| g.prune(much_later));
    let RecordOutcome::Recorded { entry, .. } = port.record("n5", 1, much_later, much_later) else {
        panic!("recorded")
    };
    assert_eq!(entry.seq, 6);
}

#[test]
fn a_budget_save_checks_if_match_and_the_cores_rules_and_is_unique_per_save() {
    let port = Port::new();
    let update = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
    let save = |json: &str, if_match: Option<&str>| {
        port.run(|g| g.save_budget(&update(json), if_match, "admin", now()))
    };
    let SaveOutcome::Saved { budget: first } = save(
        r#"{"enabled":true,"hardCapTokens":5000,"softCapTokens":4000}"#,
        None,
    ) else {
        panic!("saved")
    };
    let first_at = first.updated_at.clone().unwrap();
    assert_eq!(first_at, iso(now()));
    // Saved again at the very same instant: still a new version.
    let SaveOutcome::Saved { budget: second } = save(
        r#"{"hardCapTokens":6000}"#,
        Some(&format!("\"{first_at}\"")),
    ) else {
        panic!("saved over the version read")
    };
    assert_ne!(second.updated_at, first.updated_at);
    assert!(matches!(
        save(r#"{"softCapTokens":1}"#, Some(&first_at)),
        SaveOutcome::PreconditionFailed { .. }
    ));
    assert!(matches!(save("{}", None), SaveOutcome::Unchanged { .. }));
    let SaveOutcome::Invalid {
        code,
        field,
        message,
    } = save(r#"{"softCapTokens":7000}"#, Some("*"))
    else {
        panic!("invalid")
    };
    assert_eq!(
        (code.as_str(), field.as_deref(), message.as_str()),
        (
            "soft-cap-above-hard-cap",
            Some("softCapTokens"),
            "softCapTokens cannot exceed hardCapTokens"
        )
    );
    assert_eq!(
        port.run(|g| g.budget()),
        second,
        "nothing saved by the refusals"
    );
}

#[test]
fn a_lowered_cap_binds_the_very_next_hold() {
    let port = Port::new();
    capped(&port, 1_000, 1_000, "day");
    port.held(500, now());
    capped(&port, 400, 400, "day");
    assert!(matches!(
        port.reserve(1, now()),
        ReserveOutcome::Refused { .. }
    ));
}

#[test]
fn the_first_start_imports_the_ports_state_once() {
    let port = Port::new();
    let day = Period::Day.start(now()).timestamp_millis();
    let month = Period::Month.start(now()).timestamp_millis();
    let held = Hold {
        id: "rsv_old".into(),
        request_id: "old-hold".into(),
        feature: "chat".into(),
        user_id: None,
        estimated_tokens: 300,
        estimated_usd: None,
        state: HoldState::Held,
        body_hash: "h".into(),
        actual_tokens: None,
        created_at: now().timestamp_millis() - 1000,
        expires_at: now().timestamp_millis() + 60_000,
        settled_at: None,
        entry_seq: None,
    };
    let import = Import {
        budget: Some(StoredBudget::from_json(
            &serde_json::json!({"enabled": true, "softCapTokens": 100, "hardCapTokens": 1000, "period": "day", "updatedBy": "admin", "updatedAt": "2026-01-01T00:00:00.000Z"}),
        )),
        counters: vec![
            ImportedCounter {
                period: "day".into(),
                period_start: day,
                feature: "chat".into(),
                tokens: 200,
                calls: 2,
                usd: 0,
            },
            ImportedCounter {
                period: "day".into(),
                period_start: day,
                feature: "ocr".into(),
                tokens: 100,
                calls: 1,
                usd: 0,
            },
            ImportedCounter {
                period: "month".into(),
                period_start: month,
                feature: "chat".into(),
                tokens: 900,
                calls: 9,
                usd: 0,
            },
        ],
        holds: vec![held],
        entries: vec![],
        last_seq: 41,
    };
    port.run(|g| g.import(&import));
    port.run(|g| g.import(&import));
    assert_eq!(
        port.load(Period::Day, now()),
        PortLoad {
            used_tokens: 300,
            calls: 3,
            held_tokens: 300,
            expired_tokens: 0,
            ..PortLoad::default()
        }
    );
    assert_eq!(
        port.run(|g| g.load(Period::Day, Some("ocr"), now()))
            .used_tokens,
        100
    );
    assert_eq!(port.run(|g| g.budget()).budget.hard_cap_tokens, 1000);
    let ReserveOutcome::Refused { refusal, .. } = port.reserve(401, now()) else {
        panic!("the imported usage and hold weigh on the gate")
    };
    assert_eq!(refusal.used, 600);
    let RecordOutcome::Recorded { entry, .. } = port.record("new", 1, now(), now()) else {
        panic!("recorded")
    };
    assert_eq!(entry.seq, 42, "numbers go on from the ledger's");
}

/// Storage whose `n`-th statement fails, to show an operation is all or
/// nothing: a fault is a wrapper around a backend.
struct FailingAt<'a> {
    inner: &'a Sqlite,
    left: std::cell::Cell<u32>,
}

impl Sql for FailingAt<'_> {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let left = self.left.get();
        self.left.set(left.saturating_sub(1));
        if left == 1 {
            return Err(SqlError("injected storage failure".into()));
        }
        self.inner.exec(sql, params)
    }

    fn fact(&self, fact: Fact) -> Option<i64> {
        self.inner.fact(fact)
    }

    fn keep_fact(&self, fact: Fact, value: i64) {
        self.inner.keep_fact(fact, value);
    }
}

#[test]
fn an_operation_that_fails_midway_leaves_nothing_behind() {
    // Fail each statement of a commit in turn: the port is either exactly
    // as before or exactly as after, never in between.
    let reference = Port::new();
    let hold = reference.held(100, now());
    let before = reference.run(|g| g.view(None, now()));
    for fail_at in 1..40 {
        let port = Port::new();
        let hold_here = port.held(100, now());
        assert_eq!(hold_here.id, hold.id);
        let faulty = FailingAt {
            inner: &port.db,
            left: std::cell::Cell::new(fail_at),
        };
        let result = port.db.transaction(|_| {
            let gate = Gate::open(&faulty)?;
            gate.commit(&hold.id, &usage(10, 10), "h", "w", now())
        });
        let view = port.run(|g| g.view(None, now()));
        match result {
            Err(_) => assert_eq!(view, before, "failing at statement {fail_at} kept nothing"),
            Ok(_) => {
                assert_eq!(view.load.used_tokens, 20);
                assert_eq!(view.load.held_tokens, 0);
                return;
            }
        }
    }
    panic!("the commit never got through");
}

#[test]
fn the_same_request_sent_again_after_a_lost_answer_is_not_a_replay_but_another_request_is() {
    let port = Port::new();
    let req = port.hold_request(10, Some("lost"));
    port.run(|g| g.reserve(&req, now()));
    let ReserveOutcome::Held { replayed, .. } = port.run(|g| g.reserve(&req, now())) else {
        panic!("held")
    };
    assert!(!replayed, "the same hold id: the request's own retry");
    let ReserveOutcome::Held { hold, replayed, .. } = port.run(|g| {
        g.reserve(
            &HoldRequest {
                hold_id: "rsv_another".into(),
                ..req.clone()
            },
            now(),
        )
    }) else {
        panic!("held")
    };
    assert!(
        replayed,
        "another request with the same request id and body"
    );
    let u = usage(3, 4);
    let commit = |write: &str| port.run(|g| g.commit(&hold.id, &u, "b", write, now()));
    assert!(matches!(
        commit("w-1"),
        CommitOutcome::Committed {
            replayed: false,
            ..
        }
    ));
    assert!(
        matches!(
            commit("w-1"),
            CommitOutcome::Committed {
                replayed: false,
                ..
            }
        ),
        "its own retry"
    );
    assert!(
        matches!(
            commit("w-2"),
            CommitOutcome::Committed { replayed: true, .. }
        ),
        "another request"
    );
    assert_eq!(
        port.load(Period::Month, now()).used_tokens,
        7,
        "counted once either way"
    );
}

#[test]
fn a_seeded_history_is_counted_and_numbered_like_real_entries() {
    let port = Port::new();
    port.record("before", 5, now(), now());
    port.run(|g| g.seed_history(1_000, 0, now()));
    let load = port.load(Period::Day, now());
    assert_eq!((load.used_tokens, load.calls), (10_000 + 5, 1_001));
    assert_eq!(
        port.run(|g| g.load(Period::Day, Some("feature-3"), now()))
            .used_tokens,
        2_000
    );
    assert_eq!(
        port.run(|g| g.pending_count()),
        1,
        "history counts as delivered"
    );
    let RecordOutcome::Recorded { entry, .. } = port.record("after", 1, now(), now()) else {
        panic!()
    };
    assert_eq!(entry.seq, 1_002);
}

#[test]
fn the_hold_a_commit_or_a_release_answers_is_the_hold_as_stored() {
    let port = Port::new();
    capped(&port, 10_000, 10_000, "day");
    let committed = port.held(100, now());
    let CommitOutcome::Committed { hold, entry, .. } = port.commit(&committed.id, 60, 20, now())
    else {
        panic!("expected a commit");
    };
    assert_eq!(hold.state, HoldState::Committed);
    assert_eq!(hold.actual_tokens, Some(80));
    assert_eq!(hold.entry_seq, Some(entry.seq));
    assert_eq!(Some(hold), port.run(|g| g.hold(&committed.id)));

    let released = port.held(100, now());
    let ReleaseOutcome::Released { hold, .. } = port.run(|g| g.release(&released.id, now())) else {
        panic!("expected a release");
    };
    assert_eq!(hold.state, HoldState::Released);
    assert!(hold.settled_at.is_some());
    assert_eq!(Some(hold), port.run(|g| g.hold(&released.id)));
}

#[test]
fn a_delivery_marks_its_entries_in_one_statement_per_version_and_ninety_entries() {
    let port = Port::new();
    for i in 0..100 {
        port.record(&format!("r{i}"), 10, now(), now());
    }
    let hold = port.held(20, now());
    port.commit(&hold.id, 5, 5, now());
    let mut versions: Vec<(u64, u64)> = port
        .run(|g| g.pending(200))
        .iter()
        .map(|(e, _)| (e.seq, e.version))
        .collect();
    assert_eq!(versions.len(), 101);
    // The last one delivered at a later version than the rest.
    versions.last_mut().unwrap().1 = 2;
    port.db.statements_run();
    port.run(|g| g.delivered(&versions));
    let marks = port
        .db
        .statements_run()
        .iter()
        .filter(|sql| sql.starts_with("UPDATE entries SET delivered_version"))
        .count();
    // Version 1: 100 entries in two statements (90 and 10); version 2: one.
    assert_eq!(marks, 3);
    assert_eq!(port.run(|g| g.pending_count()), 0);
    // A mark of an older version leaves a later one as it is.
    port.run(|g| g.delivered(&[(101, 1)]));
    assert_eq!(port.run(|g| g.pending_count()), 0);
}

#[test]
fn a_commit_reads_its_hold_and_whether_the_ledger_has_its_request_in_one_statement() {
    let port = Port::new();
    let hold = port.held(100, now());
    port.db.statements_run();
    assert!(matches!(
        port.commit(&hold.id, 30, 10, now()),
        CommitOutcome::Committed { .. }
    ));
    let ran = port.db.statements_run();
    let reading = |part: &str| ran.iter().filter(|sql| sql.contains(part)).count();
    assert_eq!(reading("FROM holds WHERE id = ?1"), 1, "{ran:#?}");
    assert_eq!(reading("FROM entries WHERE request_id = ?1"), 0, "{ran:#?}");
}

#[test]
fn a_short_hold_expires_on_time_though_a_longer_one_spared_the_scan_for_due_holds() {
    let port = Port::new();
    capped(&port, 10_000, 10_000, "day");
    // The first hold's expiry (in 300 s) is where due holds are next
    // looked for; the second (60 s) must bring that forward.
    port.held(100, now());
    let mut short = port.hold_request(30, None);
    short.ttl_seconds = 60;
    assert!(matches!(
        port.run(|g| g.reserve(&short, now())),
        ReserveOutcome::Held { .. }
    ));
    let view = port.run(|g| g.view(None, now() + Duration::seconds(61)));
    assert_eq!(
        view.load.held_tokens, 100,
        "only the long hold is still open"
    );
    let expired = port.run(|g| g.hold(&short.hold_id)).unwrap();
    assert_eq!(expired.state, HoldState::Expired);
    assert_eq!(expired.settled_at, Some(expired.expires_at));
}

/// The statements one warm hold and its commit run, as the object runs
/// them (each through [`Gate::apply`]), and the outbox's count after.
fn warm_call(port: &Port) -> (Vec<String>, Vec<String>, Vec<String>) {
    let req = port.hold_request(50, None);
    let id = req.hold_id.clone();
    port.db.statements_run();
    port.run(|g| g.apply(Operation::Reserve(req), now()));
    let hold = port.db.statements_run();
    let commit = Operation::Commit {
        id,
        usage: usage(40, 8),
        body_hash: "h".into(),
        write_id: port.write_id(),
    };
    port.run(|g| g.apply(commit, now()));
    let committed = port.db.statements_run();
    port.run(|g| g.pending_count());
    (hold, committed, port.db.statements_run())
}

#[test]
fn a_warm_call_reads_nothing_its_object_already_knows() {
    let port = Port::new();
    capped(&port, 100_000, 200_000, "day");
    warm_call(&port);
    let (hold, commit, count) = warm_call(&port);
    let ran = |statements: &[String], part: &str| statements.iter().any(|s| s.contains(part));
    for statements in [&hold, &commit] {
        assert!(
            !ran(statements, "expires_at <= ?1"),
            "no scan for due holds: {statements:#?}"
        );
    }
    assert!(
        !ran(&hold, "MAX(tokens)"),
        "no read of the largest totals: {hold:#?}"
    );
    assert_eq!(count, Vec::<String>::new(), "the outbox's count is known");
    // The hold: the retry check, the write and the load after it; the
    // commit: the hold, the number, three writes and the load after.
    assert_eq!((hold.len(), commit.len()), (3, 6), "{hold:#?}\n{commit:#?}");

    // A new instance of the object knows nothing and reads again once.
    port.restart();
    let (hold, commit, count) = warm_call(&port);
    assert!(ran(&hold, "expires_at <= ?1") && ran(&hold, "MAX(tokens)"));
    assert_eq!(count.len(), 1);
    assert!(!ran(&commit, "expires_at <= ?1"));
    let (hold, commit, count) = warm_call(&port);
    assert_eq!((hold.len(), commit.len(), count.len()), (3, 6, 0));
}

#[test]
fn the_outbox_count_kept_along_is_the_count_read_afresh() {
    let port = Port::new();
    let fresh = |port: &Port| {
        port.restart();
        port.run(|g| g.pending_count())
    };
    for i in 0..5 {
        port.record(&format!("r{i}"), 10, now(), now());
    }
    assert_eq!(port.run(|g| g.pending_count()), 5);
    let versions: Vec<(u64, u64)> = port
        .run(|g| g.pending(10))
        .iter()
        .map(|(e, _)| (e.seq, e.version))
        .take(3)
        .collect();
    port.run(|g| g.delivered(&versions));
    assert_eq!(port.run(|g| g.pending_count()), 2);
    let hold = port.held(20, now());
    port.commit(&hold.id, 5, 5, now());
    assert_eq!(port.run(|g| g.pending_count()), 3);
    assert_eq!(fresh(&port), 3);
}
