//! What the gate counts, the ledger of record (D1, its real migrations on a
//! real SQLite) accepts; and a row D1 refuses for good never holds up the
//! rows behind it: it is set aside, counted and listed, and the rest of the
//! port's ledger is delivered.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ai_budget::gate::wake::{on_failure, OnFailure};
use ai_budget::gate::*;
use ai_budget::ledger::delivery::{self, Delivered, Snapshot};
use ai_budget::sql::Sql;
use ai_budget::TokenCounts;
use ai_budget::MAX_TOKENS;
use common::port::{now, usage, Port};
use common::sqlite::Sqlite;
use proptest::prelude::*;

/// Delivers everything pending the way the port's object does: batches,
/// and after a refusal for good one entry at a time, setting aside the
/// entry at fault. Returns the request ids set aside.
fn deliver_all(port: &Port, d1: &Sqlite) -> Vec<String> {
    let mut size = delivery::BATCH_ENTRIES as u32;
    let mut set_aside = Vec::new();
    for attempt in 0..1_000 {
        let pending = port.run(|g| g.pending(size));
        if pending.is_empty() {
            return set_aside;
        }
        let batch = delivery::batch(
            "p",
            &ai_budget::Budget::default(),
            &pending,
            &format!("w{attempt}"),
            Snapshot::default(),
        );
        match d1.batch(&batch) {
            Ok(results) => {
                let stored: Vec<(u64, u64)> = delivery::outcome(&pending, results.last().unwrap())
                    .into_iter()
                    .filter_map(|d| match d {
                        Delivered::Stored { seq, version } => Some((seq, version)),
                        Delivered::Duplicate { .. } => None,
                    })
                    .collect();
                port.run(|g| g.delivered(&stored));
            }
            Err(e) => match on_failure(pending.len(), &e.0) {
                OnFailure::Backoff => panic!("D1 failed in a way to retry: {}", e.0),
                OnFailure::OneAtATime => size = 1,
                OnFailure::SetAside => {
                    let (entry, _) = &pending[0];
                    assert!(port.run(|g| g.set_aside(entry.seq, entry.version, &e.0, now())));
                    set_aside.push(entry.request_id.clone());
                }
            },
        }
    }
    panic!("the delivery did not end");
}

fn d1_request_ids(d1: &Sqlite) -> Vec<String> {
    d1.exec(
        "SELECT request_id FROM usage_ledger WHERE port_id = 'p' ORDER BY seq",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.text("request_id").unwrap())
    .collect()
}

fn counts(input: u64, output: u64) -> CallUsage {
    CallUsage {
        tokens: TokenCounts::new(input, output),
        ..usage(0, 0)
    }
}

#[test]
fn usage_past_the_exact_range_is_refused_by_the_gate_and_nothing_is_written() {
    let port = Port::new();
    // The probe's numbers: each count alone is in range, their sum is not.
    let probe = counts(MAX_TOKENS, 10);
    let out = port.run(|g| g.record(&probe, "r1", "h", "w1", now(), now()));
    assert!(
        matches!(out, RecordOutcome::TooLarge { .. }),
        "refused, not clamped: {out:?}"
    );
    let hold = port.held(100, now());
    let out = port.run(|g| g.commit(&hold.id, &probe, "h", "w2", now()));
    assert!(matches!(out, CommitOutcome::TooLarge { .. }), "{out:?}");
    assert_eq!(port.run(|g| g.pending_count()), 0, "no entry written");
    // The hold is still open: the caller can settle it another way (the
    // gateway charges it its estimate), which always fits.
    let out = port.run(|g| g.commit(&hold.id, &counts(60, 40), "h2", "w3", now()));
    assert!(
        matches!(out, CommitOutcome::Committed { .. }),
        "the hold's own estimate fits: {out:?}"
    );
}

#[test]
fn a_row_d1_refuses_for_good_is_set_aside_and_the_rows_behind_it_are_delivered() {
    let port = Port::new();
    let d1 = Sqlite::with_d1_schema();
    // D1 refuses this one row on every try, as a constraint would.
    d1.exec(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_ledger \
         WHEN NEW.request_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END",
        &[],
    )
    .unwrap();
    for id in ["a", "poison", "c", "d"] {
        let out = port.run(|g| g.record(&usage(10, 5), id, "h", id, now(), now()));
        assert!(matches!(out, RecordOutcome::Recorded { .. }));
    }
    let set_aside = deliver_all(&port, &d1);
    assert_eq!(set_aside, ["poison"]);
    assert_eq!(
        d1_request_ids(&d1),
        ["a", "c", "d"],
        "the rows behind it went on"
    );
    let view = port.run(|g| g.view(None, now()));
    assert_eq!(view.pending_entries, 0);
    assert_eq!(view.set_aside_entries, 1);
    assert_eq!(view.set_aside[0].request_id, "poison");
    assert!(view.set_aside[0]
        .reason
        .contains("refused by a test trigger"));
    // Still counted by the gate: the budget binds on what was used.
    assert_eq!(view.load.used_tokens, 60);
    // Later rows are delivered at once; the set-aside one waits.
    port.run(|g| g.record(&usage(1, 1), "e", "h", "e", now(), now()));
    assert!(deliver_all(&port, &d1).is_empty());
    assert_eq!(d1_request_ids(&d1), ["a", "c", "d", "e"]);
    // Once the cause is mended, a retry delivers it, once.
    d1.exec("DROP TRIGGER refuse_poison", &[]).unwrap();
    assert_eq!(port.run(|g| g.retry_set_aside()), 1);
    assert!(deliver_all(&port, &d1).is_empty());
    assert_eq!(d1_request_ids(&d1), ["a", "poison", "c", "d", "e"]);
    let view = port.run(|g| g.view(None, now()));
    assert_eq!((view.pending_entries, view.set_aside_entries), (0, 0));
}

#[test]
fn failures_that_a_retry_may_cure_never_set_a_row_aside() {
    for message in [
        "D1_ERROR: Network connection lost.",
        "D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset.",
        "D1 is overloaded. Requests queued for too long.",
        "something nobody has seen before",
    ] {
        assert_eq!(on_failure(5, message), OnFailure::Backoff, "{message}");
        assert_eq!(on_failure(1, message), OnFailure::Backoff, "{message}");
    }
    let refused = "D1_ERROR: CHECK constraint failed: total_tokens = input_tokens + output_tokens: SQLITE_CONSTRAINT";
    assert_eq!(on_failure(5, refused), OnFailure::OneAtATime);
    assert_eq!(on_failure(1, refused), OnFailure::SetAside);
}

/// A token count near the edges of the exact range.
fn edge_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..1_000u64,
        (MAX_TOKENS - 1_000)..=MAX_TOKENS,
        Just(MAX_TOKENS / 2),
        Just(MAX_TOKENS / 2 + 1),
        Just(MAX_TOKENS + 1),
        Just(1u64 << 60),
        Just(u64::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One rule for both: the gate counts exactly the usage whose row D1
    /// keeps, and a row of usage the gate refuses is one D1 refuses too or
    /// could not keep exactly.
    #[test]
    fn what_the_gate_counts_d1_accepts(
        input in edge_count(),
        output in edge_count(),
        cached in edge_count(),
        reasoning in edge_count(),
    ) {
        let tokens = TokenCounts {
            input_tokens: input,
            cached_input_tokens: cached.min(input),
            cache_write_tokens: 0,
            output_tokens: output,
            reasoning_tokens: reasoning.min(output),
        };
        let port = Port::new();
        let d1 = Sqlite::with_d1_schema();
        let call = CallUsage { tokens, ..usage(0, 0) };
        let out = port.run(|g| g.record(&call, "r", "h", "w", now(), now()));
        match out {
            RecordOutcome::Recorded { entry, .. } => {
                prop_assert_eq!(tokens.exact_total(), Some(input + output));
                prop_assert_eq!(entry.total_tokens(), input + output);
                prop_assert!(deliver_all(&port, &d1).is_empty(), "D1 refused a row the gate counted");
                let row = &d1.exec("SELECT input_tokens, output_tokens, total_tokens FROM usage_ledger", &[]).unwrap()[0];
                prop_assert_eq!(row.count("total_tokens"), input + output);
            }
            RecordOutcome::TooLarge { .. } => {
                prop_assert_eq!(tokens.exact_total(), None);
                prop_assert_eq!(port.run(|g| g.pending_count()), 0);
                prop_assert!(input.saturating_add(output) > MAX_TOKENS);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
