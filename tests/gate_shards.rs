//! A port's `shards` field in its gate, natively: saved with the budget
//! (1 to 32, 1 by default and then not shown), refused with its field when
//! out of range, and the shard counts still in force after changes, so a
//! request id taken under an earlier count is found again.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::allowance::shards::{CountHistory, COUNT_KEPT_MS, MAX_COUNTS_KEPT};
use ai_budget::allowance::{Report, DEFAULT_SIZING};
use ai_budget::gate::shard_lender::shard_child;
use ai_budget::gate::*;
use chrono::Duration;
use common::port::*;

fn saved(outcome: SaveOutcome) -> StoredBudget {
    match outcome {
        SaveOutcome::Saved { budget } => budget,
        other => panic!("saved: {other:?}"),
    }
}

#[test]
fn the_shards_field_is_saved_with_the_budget_and_shown_when_more_than_one() {
    let port = Port::new();
    let first = saved(port.budget(
        r#"{"enabled":true,"hardCapTokens":5000,"softCapTokens":4000}"#,
        now(),
    ));
    assert_eq!(first.shards, 1, "one shard by default");
    assert!(first.json().get("shards").is_none(), "{}", first.json());
    let eight = saved(port.budget(r#"{"shards":8}"#, now()));
    assert_eq!(eight.shards, 8);
    assert_eq!(eight.json()["shards"], 8);
    assert_eq!(eight.budget.hard_cap_tokens, first.budget.hard_cap_tokens);
    // Read back from storage by another transaction, and from its JSON
    // (the replica's form).
    assert_eq!(port.run(|g| g.budget()).shards, 8);
    assert_eq!(StoredBudget::from_json(&eight.json()), eight);
    assert_eq!(
        eight.json()["shardCounts"],
        serde_json::json!([{"count": 8, "since": now().timestamp_millis()}, {"count": 1, "since": 0}]),
        "the counts in force, newest first"
    );
    assert!(
        first.json().get("shardCounts").is_none(),
        "never changed: not shown"
    );
    // Another field's save keeps it; 8.0 is 8; back to 1 hides it.
    assert_eq!(
        saved(port.budget(r#"{"hardCapTokens":6000,"softCapTokens":4000}"#, now())).shards,
        8
    );
    let one = saved(port.budget(r#"{"shards":1.0}"#, now()));
    assert_eq!(one.shards, 1);
    assert!(one.json().get("shards").is_none());
}

#[test]
fn a_shards_value_out_of_range_is_refused_with_its_field_and_nothing_is_saved() {
    let port = Port::new();
    saved(port.budget(
        r#"{"enabled":true,"hardCapTokens":5000,"softCapTokens":4000,"shards":4}"#,
        now(),
    ));
    let before = port.run(|g| g.budget());
    for (json, code) in [
        (r#"{"shards":0,"softCapTokens":10}"#, "invalid-value"),
        (r#"{"shards":33}"#, "invalid-value"),
        (r#"{"shards":2.5}"#, "invalid-value"),
        (r#"{"shards":"8"}"#, "invalid-type"),
        (r#"{"shards":null}"#, "invalid-type"),
    ] {
        let SaveOutcome::Invalid {
            code: got, field, ..
        } = port.budget(json, now())
        else {
            panic!("{json} refused")
        };
        assert_eq!(
            (got.as_str(), field.as_deref()),
            (code, Some("shards")),
            "{json}"
        );
    }
    let SaveOutcome::Invalid { code, field, .. } = port.budget(r#"{"shardCounts":[]}"#, now())
    else {
        panic!("the counts are read-only")
    };
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("unknown-field", Some("shardCounts"))
    );
    assert_eq!(port.run(|g| g.budget()), before, "nothing saved");
    assert_eq!(port.run(|g| g.shard_counts(now())), vec![4, 1]);
}

#[test]
fn the_counts_in_force_go_back_a_day_newest_first() {
    let port = Port::new();
    let t0 = now();
    assert_eq!(port.run(|g| g.shard_counts(t0)), vec![1], "never changed");
    saved(port.budget(r#"{"shards":8}"#, t0));
    let t1 = t0 + Duration::hours(3);
    saved(port.budget(r#"{"shards":2}"#, t1));
    // Saves that leave the count alone change nothing of it.
    saved(port.budget(r#"{"softCapTokens":100}"#, t1));
    assert_eq!(port.run(|g| g.shard_counts(t1)), vec![2, 8, 1]);
    let kept = Duration::milliseconds(COUNT_KEPT_MS);
    // One shard was replaced at t0: a day later only 8 is still owed.
    assert_eq!(port.run(|g| g.shard_counts(t0 + kept)), vec![2, 8, 1]);
    let past_first = t0 + kept + Duration::milliseconds(1);
    assert_eq!(port.run(|g| g.shard_counts(past_first)), vec![2, 8]);
    let past_second = t1 + kept + Duration::milliseconds(1);
    assert_eq!(port.run(|g| g.shard_counts(past_second)), vec![2]);
    // Back to a count seen before: listed once.
    saved(port.budget(r#"{"shards":8}"#, t1 + Duration::hours(1)));
    assert_eq!(
        port.run(|g| g.shard_counts(t1 + Duration::hours(1))),
        vec![8, 2, 1]
    );
}

#[test]
fn the_history_keeps_a_bounded_number_of_counts() {
    let mut history = CountHistory::default();
    let mut count = 1;
    for step in 0..20_i64 {
        let next = (count % 32) + 1;
        history.changed(count, next, step * 1000);
        count = next;
        assert!(history.changes.len() <= MAX_COUNTS_KEPT, "{history:?}");
    }
    let counts = history.in_force(count, 20_000);
    assert_eq!(counts.len(), MAX_COUNTS_KEPT);
    assert_eq!(counts[0], count);
    // Changes a day apart: only the newest two are kept.
    let mut spaced = CountHistory::default();
    spaced.changed(1, 2, 0);
    spaced.changed(2, 3, COUNT_KEPT_MS + 1);
    spaced.changed(3, 4, 2 * COUNT_KEPT_MS + 2);
    assert_eq!(
        spaced.changes.iter().map(|c| c.count).collect::<Vec<_>>(),
        vec![4, 3]
    );
    assert_eq!(spaced.in_force(4, 2 * COUNT_KEPT_MS + 2), vec![4, 3]);
}

fn report(seq: u64, need: u64, held: u64, consumed: u64, returned: u64) -> Report {
    Report {
        seq,
        granted_seen: 0,
        returned,
        consumed,
        held,
        need,
        ahead: 0,
    }
}

#[test]
fn the_ports_object_lends_to_its_shards_within_its_room_and_its_own_holds_count_them() {
    let port = Port::new();
    capped(&port, 800, 1000, "day");
    saved(port.budget(r#"{"shards":8}"#, now()));
    let lend =
        |shard: u32, r: Report| port.run(|g| g.shard_report(shard, &r, &DEFAULT_SIZING, now()));
    let first = lend(1, report(1, 300, 0, 0, 0));
    assert_eq!(first.grant.granted, 300, "the need, nothing ahead asked");
    assert!(first.refusal.is_none());
    // The port's own object holds only what the lent part leaves.
    assert!(matches!(
        port.reserve(701, now()),
        ReserveOutcome::Refused { refusal, .. } if refusal.used == 300 && refusal.cap == 1000
    ));
    port.held(700, now());
    // Nothing left: shard 2 is refused, and shard 1 asked for its slack.
    let second = lend(2, report(1, 1, 0, 0, 0));
    assert_eq!(second.grant.granted, 0);
    let refusal = second.refusal.expect("refused");
    assert_eq!(
        (refusal.used, refusal.cap, refusal.reason.as_str()),
        (1000, 1000, "hard-cap-exceeded")
    );
    assert_eq!(second.others.len(), 1);
    assert_eq!(second.others[0].0, shard_child(1));
    assert_eq!(second.others[0].1.recalls, 1, "a recall");
    // Shard 1 consumed 100 and gives back the 200 it does not hold: the
    // waiting need is served from it.
    let back = lend(1, report(2, 0, 0, 100, 200));
    let served: Vec<_> = back
        .others
        .iter()
        .filter(|(k, _)| *k == shard_child(2))
        .collect();
    assert_eq!(served.len(), 1, "{back:?}");
    assert_eq!(served[0].1.granted, 1);
    // Used 100 by shard 1, lent 1 to shard 2, held 700 by the port itself.
    assert!(matches!(
        port.reserve(200, now()),
        ReserveOutcome::Refused { refusal, .. } if refusal.used == 801
    ));
    port.held(199, now());
    assert_eq!(port.run(|g| g.shard_lender()).load(), 101);
}

#[test]
fn what_the_shards_consumed_stops_weighing_in_the_next_period_and_a_port_without_shards_is_untouched(
) {
    let port = Port::new();
    capped(&port, 800, 1000, "day");
    saved(port.budget(r#"{"shards":8}"#, now()));
    let r = report(1, 600, 0, 0, 0);
    port.run(|g| g.shard_report(3, &r, &DEFAULT_SIZING, now()));
    let r = report(2, 0, 0, 600, 0);
    port.run(|g| g.shard_report(3, &r, &DEFAULT_SIZING, now()));
    assert!(matches!(
        port.reserve(401, now()),
        ReserveOutcome::Refused { .. }
    ));
    // Back to one shard: what the shards used still counts this period.
    saved(port.budget(r#"{"shards":1}"#, now()));
    assert!(matches!(
        port.reserve(401, now()),
        ReserveOutcome::Refused { .. }
    ));
    // Committed at once, so its use stays in this period whatever the
    // instant (a hold still open at the period's end is charged in the next).
    let hold = port.held(400, now());
    assert!(matches!(
        port.commit(&hold.id, 400, 0, now()),
        CommitOutcome::Committed { .. }
    ));
    let tomorrow = now() + Duration::days(1);
    port.held(1000, tomorrow);
    // The same holds on a port that never lent: its whole cap.
    let alone = Port::new();
    capped(&alone, 800, 1000, "day");
    alone.held(1000, now());
    assert_eq!(alone.run(|g| g.shard_lender()), Default::default());
}

#[test]
fn a_request_id_reaches_the_ports_own_object_under_one_shard_and_its_shard_object_else() {
    use ai_budget::allowance::shards::{object_of, objects_to_try, port_of_object, shard_of};
    for n in 0..200 {
        let id = format!("req-{n}");
        assert_eq!(object_of("chat", &id, 1), "chat", "one shard: no extra hop");
        let eight = object_of("chat", &id, 8);
        assert_eq!(port_of_object(&eight), ("chat", Some(shard_of(&id, 8))));
        // After 1 -> 8 -> 2: the newest count's object first, the port's
        // own object last, no object twice.
        let tries = objects_to_try("chat", &id, &[2, 8, 1]);
        assert_eq!(tries[0], object_of("chat", &id, 2));
        assert_eq!(tries.last().map(String::as_str), Some("chat"));
        let unique: std::collections::BTreeSet<&String> = tries.iter().collect();
        assert_eq!(unique.len(), tries.len(), "{tries:?}");
        assert!(tries.contains(&eight));
    }
    assert_eq!(port_of_object("chat"), ("chat", None));
    assert_eq!(port_of_object("chat#shard-x"), ("chat#shard-x", None));
    assert_eq!(port_of_object("chat#shard-32"), ("chat#shard-32", None));
    assert_eq!(objects_to_try("chat", "r", &[]), vec!["chat".to_owned()]);
}

#[test]
fn a_check_judges_the_shards_load_as_a_reservation_does() {
    use ai_budget::gate::credits::judge_in;
    let port = Port::new();
    capped(&port, 800, 1000, "day");
    saved(port.budget(r#"{"shards":4}"#, now()));
    let r = report(1, 400, 0, 0, 0);
    port.run(|g| g.shard_report(1, &r, &DEFAULT_SIZING, now()));
    let checked = port.run(|g| g.check("chat", None, 601, now()));
    assert_eq!(checked.view.room.cap_used, 400, "what is lent counts");
    let fits = |tokens: u64| {
        let estimate = port.hold_request(tokens, None).estimate();
        judge_in(
            &checked.view.budget.budget,
            &checked.view.room,
            &estimate,
            now(),
        )
        .refusal(checked.view.budget.budget.unit)
        .is_none()
    };
    assert!(fits(600));
    assert!(!fits(601));
    assert!(matches!(
        port.reserve(601, now()),
        ReserveOutcome::Refused { .. }
    ));
    port.held(600, now());
}

/// A shard's gate in-process, its reports answered by the port's own gate
/// as the Worker's objects do (`src/worker/gate/object.rs`): a reservation
/// short of allowance asks the port, takes its budget and grant, and is
/// judged again.
fn shard_reserve(port: &Port, shard: &Port, k: u32, request: HoldRequest) -> ReserveOutcome {
    for _ in 0..3 {
        let r = request.clone();
        let outcome = shard.run(|g| g.reserve(&r, now()));
        let ReserveOutcome::Short { need, .. } = outcome else {
            return outcome;
        };
        let report = shard
            .run(|g| g.allowance_report(need, &DEFAULT_SIZING, now()))
            .expect("a shard always borrows")
            .report;
        let before = port.run(|g| {
            g.shard_report(k, &report, &DEFAULT_SIZING, now())?;
            g.shard_granted(k)
        });
        let (grant, refusal) = port.run(|g| g.shard_settle(k, before, now()));
        let budget = port.run(|g| g.budget());
        shard.run(|g| {
            g.take_port_budget(&budget)?;
            g.allowance_grant(&grant, now())
        });
        if let Some(refusal) = refusal {
            return ReserveOutcome::Refused {
                refusal,
                load: PortLoad::default(),
            };
        }
    }
    panic!("a reservation neither held nor refused")
}

/// Shard gates 0 to `n - 1` of port `p`, opened as their objects open them.
fn open_shards(n: u32) -> Vec<Port> {
    (0..n)
        .map(|k| {
            let shard = Port::new();
            shard.run(|g| g.open_shard("p", k));
            shard
        })
        .collect()
}

/// Tells the port what shard `k` consumed (its report after a commit).
fn shard_tells(port: &Port, shard: &Port, k: u32) {
    let report = shard
        .run(|g| g.allowance_report(0, &DEFAULT_SIZING, now()))
        .expect("a shard always borrows")
        .report;
    port.run(|g| g.shard_report(k, &report, &DEFAULT_SIZING, now()));
    let standing = port.run(|g| g.port_standing(now()));
    shard.run(|g| g.take_port_standing(&standing, now()));
}

#[test]
fn shards_hold_only_what_the_port_lends_number_their_entries_apart_and_add_up_in_its_status() {
    use ai_budget::allowance::shards::first_seq;
    let port = Port::new();
    capped(&port, 1000, 1000, "day");
    saved(port.budget(r#"{"shards":3}"#, now()));
    let shards = open_shards(3);
    // Reservations of 70 from every shard in turn until the cap refuses.
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..30u32 {
        let k = i % 3;
        let request = shards[k as usize].hold_request(70, Some(&format!("r{i}")));
        match shard_reserve(&port, &shards[k as usize], k, request) {
            ReserveOutcome::Held { hold, .. } => held.push((k, hold)),
            ReserveOutcome::Refused { refusal, .. } => {
                refused += 1;
                assert_eq!((refusal.scope.as_str(), refusal.cap), ("port", 1000));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        held.len() as u64 * 70 <= 1000,
        "no overshoot: {}",
        held.len()
    );
    assert!(refused > 0, "the cap refused");
    // Every shard took the port's budget as its own, under the port.
    for shard in &shards {
        let copy = shard.run(|g| g.budget());
        assert_eq!(copy.budget, port.run(|g| g.budget()).budget);
        assert_eq!(copy.parent.as_deref(), Some("p"));
        assert!(shard.run(|g| g.shard()).is_some());
    }
    assert_eq!(port.run(|g| g.shard()), None);
    // Commit each for 50: numbered in its shard's own range.
    for (k, hold) in &held {
        let CommitOutcome::Committed { entry, .. } =
            shards[*k as usize].commit(&hold.id, 50, 0, now())
        else {
            panic!("committed")
        };
        let first = first_seq(*k);
        assert!(
            (first..first + 1_000).contains(&entry.seq),
            "shard {k} numbers from {first}: {}",
            entry.seq
        );
    }
    for (k, shard) in shards.iter().enumerate() {
        shard_tells(&port, shard, k as u32);
    }
    let view = port.run(|g| g.view(None, now()));
    assert_eq!(
        view.load.used_tokens,
        held.len() as u64 * 50,
        "the port's status is the sum of its shards"
    );
    assert_eq!(view.load.held_tokens, 0);
    // Once each shard has heard from the port since the last commit, every
    // shard's answers show the whole port's use, not its own part.
    for (k, shard) in shards.iter().enumerate() {
        shard_tells(&port, shard, k as u32);
        let shown = shard.run(|g| g.apply(Operation::Hold { id: "none".into() }, now()));
        assert_eq!(
            shown.load.used_tokens,
            held.len() as u64 * 50,
            "shard {k} shows its port's use"
        );
    }
    // What the shards consumed binds the port's own reservations too.
    let left = 1000 - held.len() as u64 * 50;
    assert!(matches!(
        port.reserve(left + 1, now()),
        ReserveOutcome::Refused { .. }
    ));
}

#[test]
fn a_port_with_shards_takes_no_caps_inside_it() {
    let port = Port::new();
    capped(&port, 1000, 1000, "day");
    saved(port.budget(r#"{"shards":4}"#, now()));
    let SaveOutcome::Invalid { field, .. } =
        port.budget(r#"{"featureCaps":{"chat":{"hardCap":10}}}"#, now())
    else {
        panic!("refused")
    };
    assert_eq!(field.as_deref(), Some("shards"));
    assert!(port.run(|g| g.budget()).caps.is_empty(), "nothing saved");
    saved(port.budget(r#"{"parent":"org"}"#, now()));
}

/// A group lending to one port only as the group's object does: whole
/// needs while its cap `cap` allows, a refusal past it.
struct Group {
    cap: u64,
    granted: u64,
    seq: u64,
}

impl Group {
    fn answer(
        &mut self,
        report: &ai_budget::allowance::Report,
    ) -> (ai_budget::allowance::Grant, bool) {
        let lent = self.granted.saturating_sub(report.returned);
        let refused = report.need > 0 && lent + report.need > self.cap;
        if !refused {
            self.granted += report.need;
        }
        self.seq += 1;
        let grant = ai_budget::allowance::Grant {
            seq: self.seq,
            granted: self.granted,
            ..Default::default()
        };
        (grant, refused)
    }
}

#[test]
fn a_port_under_a_group_lends_its_shards_only_what_its_group_lent_it() {
    // The port's cap is far; its group's is 700.
    let port = Port::new();
    capped(&port, 100_000, 100_000, "day");
    saved(port.budget(r#"{"shards":3,"parent":"org"}"#, now()));
    let mut group = Group {
        cap: 700,
        granted: 0,
        seq: 0,
    };
    let shards = open_shards(3);
    let mut held = 0;
    let mut refused_by_group = 0;
    for i in 0..30u32 {
        let k = i % 3;
        let shard = &shards[k as usize];
        let request = shard.hold_request(70, Some(&format!("g{i}")));
        let mut outcome = None;
        for _ in 0..4 {
            let r = request.clone();
            let ReserveOutcome::Short { need, .. } = shard.run(|g| g.reserve(&r, now())) else {
                outcome = Some(true);
                break;
            };
            let report = shard
                .run(|g| g.allowance_report(need, &DEFAULT_SIZING, now()))
                .unwrap()
                .report;
            let answer = port.run(|g| g.shard_report(k, &report, &DEFAULT_SIZING, now()));
            let before = port.run(|g| g.shard_granted(k));
            if answer.short > 0 {
                // The port asks its group for what it lacks, as its object does.
                let ask = port
                    .run(|g| g.allowance_report(answer.short, &DEFAULT_SIZING, now()))
                    .expect("the port has a group")
                    .report;
                let (grant, refused) = group.answer(&ask);
                port.run(|g| g.allowance_grant(&grant, now()));
                if refused {
                    let grant = port.run(|g| g.shard_refuse_waiting(k, now()));
                    shard.run(|g| g.allowance_grant(&grant, now()));
                    outcome = Some(false);
                    break;
                }
                port.run(|g| g.shard_serve(now()));
            }
            let (grant, refusal) = port.run(|g| g.shard_settle(k, before, now()));
            let budget = port.run(|g| g.budget());
            shard.run(|g| {
                g.take_port_budget(&budget)?;
                g.allowance_grant(&grant, now())
            });
            if refusal.is_some() {
                outcome = Some(false);
                break;
            }
        }
        match outcome {
            Some(true) => held += 70,
            Some(false) => refused_by_group += 1,
            None => panic!("neither held nor refused"),
        }
        // What the shards hold never passes what the group lent the port.
        let lent_by_group = port.run(|g| g.allowance()).allowance();
        assert!(
            held <= lent_by_group,
            "{held} held, {lent_by_group} lent by the group"
        );
        assert!(group.granted <= group.cap);
    }
    assert_eq!(held, 700, "the group's cap, all of it, and no more");
    assert_eq!(refused_by_group, 20);
    // The group's word that it is over its soft cap reaches the shards
    // with the port's next grant to them.
    let over = ai_budget::allowance::Grant {
        seq: group.seq + 1,
        granted: group.granted,
        over_soft: Some("org".into()),
        ..Default::default()
    };
    port.run(|g| g.allowance_grant(&over, now()));
    let before = port.run(|g| g.shard_granted(0));
    let (grant, _) = port.run(|g| g.shard_settle(0, before, now()));
    assert_eq!(grant.over_soft.as_deref(), Some("org"));
    shards[0].run(|g| g.allowance_grant(&grant, now()));
    let shown = shards[0].run(|g| g.apply(Operation::Hold { id: "none".into() }, now()));
    assert_eq!(
        shown.group_soft.as_deref(),
        Some("org"),
        "the shard's answers flag the group"
    );
}
