//! A seeded simulation of one port, natively, in the manner of
//! TigerBeetle's VOPR: random operations through the gate's one entry
//! ([`Gate::apply`]), the port object's execution rebuilt on the same pure
//! rules ([`wake::next_wake`], [`wake::after_change`], [`wake::Courier`]),
//! deliveries to a SQLite "D1" (the real migrations) behind a wrapper that
//! injects D1's faults (transient errors, replies lost after the batch ran,
//! a row refused for good), alarms and hold expiry driven by a simulated
//! clock that crosses period boundaries, and restarts that drop everything
//! the object keeps in memory. After every step it checks:
//!
//! - **no overshoot**: a hold is granted only when used plus held stays
//!   within the hard cap; a port-scope refusal is one the cap calls for;
//! - **each row once in D1**: one row per request id and per number, and
//!   the rollup equal to the sum of the ledger's rows, however often a
//!   batch was retried or its reply lost;
//! - **D1 equal to the gate after delivery**: once nothing is on its way,
//!   every entry not set aside is in D1 at its version and numbers, and the
//!   rollup of the current day equals the gate's counters less what was set
//!   aside;
//! - **alarms**: an open hold or an undelivered entry always has an alarm
//!   set, no later than the next expiry; a retried request changes nothing.
//!
//! `SIM_SEEDS` and `SIM_STEPS` widen a run; a failure names its seed and
//! step.
// Native only: the storage is an in-process SQLite.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use ai_budget::gate::wake::{self, Courier, Next, Reply};
use ai_budget::gate::*;
use ai_budget::ledger::delivery;
use ai_budget::sql::{Row, Sql, SqlError, Statement};
use ai_budget::time::{instant, ms};
use ai_budget::{Period, TokenCounts};
use chrono::{DateTime, TimeZone, Utc};
use common::rng::Rng;
use common::sqlite::Sqlite;

/// Seeds and steps per seed of a plain `cargo test` run.
const SEEDS: u64 = 12;
const STEPS: u32 = 200;
/// The port's name in D1.
const PORT: &str = "sim";
/// D1's words for a row refused for good, and for a passing failure.
const REFUSED: &str = "D1_ERROR: CHECK constraint failed: simulated refusal: SQLITE_CONSTRAINT";
const LOST: &str = "D1_ERROR: Network connection lost.: SQLITE_ERROR";

/// (seq, version, total tokens, created at) of one entry in the gate.
type GateRow = (u64, u64, u64, i64);

/// D1 behind a wrapper that injects its faults: the logic under test sees
/// only D1's answers (its error words included).
struct FaultyD1 {
    db: Sqlite,
    /// Percent of batches failing before they run (unreachable, reset).
    transient: u64,
    /// Percent of batches that run but whose reply is lost.
    lost: u64,
    /// Request ids D1 refuses for good (as a CHECK constraint would).
    refused: HashSet<String>,
}

impl FaultyD1 {
    fn run(
        &self,
        rng: &mut Rng,
        batch: &[Statement],
        entries: &[delivery::Pending],
    ) -> Result<Vec<Vec<Row>>, SqlError> {
        if entries
            .iter()
            .any(|(e, _)| self.refused.contains(&e.request_id))
        {
            return Err(SqlError(REFUSED.into()));
        }
        if rng.chance(self.transient) {
            return Err(SqlError(LOST.into()));
        }
        let results = self.db.batch(batch)?;
        if rng.chance(self.lost) {
            return Err(SqlError(LOST.into()));
        }
        Ok(results)
    }
}

/// What the port's object keeps in memory: lost on a restart.
#[derive(Default)]
struct Memory {
    courier: Courier,
    /// When it believes the alarm is set for.
    alarm_known: Option<i64>,
    /// When a change last started a delivery at once.
    delivered_at: Option<i64>,
}

/// A hold the simulation took, for later commits and releases.
#[derive(Clone)]
struct Taken {
    id: String,
    estimate: u64,
}

/// One port: the object's storage, its memory, the alarm (kept by the
/// runtime across restarts), D1, and the simulated clock.
struct World {
    gate: Sqlite,
    memory: Memory,
    alarm: Option<i64>,
    d1: FaultyD1,
    rng: Rng,
    now: i64,
    start: i64,
    holds: Vec<Taken>,
    attempts: u64,
    n: u64,
    /// What the run went through, to show it was exercised.
    seen: Seen,
}

/// Counts of what a run went through.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    held: u64,
    refused: u64,
    expired: u64,
    alarms: u64,
    batches: u64,
    failed_batches: u64,
    set_aside: u64,
    restarts: u64,
    retries: u64,
    days: u64,
}

impl std::ops::AddAssign for Seen {
    fn add_assign(&mut self, o: Seen) {
        self.held += o.held;
        self.refused += o.refused;
        self.expired += o.expired;
        self.alarms += o.alarms;
        self.batches += o.batches;
        self.failed_batches += o.failed_batches;
        self.set_aside += o.set_aside;
        self.restarts += o.restarts;
        self.retries += o.retries;
        self.days += o.days;
    }
}

impl World {
    fn new(seed: u64) -> World {
        let gate = Sqlite::remembering();
        Gate::open(&gate).expect("a gate");
        let start = ms(common::test_now(
            Utc.with_ymd_and_hms(2026, 6, 17, 9, 30, 0).unwrap(),
        ));
        let mut rng = Rng(seed);
        let d1 = FaultyD1 {
            db: Sqlite::with_d1_schema(),
            transient: rng.range(0, 30),
            lost: rng.range(0, 20),
            refused: HashSet::new(),
        };
        let world = World {
            gate,
            memory: Memory::default(),
            alarm: None,
            d1,
            rng,
            now: start,
            start,
            holds: Vec::new(),
            attempts: 0,
            n: 0,
            seen: Seen::default(),
        };
        world.set_port();
        world
    }

    fn set_port(&self) {
        self.run(|g| g.set_port(PORT));
    }

    fn at(&self) -> DateTime<Utc> {
        instant(self.now)
    }

    /// One transaction over the gate, as the object runs each.
    fn run<T>(&self, f: impl FnOnce(&Gate<'_, Sqlite>) -> Result<T, GateError>) -> T {
        self.gate
            .transaction(|db| f(&Gate::over(db)))
            .expect("the gate's storage works")
    }

    fn apply(&mut self, op: Operation) -> Applied {
        let now = self.at();
        let changes = op.changes();
        let applied = self.run(move |g| g.apply(op, now));
        if changes {
            self.after_change();
        }
        applied
    }

    /// Applies a changing operation whose answer may be lost: then the
    /// client sends the very same request again, which must answer as the
    /// first time and change nothing.
    fn apply_lost(&mut self, op: Operation) -> Applied {
        let applied = self.apply(op.clone());
        let counted = matches!(
            applied.result,
            Outcome::Reserve(ReserveOutcome::Held { .. })
                | Outcome::Commit(CommitOutcome::Committed { .. })
                | Outcome::Release(ReleaseOutcome::Released { .. })
                | Outcome::Record(RecordOutcome::Recorded { .. })
        );
        if counted && self.rng.chance(15) {
            self.seen.retries += 1;
            let before = self.observable();
            let again = self.apply(op);
            assert_eq!(
                before,
                self.observable(),
                "a retried request changed the port"
            );
            assert_eq!(
                std::mem::discriminant(&applied.result),
                std::mem::discriminant(&again.result),
                "a retried request answered otherwise"
            );
        }
        applied
    }

    // ------------------------------------------------------------ execution

    /// The object after a change, as `courier::after_change` runs it.
    fn after_change(&mut self) {
        self.memory.courier.touch();
        self.send_alerts();
        let pending = self.run(|g| g.pending_count());
        let next = wake::after_change(
            pending,
            self.memory.alarm_known,
            self.memory.delivered_at,
            self.now,
        );
        if next.deliver {
            self.memory.delivered_at = Some(self.now);
            self.deliver();
        }
        if next.schedule {
            self.schedule();
        }
    }

    /// The alarm, as `PortGate::alarm` runs it.
    fn alarm_fires(&mut self) {
        self.alarm = None;
        self.memory.alarm_known = None;
        let now = self.at();
        let ticked = self.run(move |g| g.apply(Operation::Tick, now));
        self.seen.alarms += 1;
        if let Outcome::Ticked { expired, .. } = ticked.result {
            self.seen.expired += expired as u64;
        }
        self.memory.courier.touch();
        self.deliver();
        self.send_alerts();
        self.run(|g| g.replica_written());
        self.schedule();
    }

    /// The queue takes every alert event.
    fn send_alerts(&self) {
        let now = self.now;
        self.gate
            .transaction(|db| {
                let pending = ai_budget::alerts::watch::pending(db, 100)?;
                let seqs: Vec<u64> = pending.iter().map(|e| e.seq).collect();
                ai_budget::alerts::watch::mark_sent(db, &seqs, now)
            })
            .expect("the alert outbox");
    }

    /// The delivery loop, as `courier::deliver` runs it.
    fn deliver(&mut self) {
        if !self.memory.courier.begin() {
            return;
        }
        while let Some(size) = self.memory.courier.next_batch() {
            let at = self.now;
            let (pending, snapshot) = self.run(move |g| delivery::next_batch(g, size, at));
            self.attempts += 1;
            let batch = delivery::batch(
                PORT,
                &ai_budget::Budget::default(),
                &pending,
                &format!("a{}", self.attempts),
                snapshot,
            );
            let result = self.d1.run(&mut self.rng, &batch, &pending);
            self.seen.batches += 1;
            self.seen.failed_batches += u64::from(result.is_err());
            let entries = pending.len();
            let reply = match &result {
                Ok(results) => {
                    let outcome = delivery::outcome(&pending, results.last().unwrap());
                    self.run(|g| delivery::record(g, &outcome));
                    Reply::Stored { entries }
                }
                Err(e) => Reply::Failed {
                    entries,
                    message: &e.0,
                },
            };
            match self.memory.courier.reply(reply) {
                Next::Continue => {}
                Next::SetAsideFirst => {
                    let entry = pending[0].0.clone();
                    let reason = ai_budget::gate::wake::reason_of(REFUSED);
                    let now = self.at();
                    let fields = serde_json::json!({ "seq": entry.seq });
                    if self.run(move |g| g.set_aside_noticed(&entry, &reason, fields, now)) {
                        self.seen.set_aside += 1;
                    }
                }
                Next::Stop => break,
            }
        }
        self.memory.courier.end();
    }

    /// Sets the alarm, as `courier::schedule` does (setting replaces it).
    fn schedule(&mut self) {
        let now = self.now;
        let facts = self.run(|g| g.facts(now));
        let at = wake::next_wake(&facts, &self.memory.courier, self.now);
        if self.memory.alarm_known.is_some_and(|known| known <= at) {
            return;
        }
        self.alarm = Some(at);
        self.memory.alarm_known = Some(at);
    }

    /// The clock moves on; the alarm fires whenever it is due.
    fn advance(&mut self, by: i64) {
        let until = self.now + by;
        while let Some(at) = self.alarm.filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.alarm_fires();
        }
        self.now = until;
    }

    fn restart(&mut self) {
        self.seen.restarts += 1;
        self.memory = Memory::default();
    }

    // ------------------------------------------------------------ operations

    fn usage(&mut self, input: u64, output: u64) -> CallUsage {
        CallUsage {
            user_id: None,
            feature: Some(["chat", "ocr"][self.rng.range(0, 2) as usize].into()),
            provider: "openai".into(),
            model: "gpt".into(),
            tokens: TokenCounts::new(input, output),
            cost_usd: None,
            price_version: None,
            price_source: None,
        }
    }

    /// A reservation of a random estimate, checked for overshoot.
    fn reserve(&mut self, n: u64) -> String {
        let estimate = self.rng.range(1, 4_000);
        let hold = HoldRequest {
            estimated_tokens: estimate,
            feature: "chat".into(),
            user_id: None,
            request_id: format!("rsv-req-{n}"),
            ttl_seconds: self.rng.range(30, 900),
            body_hash: format!("h{estimate}"),
            hold_id: format!("rsv_{n:024}"),
            estimated_usd: None,
            unpriced_estimate: None,
        };
        let op = Operation::Reserve(hold);
        let applied = self.apply_lost(op);
        check_reserve(&applied, estimate);
        match &applied.result {
            Outcome::Reserve(ReserveOutcome::Refused { .. }) => self.seen.refused += 1,
            Outcome::Reserve(ReserveOutcome::Held { .. }) => self.seen.held += 1,
            _ => {}
        }
        if let Outcome::Reserve(ReserveOutcome::Held { hold, .. }) = &applied.result {
            self.holds.push(Taken {
                id: hold.id.clone(),
                estimate,
            });
        }
        format!("reserve {estimate}")
    }

    /// One random step; answers what it did, for a failure's message.
    fn step(&mut self) -> String {
        self.n += 1;
        let n = self.n;
        match self.rng.range(0, 100) {
            0..=29 => self.reserve(n),
            30..=49 if !self.holds.is_empty() => {
                let k = self.rng.range(0, self.holds.len() as u64) as usize;
                let taken = self.holds[k].clone();
                let actual = self.rng.range(0, taken.estimate + taken.estimate / 4 + 1);
                let usage = self.usage(actual / 2, actual - actual / 2);
                let op = Operation::Commit {
                    id: taken.id.clone(),
                    usage,
                    body_hash: format!("c{actual}"),
                    write_id: format!("w{n}"),
                };
                self.apply_lost(op);
                format!("commit {} with {actual}", taken.id)
            }
            50..=57 if !self.holds.is_empty() => {
                let k = self.rng.range(0, self.holds.len() as u64) as usize;
                let id = self.holds.swap_remove(k).id;
                let op = Operation::Release { id: id.clone() };
                self.apply_lost(op);
                format!("release {id}")
            }
            58..=71 => {
                let tokens = self.rng.range(1, 1_500);
                let request_id = format!("use-{n}");
                if self.rng.chance(10) {
                    self.d1.refused.insert(request_id.clone());
                }
                let usage = self.usage(tokens, 0);
                let op = Operation::Record {
                    usage,
                    request_id: request_id.clone(),
                    body_hash: format!("u{tokens}"),
                    write_id: format!("w{n}"),
                    occurred_at: self.at(),
                };
                self.apply_lost(op);
                format!("record {request_id} of {tokens}")
            }
            72..=75 => {
                let cap = self.rng.range(2_000, 40_000);
                let update = serde_json::json!({
                    "enabled": true,
                    "period": "day",
                    "softCapTokens": cap * 4 / 5,
                    "hardCapTokens": cap,
                });
                self.apply(Operation::SaveBudget {
                    update,
                    if_match: None,
                    actor: "sim".into(),
                });
                format!("cap {cap}")
            }
            76..=82 => {
                self.restart();
                "restart".into()
            }
            83..=86 => {
                let by = if self.now - self.start < 20 * 86_400_000 {
                    self.rng.range(3_600_000, 14 * 3_600_000) as i64
                } else {
                    60_000
                };
                self.advance(by);
                format!("advance {by} ms")
            }
            _ => {
                let by = self.rng.range(0, 120_000) as i64;
                self.advance(by);
                format!("advance {by} ms")
            }
        }
    }

    /// What a retried request must leave as it was: every entry (number,
    /// version, total) and every hold's state.
    fn observable(&self) -> (Vec<GateRow>, Vec<(String, HoldState)>) {
        let holds = self.run(|g| g.holds(true, 10_000));
        let holds = holds.into_iter().map(|h| (h.id, h.state)).collect();
        (self.gate_entries(), holds)
    }

    // ------------------------------------------------------------ invariants

    fn check(&self) {
        self.each_row_once_in_d1();
        self.alarm_covers_what_is_owed();
        let pending = self.run(|g| g.pending_count());
        if pending == 0 {
            self.d1_equals_the_gate();
        }
    }

    fn each_row_once_in_d1(&self) {
        let d1 = &self.d1.db;
        for key in ["request_id", "seq"] {
            let twice = d1
                .exec(
                    &format!("SELECT {key} FROM usage_ledger GROUP BY port_id, {key} HAVING COUNT(*) > 1"),
                    &[],
                )
                .unwrap();
            assert!(twice.is_empty(), "a {key} is in D1 twice");
        }
        let rows = d1
            .exec(
                "SELECT feature, total_tokens, created_at FROM usage_ledger",
                &[],
            )
            .unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for r in &rows {
            let at = instant(r.int("created_at").unwrap());
            for period in Period::ALL {
                let key = (
                    period.as_str().to_owned(),
                    ms(period.start(at)),
                    r.text("feature").unwrap(),
                );
                let slot = expected.entry(key).or_insert((0, 0));
                slot.0 += r.int("total_tokens").unwrap();
                slot.1 += 1;
            }
        }
        let actual: std::collections::BTreeMap<_, _> = d1
            .exec(
                "SELECT period, period_start, feature, tokens, calls FROM usage_rollup",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r.text("period").unwrap(),
                        r.int("period_start").unwrap(),
                        r.text("feature").unwrap(),
                    ),
                    (r.int("tokens").unwrap(), r.int("calls").unwrap()),
                )
            })
            .collect();
        assert_eq!(expected, actual, "D1's rollup is not its ledger's sum");
    }

    fn alarm_covers_what_is_owed(&self) {
        let now = self.now;
        let facts = self.run(|g| g.facts(now));
        if let Some(expiry) = facts.next_expiry {
            let alarm = self.alarm.expect("an open hold and no alarm");
            assert!(
                alarm <= expiry.max(self.now + 1),
                "the alarm comes after a hold's expiry"
            );
        }
        if facts.pending_entries > 0 {
            assert!(self.alarm.is_some(), "entries on their way and no alarm");
        }
    }

    fn d1_equals_the_gate(&self) {
        let set_aside: HashSet<u64> = self
            .run(|g| g.set_aside_entries(10_000))
            .into_iter()
            .map(|s| s.seq)
            .collect();
        let gate_rows = self.gate_entries();
        let d1_rows: std::collections::BTreeMap<u64, (u64, u64)> = self
            .d1
            .db
            .exec("SELECT seq, version, total_tokens FROM usage_ledger", &[])
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.count("seq"),
                    (r.count("version"), r.count("total_tokens")),
                )
            })
            .collect();
        let mut expected = std::collections::BTreeMap::new();
        let mut aside_today = 0;
        let today = Period::Day.window(self.at());
        for (seq, version, total, created_at) in gate_rows {
            if set_aside.contains(&seq) {
                if (ms(today.start)..ms(today.end)).contains(&created_at) {
                    aside_today += total;
                }
                continue;
            }
            expected.insert(seq, (version, total));
        }
        assert_eq!(
            expected, d1_rows,
            "D1 is not the gate's ledger after delivery"
        );
        let gate_used = self
            .run(|g| g.load(Period::Day, None, instant(self.now)))
            .used_tokens;
        let d1_used = self
            .d1
            .db
            .exec(
                "SELECT COALESCE(SUM(tokens), 0) AS t FROM usage_rollup WHERE period = 'day' AND period_start = ?1",
                &[ms(today.start).into()],
            )
            .unwrap()[0]
            .count("t");
        assert_eq!(gate_used - aside_today, d1_used, "today's usage differs");
    }

    /// (seq, version, total tokens, created at) of every entry the gate has.
    fn gate_entries(&self) -> Vec<GateRow> {
        self.gate
            .exec(
                "SELECT seq, version, input_tokens + cached_input_tokens + cache_write_tokens \
                 + output_tokens + reasoning_tokens AS total, created_at FROM entries ORDER BY seq",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.count("seq"),
                    r.count("version"),
                    r.count("total"),
                    r.int("created_at").unwrap(),
                )
            })
            .collect()
    }

    /// The end: D1 heals, time runs on until nothing is owed.
    fn settle(&mut self) {
        self.d1.transient = 0;
        self.d1.lost = 0;
        for _ in 0..200 {
            if self.run(|g| g.pending_count()) == 0 {
                break;
            }
            self.advance(60_000);
            self.check();
        }
        assert_eq!(
            self.run(|g| g.pending_count()),
            0,
            "the outbox never emptied"
        );
        self.d1_equals_the_gate();
    }
}

/// No overshoot: a granted hold leaves used plus held within the hard
/// cap; a port-scope refusal is one the cap calls for.
fn check_reserve(applied: &Applied, estimate: u64) {
    let budget = &applied.budget.budget;
    match &applied.result {
        Outcome::Reserve(ReserveOutcome::Held {
            replayed: false, ..
        }) if budget.enabled => {
            assert!(
                applied.load.gate_tokens() <= budget.hard_cap(),
                "overshoot: {} held and used over a cap of {}",
                applied.load.gate_tokens(),
                budget.hard_cap()
            );
        }
        Outcome::Reserve(ReserveOutcome::Refused { refusal, .. }) if refusal.scope == "port" => {
            assert!(
                refusal.used.saturating_add(estimate) > refusal.cap,
                "refused {estimate} with {} of {} used",
                refusal.used,
                refusal.cap
            );
        }
        _ => {}
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn simulate(seed: u64, steps: u32) -> Seen {
    let mut world = World::new(seed);
    world.apply(Operation::SaveBudget {
        update: serde_json::json!({
            "enabled": true, "period": "day", "softCapTokens": 16_000, "hardCapTokens": 20_000,
        }),
        if_match: None,
        actor: "sim".into(),
    });
    for step in 0..steps {
        let did = world.step();
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.check()));
        if let Err(e) = checked {
            panic!("seed {seed}, step {step} ({did}): {e:?}");
        }
    }
    world.settle();
    world.seen.days = ((world.now - world.start) / 86_400_000) as u64;
    world.seen
}

#[test]
fn a_port_under_random_operations_faults_restarts_and_time_keeps_every_invariant() {
    let seeds = env_number("SIM_SEEDS", SEEDS);
    let steps = env_number("SIM_STEPS", u64::from(STEPS)) as u32;
    let mut seen = Seen::default();
    for seed in 0..seeds {
        seen += simulate(0x5EED_0000 + seed, steps);
    }
    eprintln!("{seeds} seeds of {steps} steps: {seen:?}");
    // The run went where the invariants matter.
    assert!(seen.held > 0 && seen.refused > 0 && seen.expired > 0);
    assert!(seen.failed_batches > 0 && seen.set_aside > 0 && seen.restarts > 0);
    assert!(seen.retries > 0 && seen.days > 0 && seen.alarms > 0);
}
