//! Credits, temporary raises and rollover in the port's gate: judged in
//! the same turn as the reservation, in the budget's unit; what each hold
//! and ledger row drew on; bad input refused with nothing written.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::credits::{GrantOp, GrantOutcome};
use ai_budget::gate::*;
use ai_budget::room::Room;
use chrono::{DateTime, Duration, Utc};
use common::port::{capped, now, Port};
use serde_json::json;

fn grant(
    port: &Port,
    request: &str,
    amount: serde_json::Value,
    expires: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> GrantOutcome {
    port.run(|g| {
        g.grants(
            GrantOp::Grant {
                id: format!("cr_{request}"),
                request_id: request.into(),
                amount: amount.clone(),
                unit: None,
                expires_at: expires.map(|t| t.timestamp_millis()),
                note: None,
            },
            at,
        )
    })
}

fn granted(port: &Port, request: &str, amount: u64, expires: Option<DateTime<Utc>>) -> Room {
    match grant(port, request, json!(amount), expires, now()) {
        GrantOutcome::Credit { room, .. } => room,
        other => panic!("a grant came to {other:?}"),
    }
}

fn raise(
    port: &Port,
    request: &str,
    extra: u64,
    ends: DateTime<Utc>,
    at: DateTime<Utc>,
) -> GrantOutcome {
    port.run(|g| {
        g.grants(
            GrantOp::Raise {
                id: format!("rz_{request}"),
                request_id: request.into(),
                extra: json!(extra),
                soft_extra: None,
                unit: None,
                starts_at: None,
                ends_at: ends.timestamp_millis(),
                note: None,
            },
            at,
        )
    })
}

fn room(port: &Port, at: DateTime<Utc>) -> Room {
    match port.run(|g| g.grants(GrantOp::Credits, at)) {
        GrantOutcome::Credits { room, .. } => room,
        other => panic!("credits came to {other:?}"),
    }
}

fn refused(outcome: &ReserveOutcome) -> bool {
    matches!(outcome, ReserveOutcome::Refused { .. })
}

#[test]
fn credits_carry_calls_once_the_cap_is_used_up_soonest_expiring_first() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let later = now() + Duration::days(20);
    let sooner = now() + Duration::days(3);
    granted(&port, "late", 50, Some(later));
    let r = granted(&port, "soon", 30, Some(sooner));
    assert_eq!(
        (r.effective_cap, r.credits_left, r.next_credit_expiry),
        (100, 80, Some(sooner.timestamp_millis()))
    );
    // 90 of the cap, then a hold spanning it: 10 of the cap, 30 + 10 of credits.
    port.held(90, now());
    let spanning = port.held(50, now());
    let r = room(&port, now());
    assert_eq!(
        r.credits_left, 40,
        "soonest first: all of 'soon', 10 of 'late'"
    );
    // Exactly what is left fits; one more does not.
    assert!(refused(&port.reserve(41, now())));
    port.held(40, now());
    assert!(refused(&port.reserve(1, now())));
    // The spanning hold commits at its estimate: its row says what funded it.
    let CommitOutcome::Committed { entry, .. } = port.commit(&spanning.id, 50, 0, now()) else {
        panic!("commits")
    };
    assert_eq!(
        entry.funded_by.as_deref(),
        Some("cap:10,cr_soon:30,cr_late:10")
    );
}

#[test]
fn a_commit_under_its_estimate_gives_credits_back_last_drawn_first() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    granted(&port, "a", 30, Some(now() + Duration::days(1)));
    granted(&port, "b", 30, None);
    let hold = port.held(150, now());
    assert_eq!(room(&port, now()).credits_left, 10);
    // 120 used: 100 of the cap, 20 of 'a'; 'a' keeps 10 and 'b' all of it.
    let CommitOutcome::Committed { entry, .. } = port.commit(&hold.id, 100, 20, now()) else {
        panic!("commits")
    };
    assert_eq!(entry.funded_by.as_deref(), Some("cap:100,cr_a:20"));
    assert_eq!(room(&port, now()).credits_left, 40);
}

#[test]
fn a_release_gives_back_what_its_hold_drew() {
    let port = Port::new();
    capped(&port, 10, 10, "day");
    granted(&port, "a", 100, None);
    let hold = port.held(60, now());
    assert_eq!(room(&port, now()).credits_left, 50);
    assert!(matches!(
        port.run(|g| g.release(&hold.id, now())),
        ReleaseOutcome::Released { .. }
    ));
    assert_eq!(room(&port, now()).credits_left, 100);
}

#[test]
fn credits_do_not_reset_with_the_period_and_stop_at_their_expiry() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let expiry = now() + Duration::days(2);
    granted(&port, "a", 100, Some(expiry));
    let h = port.held(160, now());
    let committed = port.commit(&h.id, 160, 0, now());
    assert!(
        matches!(committed, CommitOutcome::Committed { .. }),
        "{committed:?}"
    );
    assert_eq!(room(&port, now()).credits_left, 40);
    // Tomorrow the cap is whole again, and 40 of the credits are left.
    let tomorrow = now() + Duration::days(1);
    assert_eq!(room(&port, tomorrow).credits_left, 40);
    assert!(!refused(&port.reserve(100, tomorrow)));
    assert_eq!(room(&port, tomorrow).credits_left, 40, "the cap first");
    assert!(refused(&port.reserve(41, tomorrow)));
    // At its expiry the rest stops counting.
    assert_eq!(
        room(&port, expiry - Duration::milliseconds(1)).credits_left,
        40
    );
    assert_eq!(room(&port, expiry).credits_left, 0);
}

#[test]
fn a_hold_keeps_what_it_took_from_a_credit_that_expires_before_its_commit() {
    let port = Port::new();
    capped(&port, 10, 10, "day");
    let expiry = now() + Duration::seconds(30);
    granted(&port, "a", 50, Some(expiry));
    let hold = port.held(40, now());
    let later = now() + Duration::seconds(60);
    let CommitOutcome::Committed { entry, .. } = port.commit(&hold.id, 40, 0, later) else {
        panic!("commits")
    };
    assert_eq!(entry.funded_by.as_deref(), Some("cap:10,cr_a:30"));
    let GrantOutcome::Credits { credits, .. } = port.run(|g| g.grants(GrantOp::Credits, later))
    else {
        panic!()
    };
    assert_eq!(
        (
            credits[0].row.credit.spent,
            credits[0].left,
            credits[0].expired
        ),
        (30, 0, true)
    );
}

#[test]
fn a_void_takes_what_is_left_not_what_was_spent() {
    let port = Port::new();
    capped(&port, 10, 10, "day");
    granted(&port, "a", 50, None);
    let hold = port.held(30, now());
    let voided = port.run(|g| g.grants(GrantOp::Void { id: "cr_a".into() }, now()));
    let GrantOutcome::Credit { credit, room, .. } = voided else {
        panic!("voids: {voided:?}")
    };
    assert_eq!(
        (credit.row.credit.spent, credit.left, room.credits_left),
        (20, 0, 0)
    );
    assert!(refused(&port.reserve(1, now())));
    // The hold granted before stays, and commits on what it drew.
    let CommitOutcome::Committed { entry, .. } = port.commit(&hold.id, 30, 0, now()) else {
        panic!("commits")
    };
    assert_eq!(entry.funded_by.as_deref(), Some("cap:10,cr_a:20"));
    let unknown = port.run(|g| {
        g.grants(
            GrantOp::Void {
                id: "cr_none".into(),
            },
            now(),
        )
    });
    assert_eq!(unknown, GrantOutcome::NotFound);
}

#[test]
fn raises_add_up_and_bind_at_their_end() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let ends = now() + Duration::hours(1);
    assert!(matches!(
        raise(&port, "r1", 50, ends, now()),
        GrantOutcome::Raise {
            replayed: false,
            ..
        }
    ));
    assert!(matches!(
        raise(&port, "r2", 25, ends + Duration::hours(1), now()),
        GrantOutcome::Raise { .. }
    ));
    assert_eq!(room(&port, now()).effective_cap, 175);
    let mut long = port.hold_request(170, None);
    long.ttl_seconds = 4 * 3600;
    let ReserveOutcome::Held { hold: kept, .. } = port.run(|g| g.reserve(&long, now())) else {
        panic!("held")
    };
    // After the first ends the cap is 125: the hold stays, a new one is judged on 125.
    let after = ends + Duration::minutes(1);
    assert_eq!(room(&port, after).effective_cap, 125);
    assert!(refused(&port.reserve(1, after)));
    assert_eq!(
        port.run(|g| g.hold(&kept.id)).unwrap().state,
        HoldState::Held
    );
    // Ended early by its id: binds at once.
    port.run(|g| g.release(&kept.id, after));
    port.run(|g| g.grants(GrantOp::EndRaise { id: "rz_r2".into() }, after));
    assert_eq!(room(&port, after).effective_cap, 100);
}

#[test]
fn a_write_again_answers_as_the_first_time_and_another_body_conflicts() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    granted(&port, "same", 40, None);
    assert!(matches!(
        grant(&port, "same", json!(40), None, now()),
        GrantOutcome::Credit { replayed: true, .. }
    ));
    assert_eq!(
        grant(&port, "same", json!(41), None, now()),
        GrantOutcome::Conflict
    );
    assert_eq!(room(&port, now()).credits_left, 40, "granted once");
    let ends = now() + Duration::hours(2);
    raise(&port, "r", 10, ends, now());
    assert!(matches!(
        raise(&port, "r", 10, ends, now()),
        GrantOutcome::Raise { replayed: true, .. }
    ));
    assert_eq!(raise(&port, "r", 11, ends, now()), GrantOutcome::Conflict);
}

fn invalid_field(outcome: GrantOutcome) -> (String, Option<String>) {
    match outcome {
        GrantOutcome::Invalid { code, field, .. } => (code, field),
        other => panic!("expected a refusal of bad input, got {other:?}"),
    }
}

#[test]
fn bad_amounts_and_instants_are_refused_with_a_code_and_field_and_nothing_written() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let bad = |amount: serde_json::Value| invalid_field(grant(&port, "x", amount, None, now()));
    assert_eq!(
        bad(json!(-5)),
        ("negative-tokens".into(), Some("amount".into()))
    );
    assert_eq!(
        bad(json!(0)),
        ("invalid-value".into(), Some("amount".into()))
    );
    assert_eq!(
        bad(json!(1.5)),
        ("fractional-tokens".into(), Some("amount".into()))
    );
    assert_eq!(
        bad(json!("10")),
        ("invalid-type".into(), Some("amount".into()))
    );
    assert_eq!(
        bad(json!(9_007_199_254_740_992_u64)),
        ("too-many-tokens".into(), Some("amount".into()))
    );
    // Each amount fits, their total does not.
    granted(&port, "big", ai_budget::MAX_TOKENS - 10, None);
    assert_eq!(
        bad(json!(11)),
        ("too-many-tokens".into(), Some("amount".into()))
    );
    let past = grant(
        &port,
        "x",
        json!(5),
        Some(now() - Duration::seconds(1)),
        now(),
    );
    assert_eq!(
        invalid_field(past),
        ("invalid-instant".into(), Some("expiresAt".into()))
    );
    let wrong_unit = port.run(|g| {
        g.grants(
            GrantOp::Grant {
                id: "cr_x".into(),
                request_id: "x".into(),
                amount: json!(5),
                unit: Some("usd".into()),
                expires_at: None,
                note: None,
            },
            now(),
        )
    });
    assert_eq!(
        invalid_field(wrong_unit),
        ("invalid-value".into(), Some("unit".into()))
    );
    let ended = invalid_field(raise(&port, "y", 5, now() - Duration::seconds(1), now()));
    assert_eq!(ended, ("invalid-instant".into(), Some("endsAt".into())));
    let too_long = invalid_field(raise(&port, "y", 5, now() + Duration::days(400), now()));
    assert_eq!(too_long, ("invalid-instant".into(), Some("endsAt".into())));
    let before_start = port.run(|g| {
        g.grants(
            GrantOp::Raise {
                id: "rz_y".into(),
                request_id: "y".into(),
                extra: json!(5),
                soft_extra: None,
                unit: None,
                starts_at: Some((now() + Duration::hours(3)).timestamp_millis()),
                ends_at: (now() + Duration::hours(2)).timestamp_millis(),
                note: None,
            },
            now(),
        )
    });
    assert_eq!(
        invalid_field(before_start),
        ("invalid-instant".into(), Some("endsAt".into()))
    );
    // Nothing was written but the one good grant.
    let GrantOutcome::Credits { credits, .. } = port.run(|g| g.grants(GrantOp::Credits, now()))
    else {
        panic!()
    };
    assert_eq!(credits.len(), 1);
    let GrantOutcome::Raises { raises, .. } = port.run(|g| g.grants(GrantOp::Raises, now())) else {
        panic!()
    };
    assert!(raises.is_empty());
}

#[test]
fn a_usd_budget_takes_credits_in_dollars_exactly() {
    let port = Port::new();
    let saved = port.budget(
        r#"{"enabled":true,"unit":"usd","hardCapUsd":1,"period":"day"}"#,
        now(),
    );
    assert!(matches!(saved, SaveOutcome::Saved { .. }), "{saved:?}");
    let r = match grant(&port, "d", json!(2.5), None, now()) {
        GrantOutcome::Credit { room, .. } => room,
        other => panic!("{other:?}"),
    };
    assert_eq!((r.effective_cap, r.credits_left), (1_000_000, 2_500_000));
    let too_fine = invalid_field(grant(&port, "e", json!(0.0000001), None, now()));
    assert_eq!(
        too_fine,
        ("too-many-decimals".into(), Some("amount".into()))
    );
    let mut req = port.hold_request(10, None);
    req.estimated_usd = Some(3_500_000);
    assert!(matches!(
        port.run(|g| g.reserve(&req, now())),
        ReserveOutcome::Held { .. }
    ));
    let mut more = port.hold_request(10, None);
    more.estimated_usd = Some(1);
    assert!(refused(&port.run(|g| g.reserve(&more, now()))));
}

#[test]
fn rollover_carries_the_unused_cap_once_up_to_its_max() {
    let port = Port::new();
    let saved = port.budget(r#"{"enabled":true,"softCapTokens":100,"hardCapTokens":100,"period":"day","rollover":{"max":30}}"#, now());
    let SaveOutcome::Saved { budget } = saved else {
        panic!("{saved:?}")
    };
    assert_eq!(budget.json()["rollover"], json!({ "max": 30 }));
    let h = port.held(80, now());
    port.commit(&h.id, 80, 0, now());
    let tomorrow = ai_budget::Period::Day.window(now()).end;
    // Recorded at the period's start by the wake-up, with no request.
    port.run(|g| g.apply(Operation::Tick, tomorrow));
    assert_eq!(room(&port, tomorrow).rollover, 20);
    assert_eq!(room(&port, tomorrow).effective_cap, 120);
    // A late change to yesterday's history does not recompute it.
    port.record("late", 5, tomorrow - Duration::hours(1), tomorrow);
    assert_eq!(room(&port, tomorrow + Duration::hours(1)).rollover, 20);
    // Nothing used today: tomorrow brings the max.
    let after = tomorrow + Duration::days(1);
    assert_eq!(room(&port, after).rollover, 30);
    // null turns it off.
    assert!(matches!(
        port.budget(r#"{"rollover":null}"#, after),
        SaveOutcome::Saved { .. }
    ));
    assert_eq!(room(&port, after + Duration::days(1)).rollover, 0);
    let bad = port.budget(r#"{"rollover":{"max":-1}}"#, after);
    assert!(
        matches!(bad, SaveOutcome::Invalid { ref field, .. } if field.as_deref() == Some("rollover.max")),
        "{bad:?}"
    );
}

#[test]
fn the_alarm_comes_at_a_raise_end_a_credit_expiry_and_a_period_end_with_rollover() {
    let port = Port::new();
    capped(&port, 100, 100, "day");
    let at = now().timestamp_millis();
    assert_eq!(port.run(|g| g.next_room_change(at)), None);
    let expiry = now() + Duration::hours(5);
    granted(&port, "a", 10, Some(expiry));
    assert_eq!(
        port.run(|g| g.next_room_change(at)),
        Some(expiry.timestamp_millis())
    );
    let ends = now() + Duration::hours(2);
    raise(&port, "r", 10, ends, now());
    assert_eq!(
        port.run(|g| g.next_room_change(at)),
        Some(ends.timestamp_millis())
    );
    port.budget(r#"{"rollover":{"max":5}}"#, now());
    let end = ai_budget::Period::Day.window(now()).end;
    let soonest = end.min(ends).timestamp_millis();
    assert_eq!(port.run(|g| g.next_room_change(at)), Some(soonest));
}

#[test]
fn credit_alerts_are_raised_once_per_crossing_and_again_after_a_grant() {
    let port = Port::new();
    capped(&port, 0, 0, "day");
    port.run(|g| g.set_port("acme"));
    let apply = |op: Operation| port.run(|g| g.apply(op, now()));
    let grant = |request: &str, amount: u64| {
        apply(Operation::Grants(GrantOp::Grant {
            id: format!("cr_{request}"),
            request_id: request.into(),
            amount: json!(amount),
            unit: None,
            expires_at: None,
            note: None,
        }))
    };
    let reserve = |estimate: u64| {
        let req = port.hold_request(estimate, None);
        let applied = apply(Operation::Reserve(req));
        assert!(
            matches!(
                applied.result,
                Outcome::Reserve(ReserveOutcome::Held { .. })
            ),
            "{:?}",
            applied.result
        );
        applied.alerts
    };
    let kinds = || -> Vec<String> {
        port.db
            .transaction(|db| ai_budget::alerts::watch::pending(db, 100))
            .unwrap()
            .iter()
            .map(|e| {
                serde_json::from_str::<serde_json::Value>(&e.body).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    // The cap of 0 is crossed at the first look: its event, before credits.
    assert_eq!(apply(Operation::Tick).alerts, 1);
    assert_eq!(grant("a", 100).alerts, 0);
    assert_eq!(reserve(79), 0, "21 left of 100: above 20 %");
    assert_eq!(reserve(1), 1, "20 left: low");
    assert_eq!(reserve(1), 0, "once per crossing");
    assert_eq!(reserve(19), 1, "none left: exhausted");
    assert_eq!(
        kinds(),
        ["threshold-crossed", "credits-low", "credits-exhausted"]
    );
    // A grant re-arms both; the next crossing raises again.
    assert_eq!(grant("b", 50).alerts, 0);
    assert_eq!(reserve(40), 1, "10 left of the last grant's 50");
    assert_eq!(
        kinds()[1..],
        ["credits-low", "credits-exhausted", "credits-low"]
    );
}

/// The statements of `ran` that read or write draws.
fn touching_draws(ran: &[String]) -> usize {
    ran.iter()
        .filter(|sql| sql.contains("draws") && !sql.contains("FROM credits"))
        .count()
}

#[test]
fn a_port_never_granted_a_credit_settles_and_releases_without_touching_draws() {
    let port = Port::new();
    capped(&port, 1_000, 1_000, "day");
    let hold = port.held(60, now());
    port.db.statements_run();
    assert!(matches!(
        port.commit(&hold.id, 30, 10, now()),
        CommitOutcome::Committed { .. }
    ));
    assert_eq!(touching_draws(&port.db.statements_run()), 0);
    let other = port.held(60, now());
    port.db.statements_run();
    assert!(matches!(
        port.run(|g| g.release(&other.id, now())),
        ReleaseOutcome::Released { .. }
    ));
    assert_eq!(touching_draws(&port.db.statements_run()), 0);

    // Once granted one, every settlement looks for what its hold drew.
    granted(&port, "a", 100, None);
    // 40 used: the cap's last 960, then 40 of the credit.
    let drew = port.held(1_000, now());
    port.db.statements_run();
    let CommitOutcome::Committed { entry, .. } = port.commit(&drew.id, 1_000, 0, now()) else {
        panic!("commits")
    };
    assert!(touching_draws(&port.db.statements_run()) > 0);
    assert_eq!(entry.funded_by.as_deref(), Some("cap:960,cr_a:40"));
}
