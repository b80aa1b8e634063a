//! A port's `shards` field in its gate, natively: saved with the budget
//! (1 to 32, 1 by default and then not shown), refused with its field when
//! out of range, and the shard counts still in force after changes, so a
//! request id taken under an earlier count is found again.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::allowance::shards::{CountHistory, COUNT_KEPT_MS, MAX_COUNTS_KEPT};
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
