//! Random sequences of reserve / commit / release / expire / record /
//! budget change against the port gate over SQLite, and against a simple
//! reference model kept in memory: after every step the gate's loads,
//! decisions and outbox agree with the model, and no hold is ever granted
//! past the cap.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use ai_budget::gate::*;
use ai_budget::TokenCounts;
use ai_budget::{decide, Budget, Period};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::sqlite::Sqlite;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        estimate: u64,
        ttl: u64,
    },
    Commit {
        pick: usize,
        input: u64,
        output: u64,
    },
    Release {
        pick: usize,
    },
    Record {
        tokens: u64,
        back_hours: i64,
    },
    Advance {
        seconds: i64,
    },
    Budget {
        hard: u64,
        period: usize,
        enabled: bool,
    },
    /// The last reservation or usage write again, as a client's retry.
    Retry,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..400, 1u64..600).prop_map(|(estimate, ttl)| Op::Reserve { estimate, ttl }),
        3 => (0usize..8, 0u64..300, 0u64..300).prop_map(|(pick, input, output)| Op::Commit { pick, input, output }),
        1 => (0usize..8).prop_map(|pick| Op::Release { pick }),
        2 => (0u64..300, 0i64..72).prop_map(|(tokens, back_hours)| Op::Record { tokens, back_hours }),
        2 => (1i64..40_000).prop_map(|seconds| Op::Advance { seconds }),
        1 => (0u64..3_000, 0usize..3, any::<bool>()).prop_map(|(hard, period, enabled)| Op::Budget { hard, period, enabled }),
        1 => Just(Op::Retry),
    ]
}

/// What the model knows of a hold.
#[derive(Clone, Debug)]
struct ModelHold {
    id: String,
    request_id: String,
    estimate: u64,
    state: HoldState,
    expires_at: i64,
}

#[derive(Default)]
struct Model {
    budget: Budget,
    holds: Vec<ModelHold>,
    /// Entries by seq: (total tokens, instant, estimated).
    entries: BTreeMap<u64, (u64, i64, bool)>,
    next_seq: u64,
}

impl Model {
    fn used(&self, period: Period, at: DateTime<Utc>) -> (u64, u64) {
        let w = period.window(at);
        let (start, end) = (w.start.timestamp_millis(), w.end.timestamp_millis());
        self.entries
            .values()
            .filter(|(_, t, _)| *t >= start && *t < end)
            .fold((0, 0), |(tokens, calls), (total, _, _)| {
                (tokens + total, calls + 1)
            })
    }

    fn held(&self) -> u64 {
        self.holds
            .iter()
            .filter(|h| h.state == HoldState::Held)
            .map(|h| h.estimate)
            .sum()
    }

    /// Expires due holds the way the gate must: an estimated entry at the
    /// hold's expiry.
    fn expire(&mut self, now: i64) {
        let mut due: Vec<usize> = (0..self.holds.len())
            .filter(|&i| self.holds[i].state == HoldState::Held && self.holds[i].expires_at <= now)
            .collect();
        due.sort_by_key(|&i| (self.holds[i].expires_at, self.holds[i].id.clone()));
        for i in due {
            self.next_seq += 1;
            let h = &mut self.holds[i];
            h.state = HoldState::Expired;
            self.entries
                .insert(self.next_seq, (h.estimate, h.expires_at, true));
        }
    }
}

fn next_write(writes: &std::cell::Cell<u32>) -> String {
    writes.set(writes.get() + 1);
    format!("w{}", writes.get())
}

fn start() -> DateTime<Utc> {
    common::test_now(Utc.with_ymd_and_hms(2027, 1, 31, 22, 0, 0).unwrap())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let db = Sqlite::remembering();
    Gate::open(&db).expect("a gate");
    let gate_op = |f: &dyn Fn(&Gate<'_, Sqlite>) -> Result<(), GateError>| {
        db.transaction(|db| f(&Gate::over(db)))
            .expect("storage works");
    };
    let mut model = Model::default();
    // Every call is a request of its own (a client's retry included).
    let writes = std::cell::Cell::new(0u32);
    let mut now = start();
    let mut n = 0u32;
    let mut last: Option<Op> = None;
    let mut last_request: Option<(HoldRequest, Option<DateTime<Utc>>)> = None;
    for op in ops {
        let op = match op {
            Op::Retry => match last.clone() {
                Some(op) => op,
                None => continue,
            },
            op => {
                n += 1;
                last = None;
                op
            }
        };
        let ms = now.timestamp_millis();
        model.expire(ms);
        match op.clone() {
            Op::Reserve { estimate, ttl } => {
                let req = match &last_request {
                    // A client's retry: the same request id and body, sent
                    // as another request (a hold id of its own).
                    Some((req, None)) if matches!(last, Some(Op::Reserve { .. })) => HoldRequest {
                        hold_id: format!("rsv_retry_{}", next_write(&writes)),
                        ..req.clone()
                    },
                    _ => HoldRequest {
                        estimated_tokens: estimate,
                        feature: format!("f{}", n % 3),
                        user_id: None,
                        request_id: format!("hold-{n}"),
                        ttl_seconds: ttl,
                        body_hash: format!("{estimate}"),
                        hold_id: format!("rsv_{n:020}"),
                        estimated_usd: None,
                        unpriced_estimate: None,
                    },
                };
                let replay = model.holds.iter().any(|h| h.request_id == req.request_id);
                let gate_tokens = model.used(model.budget.period, now).0 + model.held();
                let allowed = decide(&model.budget, gate_tokens, req.estimated_tokens).is_allowed();
                let outcome = db
                    .transaction(|db| Gate::over(db).reserve(&req, now))
                    .unwrap();
                match outcome {
                    ReserveOutcome::Held { replayed: true, .. } => {
                        prop_assert!(replay, "only a retry replays")
                    }
                    ReserveOutcome::Held {
                        hold,
                        replayed: false,
                        ..
                    } => {
                        prop_assert!(!replay && allowed, "granted only as the rules allow");
                        if model.budget.enabled {
                            prop_assert!(
                                gate_tokens + req.estimated_tokens <= model.budget.hard_cap_tokens,
                                "no hold past the cap"
                            );
                        }
                        model.holds.push(ModelHold {
                            id: hold.id,
                            request_id: req.request_id.clone(),
                            estimate: req.estimated_tokens,
                            state: HoldState::Held,
                            expires_at: ms + req.ttl_seconds as i64 * 1000,
                        });
                    }
                    ReserveOutcome::Refused { .. } => {
                        prop_assert!(!replay && !allowed, "refused only as the rules refuse")
                    }
                    other => prop_assert!(false, "a reservation came to {other:?}"),
                }
                last_request = Some((req, None));
                last = Some(op);
            }
            Op::Commit {
                pick,
                input,
                output,
            } => {
                if model.holds.is_empty() {
                    continue;
                }
                let i = pick % model.holds.len();
                let id = model.holds[i].id.clone();
                let usage = CallUsage {
                    user_id: None,
                    feature: None,
                    provider: "p".into(),
                    model: "m".into(),
                    tokens: TokenCounts::new(input, output),
                    cost_usd: None,
                    price_version: None,
                    price_source: None,
                };
                let hash = format!("{input}/{output}");
                let result = db
                    .transaction(|db| {
                        Gate::over(db).commit(&id, &usage, &hash, &next_write(&writes), now)
                    })
                    .unwrap();
                let h = &mut model.holds[i];
                match (h.state, result) {
                    (
                        HoldState::Held,
                        CommitOutcome::Committed {
                            entry,
                            replayed: false,
                            ..
                        },
                    ) => {
                        model.next_seq += 1;
                        prop_assert_eq!(entry.seq, model.next_seq);
                        model.entries.insert(entry.seq, (input + output, ms, false));
                        h.state = HoldState::Committed;
                    }
                    (
                        HoldState::Expired,
                        CommitOutcome::Committed {
                            entry,
                            replayed: false,
                            ..
                        },
                    ) => {
                        let slot = model
                            .entries
                            .get_mut(&entry.seq)
                            .expect("the estimated entry");
                        prop_assert!(slot.2, "only an estimate is corrected");
                        *slot = (input + output, slot.1, false);
                        h.state = HoldState::Committed;
                    }
                    (HoldState::Committed, CommitOutcome::Committed { replayed: true, .. }) => {}
                    (
                        HoldState::Committed | HoldState::Released,
                        CommitOutcome::Conflict { .. },
                    ) => {}
                    (state, other) => {
                        prop_assert!(false, "a {state:?} hold committed as {other:?}")
                    }
                }
            }
            Op::Release { pick } => {
                if model.holds.is_empty() {
                    continue;
                }
                let i = pick % model.holds.len();
                let id = model.holds[i].id.clone();
                let result = db
                    .transaction(|db| Gate::over(db).release(&id, now))
                    .unwrap();
                let h = &mut model.holds[i];
                match (h.state, result) {
                    (HoldState::Held | HoldState::Released, ReleaseOutcome::Released { .. }) => {
                        h.state = HoldState::Released
                    }
                    (
                        HoldState::Committed | HoldState::Expired,
                        ReleaseOutcome::Conflict { .. },
                    ) => {}
                    (state, other) => prop_assert!(false, "a {state:?} hold released as {other:?}"),
                }
            }
            Op::Record { tokens, back_hours } => {
                let occurred = now - Duration::hours(back_hours);
                let request_id = match (&last, &last_request) {
                    (Some(Op::Record { .. }), Some((req, Some(_)))) => req.request_id.clone(),
                    _ => format!("use-{n}"),
                };
                let usage = CallUsage {
                    user_id: None,
                    feature: Some("ocr".into()),
                    provider: "p".into(),
                    model: "m".into(),
                    tokens: TokenCounts::new(tokens, 0),
                    cost_usd: None,
                    price_version: None,
                    price_source: None,
                };
                let hash = format!("{tokens}@{back_hours}");
                let result = db
                    .transaction(|db| {
                        Gate::over(db).record(
                            &usage,
                            &request_id,
                            &hash,
                            &next_write(&writes),
                            occurred,
                            now,
                        )
                    })
                    .unwrap();
                match result {
                    RecordOutcome::Recorded {
                        entry,
                        replayed: false,
                        ..
                    } => {
                        model.next_seq += 1;
                        prop_assert_eq!(entry.seq, model.next_seq);
                        model
                            .entries
                            .insert(entry.seq, (tokens, occurred.timestamp_millis(), false));
                    }
                    RecordOutcome::Recorded { replayed: true, .. } => {}
                    other => prop_assert!(false, "a usage write came to {other:?}"),
                }
                let placeholder = HoldRequest {
                    estimated_tokens: 0,
                    feature: String::new(),
                    user_id: None,
                    request_id,
                    ttl_seconds: 0,
                    body_hash: String::new(),
                    hold_id: String::new(),
                    estimated_usd: None,
                    unpriced_estimate: None,
                };
                last_request = Some((placeholder, Some(occurred)));
                last = Some(op);
            }
            Op::Advance { seconds } => {
                now += Duration::seconds(seconds);
                model.expire(now.timestamp_millis());
                gate_op(&|g| g.expire_due(now).map(|_| ()));
            }
            Op::Budget {
                hard,
                period,
                enabled,
            } => {
                let period = Period::ALL[period];
                let raw = serde_json::json!({
                    "enabled": enabled, "softCapTokens": hard / 2, "hardCapTokens": hard, "period": period.as_str(),
                });
                gate_op(&|g| g.save_budget(&raw, None, "admin", now).map(|_| ()));
                model.budget = Budget {
                    enabled,
                    soft_cap_tokens: hard / 2,
                    hard_cap_tokens: hard,
                    period,
                    ..Budget::default()
                };
            }
            Op::Retry => unreachable!(),
        }
        // After every step: the same loads under every period kind, and an
        // outbox that has every entry the model has, newest versions.
        let view = db.transaction(|db| Gate::over(db).view(None, now)).unwrap();
        for (k, period) in Period::ALL.into_iter().enumerate() {
            let (used, calls) = model.used(period, now);
            prop_assert_eq!(view.by_period[k].used_tokens, used, "{} used", period);
            prop_assert_eq!(view.by_period[k].calls, calls, "{} calls", period);
            prop_assert_eq!(
                view.by_period[k].held_tokens,
                model.held(),
                "{} held",
                period
            );
        }
        let pending = db.transaction(|db| Gate::over(db).pending(10_000)).unwrap();
        prop_assert_eq!(pending.len(), model.entries.len());
        for (entry, _) in &pending {
            let (total, at, estimated) = model.entries[&entry.seq];
            prop_assert_eq!(
                (entry.total_tokens(), entry.created_at, entry.estimated),
                (total, at, estimated)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_gate_agrees_with_a_reference_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
