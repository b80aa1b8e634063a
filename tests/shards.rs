//! Shards of a hot port, simulated: the port's own object lends allowances
//! (the same escrow as a group's, `allowance::Lender`) to up to 32 shard
//! objects (`allowance::Borrower`), and each request id reaches its shard
//! by `allowance::shards` (a retry, a commit and a release find the shard
//! that holds it, across changes of the shard count). Messages between the
//! objects are delayed, reordered, duplicated and lost; the count changes,
//! shards restart and give back when idle. A reference model knows every
//! hold and commit and checks after every step:
//!
//! - **no overshoot**: what the shards committed plus what they hold never
//!   passes the port's cap, and each shard holds within its allowance;
//! - **exactly once**: a request id is taken at most once, in one shard,
//!   whatever the retries and count changes; a settled id is never held
//!   again;
//! - **views err on the safe side**: the port's object never counts less
//!   granted, more returned or more consumed than a shard;
//!
//! and once every message is through: the port's used equals what the
//! shards committed, both sides of every line agree, and a reservation
//! that fits the cap is granted (refusals are true).

use std::collections::{BTreeMap, BTreeSet};

mod common;

use ai_budget::allowance::shards::{candidates, shard_of, shards_update, MAX_SHARDS};
use ai_budget::allowance::{Borrower, Grant, Lender, Limits, Report, DEFAULT_SIZING};
use common::rng::Rng;
use serde_json::json;

const SEEDS: u64 = 12;
const STEPS: u32 = 1_500;

/// One shard object: its side of the allowance, its open holds and the
/// request ids it settled.
#[derive(Clone, Debug, Default)]
struct Shard {
    borrower: Borrower,
    holds: BTreeMap<String, u64>,
    settled: BTreeSet<String>,
}

impl Shard {
    fn held(&self) -> u64 {
        self.holds.values().sum()
    }

    fn knows(&self, id: &str) -> bool {
        self.holds.contains_key(id) || self.settled.contains(id)
    }
}

enum Body {
    Report(Report),
    Grant(Grant),
}

struct Msg {
    shard: usize,
    body: Body,
}

struct Sim {
    rng: Rng,
    seed: u64,
    step: u32,
    now: i64,
    cap: u64,
    lender: Lender,
    shards: Vec<Shard>,
    /// The shard counts in force, newest first.
    counts: Vec<u32>,
    queue: Vec<Msg>,
    /// The reference model: every request id taken, and where.
    taken: BTreeMap<String, usize>,
    committed: u64,
    next_id: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let cap = rng.range(500, 5_000);
        let count = rng.range(1, 9) as u32;
        Sim {
            rng,
            seed,
            step: 0,
            now: 1_000,
            cap,
            lender: Lender::default(),
            shards: vec![Shard::default(); MAX_SHARDS as usize],
            counts: vec![count],
            queue: Vec::new(),
            taken: BTreeMap::new(),
            committed: 0,
            next_id: 0,
        }
    }

    fn at(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    fn limits(&self) -> Limits {
        Limits {
            cap: self.cap,
            window: (0, i64::MAX / 2),
            backing: None,
        }
    }

    fn report(&mut self, s: usize, need: u64) {
        let held = self.shards[s].held();
        let report = self.shards[s].borrower.report(held, need, &DEFAULT_SIZING);
        self.queue.push(Msg {
            shard: s,
            body: Body::Report(report),
        });
    }

    fn deliver(&mut self, msg: Msg) {
        match msg.body {
            Body::Report(report) => {
                let limits = self.limits();
                let key = format!("shard:{}", msg.shard);
                let answer = self.lender.apply(&key, &report, &limits, &DEFAULT_SIZING);
                self.queue.push(Msg {
                    shard: msg.shard,
                    body: Body::Grant(answer.grant),
                });
                for (key, grant) in answer.others {
                    let shard = key["shard:".len()..].parse().unwrap();
                    self.queue.push(Msg {
                        shard,
                        body: Body::Grant(grant),
                    });
                }
            }
            Body::Grant(grant) => {
                let s = msg.shard;
                let held = self.shards[s].held();
                let now = self.now;
                let recalls = self.shards[s].borrower.recalls;
                let given = self.shards[s].borrower.on_grant(&grant, held, now);
                if given > 0 || self.shards[s].borrower.recalls > recalls {
                    self.report(s, 0);
                }
            }
        }
    }

    /// The shard that knows `id`, if any, trying the counts newest first.
    fn find(&self, id: &str) -> Option<usize> {
        candidates(id, &self.counts)
            .into_iter()
            .map(|s| s as usize)
            .find(|s| self.shards[*s].knows(id))
    }

    fn reserve(&mut self, id: String, amount: u64) {
        if let Some(s) = self.find(&id) {
            // A retry: answered as the first time, nothing taken again.
            assert_eq!(
                self.taken.get(&id),
                Some(&s),
                "{}: {id} answered by its shard",
                self.at()
            );
            return;
        }
        assert!(
            !self.taken.contains_key(&id),
            "{}: {id} was taken before but no shard on its way knows it",
            self.at()
        );
        let s = shard_of(&id, self.counts[0]) as usize;
        let held = self.shards[s].held();
        let now = self.now;
        match self.shards[s].borrower.take(amount, held, now) {
            Ok(()) => {
                self.shards[s].holds.insert(id.clone(), amount);
                self.taken.insert(id, s);
            }
            Err(short) => {
                self.report(s, short.need);
                if self.rng.chance(70) {
                    // The shard waits for the port's answer, then judges again.
                    let ask = self.queue.pop().unwrap();
                    let before = self.queue.len();
                    self.deliver(ask);
                    let answers: Vec<Msg> = self.queue.drain(before..).collect();
                    for answer in answers {
                        self.deliver(answer);
                    }
                    let held = self.shards[s].held();
                    if self.shards[s].borrower.take(amount, held, now).is_ok() {
                        self.shards[s].holds.insert(id.clone(), amount);
                        self.taken.insert(id, s);
                    }
                }
            }
        }
    }

    fn settle(&mut self, id: &str, commit: bool) {
        let Some(s) = self.find(id) else { return };
        let Some(amount) = self.shards[s].holds.remove(id) else {
            return; // settled before: answered as the first time
        };
        self.shards[s].settled.insert(id.to_owned());
        if commit {
            let actual = self.rng.range(0, amount + 1);
            self.shards[s].borrower.consume(actual);
            self.committed += actual;
            if self.rng.chance(50) {
                self.report(s, 0);
            }
        }
    }

    fn change_count(&mut self) {
        let count = self.rng.range(1, u64::from(MAX_SHARDS) + 1) as u32;
        self.counts.insert(0, count);
        // A shard no longer addressed gives back what it does not hold; its
        // holds still settle (found through the earlier counts).
        for s in count as usize..MAX_SHARDS as usize {
            let held = self.shards[s].held();
            if self.shards[s].borrower.free(held) > 0 {
                self.shards[s].borrower.give_back(held);
                self.report(s, 0);
            }
        }
    }

    fn open_ids(&self) -> Vec<String> {
        self.shards
            .iter()
            .flat_map(|s| s.holds.keys().cloned())
            .collect()
    }

    fn step(&mut self) {
        self.now += self.rng.range(1, 400) as i64;
        match self.rng.range(0, 100) {
            0..=34 => {
                let retry = self.rng.chance(20) && !self.taken.is_empty();
                let id = if retry {
                    let n = self.rng.range(0, self.next_id);
                    format!("req-{n}")
                } else {
                    self.next_id += 1;
                    format!("req-{}", self.next_id)
                };
                let amount = self.rng.range(1, 120);
                self.reserve(id, amount);
            }
            35..=54 => {
                let open = self.open_ids();
                if !open.is_empty() {
                    let id = open[self.rng.range(0, open.len() as u64) as usize].clone();
                    let commit = self.rng.chance(75);
                    self.settle(&id, commit);
                    if self.rng.chance(10) {
                        self.settle(&id, commit); // a retried settle
                    }
                }
            }
            55..=84 => {
                if !self.queue.is_empty() {
                    let i = self.rng.range(0, self.queue.len() as u64) as usize;
                    let msg = self.queue.swap_remove(i);
                    match self.rng.range(0, 20) {
                        0 => {} // lost
                        1 => {
                            let copy = match &msg.body {
                                Body::Report(r) => Body::Report(r.clone()),
                                Body::Grant(g) => Body::Grant(g.clone()),
                            };
                            self.deliver(Msg {
                                shard: msg.shard,
                                body: copy,
                            });
                            self.deliver(msg);
                        }
                        _ => self.deliver(msg),
                    }
                }
            }
            85..=89 => {
                if self.rng.chance(25) {
                    self.change_count();
                }
            }
            90..=94 => {
                // An idle shard gives back what it does not hold.
                let s = self.rng.range(0, u64::from(MAX_SHARDS)) as usize;
                let held = self.shards[s].held();
                let now = self.now;
                if self.shards[s]
                    .borrower
                    .give_back_due(held, now, &DEFAULT_SIZING)
                    > 0
                {
                    self.report(s, 0);
                }
            }
            _ => {
                // A restart: the shard carries on from its stored state.
                let s = self.rng.range(0, u64::from(MAX_SHARDS)) as usize;
                let text = serde_json::to_string(&self.shards[s].borrower).unwrap();
                self.shards[s].borrower = serde_json::from_str(&text).unwrap();
            }
        }
        self.check();
    }

    fn check(&self) {
        let held: u64 = self.shards.iter().map(Shard::held).sum();
        assert!(
            self.committed + held <= self.cap,
            "{}: committed {} + held {held} passes the cap {}",
            self.at(),
            self.committed,
            self.cap
        );
        for (s, shard) in self.shards.iter().enumerate() {
            assert!(
                shard.held() <= shard.borrower.allowance(),
                "{}: shard {s} holds {} beyond its allowance {}",
                self.at(),
                shard.held(),
                shard.borrower.allowance()
            );
            let line = self
                .lender
                .children
                .get(&format!("shard:{s}"))
                .cloned()
                .unwrap_or_default();
            let b = &shard.borrower;
            assert!(
                line.granted >= b.granted
                    && line.returned <= b.returned
                    && line.consumed <= b.consumed,
                "{}: the port's view of shard {s} is not on the safe side: {line:?} vs {b:?}",
                self.at()
            );
        }
        if self.step % 100 != 0 {
            return;
        }
        let mut seen = BTreeSet::new();
        for shard in &self.shards {
            for id in shard.holds.keys().chain(shard.settled.iter()) {
                assert!(
                    seen.insert(id.clone()),
                    "{}: {id} is in two shards",
                    self.at()
                );
            }
        }
    }

    /// Every message through, every shard reporting once more.
    fn drain(&mut self) {
        for s in 0..MAX_SHARDS as usize {
            self.report(s, 0);
        }
        self.flush();
    }

    /// Every message through, in the order sent.
    fn flush(&mut self) {
        while !self.queue.is_empty() {
            let msg = self.queue.remove(0);
            self.deliver(msg);
            self.check();
        }
    }

    fn finish(&mut self) {
        self.drain();
        assert_eq!(
            self.lender.used,
            self.committed,
            "{}: the port counts what the shards committed",
            self.at()
        );
        for (s, shard) in self.shards.iter().enumerate() {
            let line = self
                .lender
                .children
                .get(&format!("shard:{s}"))
                .cloned()
                .unwrap_or_default();
            let b = &shard.borrower;
            assert_eq!(
                (line.granted, line.returned, line.consumed),
                (b.granted, b.returned, b.consumed),
                "{}: both sides of shard {s}'s line agree",
                self.at()
            );
            assert_eq!(
                b.granted,
                b.returned + b.consumed + b.allowance(),
                "{}: shard {s}",
                self.at()
            );
        }
        // Idle: every shard gives back what it does not hold; then a
        // reservation that fits the cap is granted on its shard.
        for s in 0..MAX_SHARDS as usize {
            let held = self.shards[s].held();
            if self.shards[s].borrower.give_back(held) > 0 {
                self.report(s, 0);
            }
        }
        self.drain();
        let held: u64 = self.shards.iter().map(Shard::held).sum();
        let room = self.cap - self.committed - held;
        if room == 0 {
            return;
        }
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        self.reserve(id.clone(), room);
        self.flush();
        self.reserve(id.clone(), room);
        assert!(
            self.taken.contains_key(&id),
            "{}: a reservation of {room} that fits the cap was refused",
            self.at()
        );
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn shards_keep_the_port_within_its_cap_and_each_request_id_once() {
    for seed in 0..env("SIM_SEEDS", SEEDS) {
        let mut sim = Sim::new(seed);
        for step in 0..env("SIM_STEPS", u64::from(STEPS)) as u32 {
            sim.step = step;
            sim.step();
        }
        sim.finish();
        if std::env::var("SIM_STATS").is_ok() {
            eprintln!(
                "seed {seed}: cap {} committed {} taken {} counts {:?}",
                sim.cap,
                sim.committed,
                sim.taken.len(),
                sim.counts.len()
            );
        }
    }
}

#[test]
fn a_request_id_reaches_one_shard_and_a_count_change_moves_few() {
    for count in 1..=MAX_SHARDS {
        for n in 0..200 {
            let id = format!("call-{n}");
            let s = shard_of(&id, count);
            assert!(s < count);
            assert_eq!(shard_of(&id, count), s);
        }
    }
    // Growing from 8 to 9 shards moves an id only to the new shard, and
    // about one in nine of them.
    let ids: Vec<String> = (0..9_000).map(|n| format!("call-{n}")).collect();
    let moved: Vec<&String> = ids
        .iter()
        .filter(|id| shard_of(id, 8) != shard_of(id, 9))
        .collect();
    assert!(moved.iter().all(|id| shard_of(id, 9) == 8));
    assert!(
        (700..1_300).contains(&moved.len()),
        "{} of 9000 moved",
        moved.len()
    );
    // Every shard gets its share.
    let mut per = [0u32; 8];
    for id in &ids {
        per[shard_of(id, 8) as usize] += 1;
    }
    assert!(per.iter().all(|n| (900..1_350).contains(n)), "{per:?}");
    // An id is looked for under each count in force, newest first.
    let id = ids
        .iter()
        .find(|id| shard_of(id, 4) != shard_of(id, 8))
        .unwrap();
    assert_eq!(candidates(id, &[4, 8]), [shard_of(id, 4), shard_of(id, 8)]);
    assert_eq!(candidates(id, &[8, 8]), [shard_of(id, 8)]);
    assert_eq!(candidates(id, &[]), [0]);
}

#[test]
fn the_shards_field_is_a_whole_number_from_1_to_32() {
    assert_eq!(shards_update(&json!({})).unwrap(), None);
    assert_eq!(shards_update(&json!({ "shards": 1 })).unwrap(), Some(1));
    assert_eq!(shards_update(&json!({ "shards": 32 })).unwrap(), Some(32));
    assert_eq!(shards_update(&json!({ "shards": 8.0 })).unwrap(), Some(8));
    for bad in [json!(0), json!(33), json!(2.5), json!(-1)] {
        let err = shards_update(&json!({ "shards": bad })).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid-value", "{bad}");
        assert_eq!(err.field(), Some("shards"));
    }
    let err = shards_update(&json!({ "shards": "8" })).unwrap_err();
    assert_eq!(err.code().as_str(), "invalid-type");
}
