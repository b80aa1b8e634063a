//! Random sequences of reserves, commits, releases, expiries, grants,
//! voids, raises, raises ended early and period ends against the port gate
//! over SQLite, and against a reference model of cap + raises + rollover +
//! credits kept in memory: every decision agrees; no hold passes the
//! effective cap plus the credits left; no credit is ever spent past its
//! amount (never twice); each period's rollover is computed once.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;

use ai_budget::gate::credits::{GrantOp, GrantOutcome};
use ai_budget::gate::*;
use ai_budget::{Period, TokenCounts};
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
        actual: u64,
    },
    Release {
        pick: usize,
    },
    Advance {
        seconds: i64,
    },
    Grant {
        amount: u64,
        expires_in: Option<i64>,
    },
    Void {
        pick: usize,
    },
    Raise {
        extra: u64,
        starts_in: i64,
        lasts: i64,
    },
    EndRaise {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u64..300, 1u64..7_200).prop_map(|(estimate, ttl)| Op::Reserve { estimate, ttl }),
        3 => (0usize..16, 0u64..400).prop_map(|(pick, actual)| Op::Commit { pick, actual }),
        1 => (0usize..16).prop_map(|pick| Op::Release { pick }),
        3 => (1i64..40_000).prop_map(|seconds| Op::Advance { seconds }),
        2 => (1u64..300, proptest::option::of(1i64..200_000)).prop_map(|(amount, expires_in)| Op::Grant { amount, expires_in }),
        1 => (0usize..8).prop_map(|pick| Op::Void { pick }),
        1 => (1u64..200, 0i64..3_600, 1i64..100_000).prop_map(|(extra, starts_in, lasts)| Op::Raise { extra, starts_in, lasts }),
        1 => (0usize..8).prop_map(|pick| Op::EndRaise { pick }),
    ]
}

struct MCredit {
    id: String,
    amount: u64,
    expires_at: Option<i64>,
    created_at: i64,
    voided: bool,
}

struct MRaise {
    id: String,
    extra: u64,
    starts_at: i64,
    ends_at: i64,
}

struct MHold {
    id: String,
    estimate: u64,
    state: HoldState,
    expires_at: i64,
    cap_part: u64,
    /// Each credit (by index) and what the hold drew from it.
    drawn: Vec<(usize, u64)>,
    /// Once settled: what each credit carries.
    settled: Vec<(usize, u64)>,
    /// Once counted: the row's amount and instant.
    entry: Option<(u64, i64)>,
}

struct Model {
    hard: u64,
    max: Option<u64>,
    credits: Vec<MCredit>,
    raises: Vec<MRaise>,
    holds: Vec<MHold>,
    /// Rollover by the start of the day it was brought into.
    rollovers: BTreeMap<i64, u64>,
}

fn window(at: i64) -> (i64, i64) {
    let w = Period::Day.window(Utc.timestamp_millis_opt(at).unwrap());
    (w.start.timestamp_millis(), w.end.timestamp_millis())
}

impl Model {
    fn spent(&self, c: usize) -> u64 {
        let parts = |h: &MHold| match h.state {
            HoldState::Held => h.drawn.clone(),
            HoldState::Released => Vec::new(),
            _ => h.settled.clone(),
        };
        self.holds
            .iter()
            .flat_map(parts)
            .filter(|(i, _)| *i == c)
            .map(|(_, a)| a)
            .sum()
    }

    fn left(&self, c: usize, now: i64) -> u64 {
        let credit = &self.credits[c];
        let live = !credit.voided && credit.expires_at.is_none_or(|e| now < e);
        if live {
            credit.amount - self.spent(c)
        } else {
            0
        }
    }

    fn credits_left(&self, now: i64) -> u64 {
        (0..self.credits.len()).map(|c| self.left(c, now)).sum()
    }

    /// Counted use in `[start, end)` and the part credits funded.
    fn used(&self, (start, end): (i64, i64)) -> (u64, u64) {
        self.holds
            .iter()
            .filter_map(|h| h.entry.map(|(amount, at)| (h, amount, at)))
            .filter(|(_, _, at)| *at >= start && *at < end)
            .fold((0, 0), |(u, f), (h, amount, _)| {
                (
                    u + amount,
                    f + h.settled.iter().map(|(_, a)| a).sum::<u64>(),
                )
            })
    }

    fn cap_used(&self, now: i64) -> u64 {
        let (used, funded) = self.used(window(now));
        let open = self.holds.iter().filter(|h| h.state == HoldState::Held);
        let held: u64 = open.clone().map(|h| h.estimate).sum();
        let drawn: u64 = open.flat_map(|h| h.drawn.iter().map(|(_, a)| *a)).sum();
        (used + held).saturating_sub(funded + drawn)
    }

    fn effective_cap(&self, now: i64) -> u64 {
        let raises: u64 = self
            .raises
            .iter()
            .filter(|r| r.starts_at <= now && now < r.ends_at)
            .map(|r| r.extra)
            .sum();
        self.hard + raises + self.rollovers.get(&window(now).0).copied().unwrap_or(0)
    }

    /// What is due at `now`: expiries, then the day's rollover.
    fn due(&mut self, now: i64) {
        for h in &mut self.holds {
            if h.state == HoldState::Held && h.expires_at <= now {
                h.state = HoldState::Expired;
                h.settled = h.drawn.clone();
                h.entry = Some((h.estimate, h.expires_at));
            }
        }
        let Some(max) = self.max else { return };
        let (start, _) = window(now);
        if self.rollovers.contains_key(&start) {
            return;
        }
        let before = window(start - 1);
        let brought = self.rollovers.get(&before.0).copied().unwrap_or(0);
        let (used, funded) = self.used(before);
        let unused = (self.hard + brought).saturating_sub(used - funded);
        self.rollovers.insert(start, unused.min(max));
    }
}

fn start() -> DateTime<Utc> {
    common::test_now(Utc.with_ymd_and_hms(2027, 3, 30, 20, 0, 0).unwrap())
}

fn run(hard: u64, max: Option<u64>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let db = Sqlite::remembering();
    Gate::open(&db).expect("a gate");
    let gate = |f: &dyn Fn(&Gate<'_, Sqlite>) -> Result<GrantOutcome, GateError>| {
        db.transaction(|db| f(&Gate::over(db)))
            .expect("storage works")
    };
    let mut now = start();
    let rollover = max.map_or("null".to_owned(), |m| format!("{{\"max\":{m}}}"));
    let saved = db
        .transaction(|db| {
            let update: serde_json::Value = serde_json::from_str(&format!(
                r#"{{"enabled":true,"softCapTokens":{hard},"hardCapTokens":{hard},"period":"day","rollover":{rollover}}}"#
            ))
            .unwrap();
            Gate::over(db).save_budget(&update, None, "admin", now)
        })
        .unwrap();
    prop_assert!(matches!(saved, SaveOutcome::Saved { .. }), "{saved:?}");
    let mut model = Model {
        hard,
        max,
        credits: Vec::new(),
        raises: Vec::new(),
        holds: Vec::new(),
        rollovers: BTreeMap::new(),
    };
    if max.is_some() {
        model.rollovers.insert(window(now.timestamp_millis()).0, 0);
    }
    for (n, op) in ops.into_iter().enumerate() {
        let at = now.timestamp_millis();
        model.due(at);
        match op {
            Op::Reserve { estimate, ttl } => {
                let cap_used = model.cap_used(at);
                let eff = model.effective_cap(at);
                let credits_left = model.credits_left(at);
                let room_cap = eff.saturating_sub(cap_used);
                let allowed = if credits_left > 0 {
                    estimate <= room_cap + credits_left
                } else {
                    cap_used < eff && estimate <= eff - cap_used
                };
                let req = HoldRequest {
                    estimated_tokens: estimate,
                    feature: "f".into(),
                    user_id: None,
                    request_id: format!("hold-{n}"),
                    ttl_seconds: ttl,
                    body_hash: format!("{estimate}"),
                    hold_id: format!("rsv_{n:020}"),
                    estimated_usd: None,
                    unpriced_estimate: None,
                };
                let outcome = db
                    .transaction(|db| Gate::over(db).reserve(&req, now))
                    .unwrap();
                match outcome {
                    ReserveOutcome::Held { hold, .. } => {
                        prop_assert!(
                            allowed,
                            "held {estimate} on {cap_used} of {eff} + {credits_left}"
                        );
                        let cap_part = estimate.min(room_cap);
                        prop_assert!(
                            cap_used + cap_part <= eff || cap_part == 0,
                            "over the effective cap"
                        );
                        // Soonest-expiring first, never more than is left.
                        let mut order: Vec<usize> = (0..model.credits.len())
                            .filter(|&c| model.left(c, at) > 0)
                            .collect();
                        order.sort_by_key(|&c| {
                            let cr = &model.credits[c];
                            (
                                cr.expires_at.unwrap_or(i64::MAX),
                                cr.created_at,
                                cr.id.clone(),
                            )
                        });
                        let mut rest = estimate - cap_part;
                        let mut drawn = Vec::new();
                        for c in order {
                            if rest == 0 {
                                break;
                            }
                            let part = rest.min(model.left(c, at));
                            rest -= part;
                            drawn.push((c, part));
                        }
                        prop_assert_eq!(rest, 0, "credits cover what the cap does not");
                        model.holds.push(MHold {
                            id: hold.id,
                            estimate,
                            state: HoldState::Held,
                            expires_at: at + ttl as i64 * 1000,
                            cap_part,
                            drawn,
                            settled: Vec::new(),
                            entry: None,
                        });
                    }
                    ReserveOutcome::Refused { refusal, .. } => {
                        prop_assert!(
                            !allowed,
                            "refused {estimate} on {cap_used} of {eff} + {credits_left}"
                        );
                        let room = refusal.room.expect("a refusal says where room came from");
                        prop_assert_eq!(
                            (room.effective_cap, room.credits_left),
                            (eff, credits_left)
                        );
                    }
                    other => prop_assert!(false, "a reservation came to {other:?}"),
                }
            }
            Op::Commit { pick, actual } => {
                if model.holds.is_empty() {
                    continue;
                }
                let i = pick % model.holds.len();
                let usage = CallUsage {
                    user_id: None,
                    feature: None,
                    provider: "p".into(),
                    model: "m".into(),
                    tokens: TokenCounts::new(actual, 0),
                    cost_usd: None,
                    price_version: None,
                    price_source: None,
                };
                let id = model.holds[i].id.clone();
                let result = db
                    .transaction(|db| {
                        Gate::over(db).commit(
                            &id,
                            &usage,
                            &format!("{actual}"),
                            &format!("w{n}"),
                            now,
                        )
                    })
                    .unwrap();
                let h = &mut model.holds[i];
                if let CommitOutcome::Committed {
                    entry,
                    replayed: false,
                    ..
                } = result
                {
                    prop_assert!(matches!(h.state, HoldState::Held | HoldState::Expired));
                    let mut rest = actual.saturating_sub(h.cap_part);
                    h.settled = h
                        .drawn
                        .iter()
                        .map(|&(c, took)| {
                            let part = rest.min(took);
                            rest -= part;
                            (c, part)
                        })
                        .collect();
                    let at_row = if h.state == HoldState::Expired {
                        h.expires_at
                    } else {
                        at
                    };
                    prop_assert_eq!(entry.created_at, at_row);
                    h.entry = Some((actual, at_row));
                    h.state = HoldState::Committed;
                } else {
                    prop_assert!(
                        matches!(h.state, HoldState::Committed | HoldState::Released),
                        "{:?}",
                        h.state
                    );
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
                if matches!(result, ReleaseOutcome::Released { .. }) {
                    model.holds[i].state = HoldState::Released;
                }
            }
            Op::Advance { seconds } => now += Duration::seconds(seconds),
            Op::Grant { amount, expires_in } => {
                let id = format!("cr_{n:06}");
                let expires_at = expires_in.map(|s| at + s * 1000);
                let out = gate(&|g| {
                    g.grants(
                        GrantOp::Grant {
                            id: id.clone(),
                            request_id: format!("grant-{n}"),
                            amount: amount.into(),
                            unit: None,
                            expires_at,
                            note: None,
                        },
                        now,
                    )
                });
                prop_assert!(
                    matches!(
                        out,
                        GrantOutcome::Credit {
                            replayed: false,
                            ..
                        }
                    ),
                    "{out:?}"
                );
                model.credits.push(MCredit {
                    id,
                    amount,
                    expires_at,
                    created_at: at,
                    voided: false,
                });
            }
            Op::Void { pick } => {
                if model.credits.is_empty() {
                    continue;
                }
                let c = pick % model.credits.len();
                let id = model.credits[c].id.clone();
                gate(&|g| g.grants(GrantOp::Void { id: id.clone() }, now));
                model.credits[c].voided = true;
            }
            Op::Raise {
                extra,
                starts_in,
                lasts,
            } => {
                let id = format!("rz_{n:06}");
                let (starts_at, ends_at) = (at + starts_in * 1000, at + (starts_in + lasts) * 1000);
                let out = gate(&|g| {
                    g.grants(
                        GrantOp::Raise {
                            id: id.clone(),
                            request_id: format!("raise-{n}"),
                            extra: extra.into(),
                            soft_extra: None,
                            unit: None,
                            starts_at: Some(starts_at),
                            ends_at,
                            note: None,
                        },
                        now,
                    )
                });
                prop_assert!(
                    matches!(
                        out,
                        GrantOutcome::Raise {
                            replayed: false,
                            ..
                        }
                    ),
                    "{out:?}"
                );
                model.raises.push(MRaise {
                    id,
                    extra,
                    starts_at,
                    ends_at,
                });
            }
            Op::EndRaise { pick } => {
                if model.raises.is_empty() {
                    continue;
                }
                let r = pick % model.raises.len();
                let id = model.raises[r].id.clone();
                gate(&|g| g.grants(GrantOp::EndRaise { id: id.clone() }, now));
                let raise = &mut model.raises[r];
                if raise.ends_at > at {
                    raise.ends_at = raise.starts_at.max(at);
                }
            }
        }
        // After every step: each credit's spending and the room agree.
        let at = now.timestamp_millis();
        model.due(at);
        let GrantOutcome::Credits { credits, room } = gate(&|g| g.grants(GrantOp::Credits, now))
        else {
            return Err(TestCaseError::fail("credits are listed"));
        };
        for (c, listed) in credits.iter().enumerate() {
            let m = model
                .credits
                .iter()
                .position(|mc| mc.id == listed.row.credit.id)
                .unwrap();
            prop_assert!(
                listed.row.credit.spent <= listed.row.credit.amount,
                "a credit spent past its amount"
            );
            prop_assert_eq!(
                listed.row.credit.spent,
                model.spent(m),
                "credit {} spent",
                c
            );
            prop_assert_eq!(listed.left, model.left(m, at));
        }
        prop_assert_eq!(room.credits_left, model.credits_left(at));
        prop_assert_eq!(room.effective_cap, model.effective_cap(at), "effective cap");
        prop_assert_eq!(
            room.rollover,
            model.rollovers.get(&window(at).0).copied().unwrap_or(0),
            "rollover, once"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_gate_keeps_cap_raises_rollover_and_credits_as_the_model_does(
        hard in 0u64..500,
        max in proptest::option::of(0u64..300),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(hard, max, ops)?;
    }
}
