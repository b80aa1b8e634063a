//! A seeded simulation of allowances: a tree of budgets (a top group,
//! groups under it down to depth four, ports at the leaves) whose objects
//! talk only by messages that are delayed, reordered, duplicated and lost,
//! driven by random reservations, commits, releases, expiries and corrections, asks
//! ahead of need, idle returns, recalls, cap changes, period boundaries
//! and restarts (each object rebuilt from its stored state, a serde round
//! trip). A reference model beside it knows the truth (every hold, every
//! commit and its instant) and checks after every step:
//!
//! - **no level over its cap**: in each group's period, what its ports
//!   committed in that period plus what they hold never passes the largest
//!   cap in force during the period; a port's own cap likewise;
//! - **views err on the safe side**: each child holds within its
//!   allowance, and its lender never counts less granted, more returned or
//!   more consumed than the child;
//!
//! and at the end of a seed, once every message is through:
//!
//! - **nothing lost or counted twice**: each lender's used over all its
//!   periods equals what its ports consumed;
//! - **every allowance accounted for**: both sides of each line agree, and
//!   granted = returned + consumed + allowance;
//! - **refusals are true**: after the idle return, a reservation that fits
//!   every cap on its way up is granted.
//!
//! `SIM_SEEDS` and `SIM_STEPS` widen a run; a failure names its seed and
//! step.

use std::collections::BTreeMap;

mod common;

use ai_budget::allowance::{Borrower, Grant, Lender, Limits, Report, Sizing, MAX_DEPTH};
use common::rng::Rng;

/// Seeds and steps per seed of a plain `cargo test` run.
const SEEDS: u64 = 24;
const STEPS: u32 = 1_500;
/// The groups' period, in simulated ms.
const PERIOD_MS: i64 = 60_000;

/// The period window containing `now`.
fn window(now: i64) -> (i64, i64) {
    let start = now.div_euclid(PERIOD_MS) * PERIOD_MS;
    (start, start + PERIOD_MS)
}

/// One budget object of the tree.
#[derive(Clone, Debug)]
struct Node {
    parent: Option<usize>,
    cap: u64,
    /// A group's side towards its children.
    lender: Option<Lender>,
    /// The side towards its own lender (all but the top).
    borrower: Option<Borrower>,
    /// A port's open holds: id to amount.
    holds: BTreeMap<u64, u64>,
    /// A port's usage in its current period (its own cap's counter).
    port_used: u64,
    port_period: i64,
}

impl Node {
    fn is_port(&self) -> bool {
        self.lender.is_none()
    }

    /// What the node holds within its allowance: its holds, or what it lent.
    fn held(&self) -> u64 {
        match &self.lender {
            Some(lender) => lender.lent(),
            None => self.holds.values().sum(),
        }
    }
}

#[derive(Clone, Debug)]
enum Body {
    Up(Report),
    Down(Grant),
}

#[derive(Clone, Debug)]
struct Msg {
    from: usize,
    to: usize,
    body: Body,
}

/// What happened, as the reference model knows it.
#[derive(Default)]
struct Truth {
    /// What each node's ports committed, by node and period start.
    committed: BTreeMap<(usize, i64), u64>,
    /// What each node's ports committed, in all.
    consumed: BTreeMap<usize, u64>,
    /// Per node and period: the bound its period must keep, the largest
    /// of the caps in force during the period and of what it carried in
    /// (allowances lent, or holds taken, under an earlier period's cap).
    caps: BTreeMap<(usize, i64), u64>,
    /// Usage corrected downwards, in all.
    corrected: u64,
    /// Per lender: `used` of the periods it closed.
    closed_used: BTreeMap<usize, u64>,
}

struct Sim {
    rng: Rng,
    nodes: Vec<Node>,
    ports: Vec<usize>,
    queue: Vec<Msg>,
    now: i64,
    sizing: Sizing,
    truth: Truth,
    next_hold: u64,
    /// Lenders whose load passed their cap when it was lowered: their load
    /// must not grow until it is back under.
    seed: u64,
    step: u32,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let depth = rng.range(1, 5) as usize; // groups above each port
        let mut nodes = vec![];
        let sizing = Sizing {
            ahead_per_mille: rng.range(0, 400),
            return_after_ms: rng.range(500, 8_000) as i64,
            ahead_calls: rng.range(0, 6),
        };
        // The top group, then a chain of groups, each with one or two
        // groups under it, ports at the bottom.
        let mut level = vec![0usize];
        nodes.push(group(None, rng.range(200, 5_000)));
        for d in 1..=depth {
            let mut next = vec![];
            for &parent in &level {
                let fan = if d == depth {
                    rng.range(1, 5)
                } else {
                    rng.range(1, 3)
                };
                for _ in 0..fan {
                    let cap = rng.range(100, 4_000);
                    let id = nodes.len();
                    if d == depth {
                        nodes.push(Node {
                            parent: Some(parent),
                            cap,
                            lender: None,
                            borrower: Some(Borrower::default()),
                            holds: BTreeMap::new(),
                            port_used: 0,
                            port_period: 0,
                        });
                    } else {
                        let mut node = group(Some(parent), cap);
                        node.borrower = Some(Borrower::default());
                        nodes.push(node);
                    }
                    next.push(id);
                }
            }
            level = next;
        }
        let ports = level;
        let now = 1_790_000_000_000 + rng.range(0, PERIOD_MS as u64) as i64;
        let mut sim = Sim {
            rng,
            nodes,
            ports,
            queue: vec![],
            now,
            sizing,
            truth: Truth::default(),
            next_hold: 1,
            seed,
            step: 0,
        };
        sim.note_caps();
        sim
    }

    fn limits(&self, n: usize) -> Limits {
        let node = &self.nodes[n];
        Limits {
            cap: node.cap,
            window: window(self.now),
            backing: node.borrower.as_ref().map(Borrower::allowance),
        }
    }

    /// Records the caps in force in each lender's current period.
    fn note_caps(&mut self) {
        let start = window(self.now).0;
        for (n, node) in self.nodes.iter().enumerate() {
            let carried = node.held();
            let cap = self.truth.caps.entry((n, start)).or_insert(carried);
            *cap = (*cap).max(node.cap);
        }
    }

    fn send(&mut self, from: usize, to: usize, body: Body) {
        self.queue.push(Msg { from, to, body });
    }

    /// A child's report to its lender, unless one of its reports is on its
    /// way already (one call in flight per child, as an object awaits its
    /// lender's answer): the next one carries the running totals anyway.
    fn report(&mut self, n: usize, need: u64) {
        let in_flight = self
            .queue
            .iter()
            .any(|m| m.from == n && matches!(m.body, Body::Up(_)));
        if in_flight {
            return;
        }
        let held = self.nodes[n].held();
        let parent = self.nodes[n].parent.expect("a borrower has a lender");
        let sizing = self.sizing;
        let report = self.nodes[n]
            .borrower
            .as_mut()
            .expect("a borrower")
            .report(held, need, &sizing);
        self.send(n, parent, Body::Up(report));
    }

    /// Keeps a group's borrower side in step with what its lender side
    /// learnt: its children's consumption is its own, and lending on is
    /// taking within its own allowance.
    fn sync_group(&mut self, n: usize, granted_before: u64) {
        let now = self.now;
        let node = &mut self.nodes[n];
        let (Some(lender), Some(borrower)) = (&node.lender, &mut node.borrower) else {
            return;
        };
        let consumed = lender.consumed();
        if consumed > borrower.consumed {
            borrower.consume(consumed - borrower.consumed);
        }
        let granted: u64 = lender.children.values().map(|c| c.granted).sum();
        if granted > granted_before {
            let taken = granted - granted_before;
            borrower
                .take(taken, lender.lent() - taken, now)
                .expect("a group lends only within its backing");
        }
    }

    fn deliver(&mut self, msg: Msg) {
        let n = msg.to;
        if std::env::var("TRACE").is_ok() {
            eprintln!("{} {:?}", self.step, msg);
        }
        match msg.body {
            Body::Up(report) => {
                let limits = self.limits(n);
                let sizing = self.sizing;
                let node = &mut self.nodes[n];
                let lender = node.lender.as_mut().expect("reports go to groups");
                if lender.period_start != limits.window.0 {
                    *self.truth.closed_used.entry(n).or_default() += lender.used;
                }
                let granted_before: u64 = lender.children.values().map(|c| c.granted).sum();
                let answer = lender.apply(&msg.from.to_string(), &report, &limits, &sizing);
                let load = lender.load();
                if lender.children.values().map(|c| c.granted).sum::<u64>() > granted_before {
                    assert!(
                        load <= limits.cap,
                        "{}: a grant took group {n} to {load} over its cap {}",
                        self.at(),
                        limits.cap
                    );
                }
                self.sync_group(n, granted_before);
                self.send(n, msg.from, Body::Down(answer.grant));
                for (child, grant) in answer.others {
                    self.send(n, child.parse().unwrap(), Body::Down(grant));
                }
                if answer.short > 0 && self.nodes[n].parent.is_some() {
                    let now = self.now;
                    self.nodes[n].borrower.as_mut().unwrap().touch(now);
                    self.report(n, answer.short);
                }
            }
            Body::Down(grant) => {
                let held = self.nodes[n].held();
                let borrower = self.nodes[n]
                    .borrower
                    .as_mut()
                    .expect("grants go to borrowers");
                let recalls = borrower.recalls;
                let now = self.now;
                let given = borrower.on_grant(&grant, held, now);
                let recalled = borrower.recalls > recalls;
                if recalled && !self.nodes[n].is_port() {
                    // A group asked for its slack passes the ask down.
                    let end = window(self.now).1;
                    let sends = self.nodes[n]
                        .lender
                        .as_mut()
                        .unwrap()
                        .recall_slack(None, end);
                    for (child, grant) in sends {
                        self.send(n, child.parse().unwrap(), Body::Down(grant));
                    }
                }
                if given > 0 || recalled {
                    self.report(n, 0);
                }
                if !self.nodes[n].is_port() {
                    // A group with more backing grants what its children
                    // wait for.
                    let limits = self.limits(n);
                    let node = &mut self.nodes[n];
                    let lender = node.lender.as_mut().unwrap();
                    let granted_before: u64 = lender.children.values().map(|c| c.granted).sum();
                    let sends = lender.serve_waiting(None, &limits);
                    self.sync_group(n, granted_before);
                    for (child, grant) in sends {
                        self.send(n, child.parse().unwrap(), Body::Down(grant));
                    }
                }
            }
        }
    }

    fn at(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    /// The ancestors of `n`, nearest first.
    fn ancestors(&self, n: usize) -> Vec<usize> {
        let mut out = vec![];
        let mut at = self.nodes[n].parent;
        while let Some(p) = at {
            out.push(p);
            at = self.nodes[p].parent;
        }
        out
    }

    /// A port's own period: it rolls its counter at the group period.
    fn roll_port(&mut self, p: usize) {
        let start = window(self.now).0;
        let node = &mut self.nodes[p];
        if node.port_period != start {
            node.port_period = start;
            node.port_used = 0;
        }
    }

    /// Tries a reservation at a port: its own cap, then its allowance (a
    /// shortfall sends a report with the need). Answers whether it held.
    fn reserve(&mut self, p: usize, amount: u64) -> bool {
        self.roll_port(p);
        let now = self.now;
        let node = &mut self.nodes[p];
        let held = node.held();
        if node.port_used + held + amount > node.cap {
            return false;
        }
        match node.borrower.as_mut().unwrap().take(amount, held, now) {
            Ok(()) => {
                let id = self.next_hold;
                self.next_hold += 1;
                node.holds.insert(id, amount);
                if node
                    .borrower
                    .as_ref()
                    .unwrap()
                    .wants_ahead(held + amount, &self.sizing)
                {
                    self.report(p, 0);
                }
                true
            }
            Err(short) => {
                self.report(p, short.need);
                false
            }
        }
    }

    /// Ends a hold: committed at `actual` (at most its amount), or released.
    fn settle(&mut self, p: usize, actual: Option<u64>) {
        self.roll_port(p);
        let now = self.now;
        let node = &mut self.nodes[p];
        let Some((&id, &amount)) = node.holds.iter().nth(0) else {
            return;
        };
        node.holds.remove(&id);
        if let Some(actual) = actual {
            let actual = actual.min(amount);
            node.port_used += actual;
            node.borrower.as_mut().unwrap().consume(actual);
            let start = window(now).0;
            for n in std::iter::once(p).chain(self.ancestors(p)) {
                *self.truth.committed.entry((n, start)).or_default() += actual;
                *self.truth.consumed.entry(n).or_default() += actual;
            }
            if self.rng.chance(50) {
                self.report(p, 0);
            }
        }
    }

    /// Counts part of what a port used this period again at a lower
    /// amount (a correction): it stays consumed above.
    fn correct(&mut self, p: usize) {
        self.roll_port(p);
        let amount = self.rng.range(0, self.nodes[p].port_used + 1);
        if amount == 0 {
            return;
        }
        self.nodes[p].port_used -= amount;
        self.nodes[p]
            .borrower
            .as_mut()
            .unwrap()
            .count(-(amount as i64));
        self.truth.corrected += amount;
        let start = window(self.now).0;
        for n in std::iter::once(p).chain(self.ancestors(p)) {
            *self.truth.committed.get_mut(&(n, start)).unwrap() -= amount;
            *self.truth.consumed.get_mut(&n).unwrap() -= amount;
        }
    }

    /// The reference model's checks after a step.
    fn check(&self) {
        let start = window(self.now).0;
        for (n, node) in self.nodes.iter().enumerate() {
            // No level over its cap, from the truth alone.
            let ports: Vec<usize> = self
                .ports
                .iter()
                .copied()
                .filter(|&p| p == n || self.ancestors(p).contains(&n))
                .collect();
            let committed = self.truth.committed.get(&(n, start)).copied().unwrap_or(0);
            let held: u64 = ports.iter().map(|&p| self.nodes[p].held()).sum();
            let cap = self.truth.caps[&(n, start)];
            assert!(
                committed + held <= cap,
                "{}: node {n} committed {committed} + held {held} over its cap {cap}",
                self.at()
            );
            // Each child within its allowance; its lender's view on the
            // safe side of the child's.
            if let (Some(borrower), Some(parent)) = (&node.borrower, node.parent) {
                assert!(
                    node.held() <= borrower.allowance(),
                    "{}: node {n} holds beyond its allowance",
                    self.at()
                );
                let line = &self.nodes[parent]
                    .lender
                    .as_ref()
                    .unwrap()
                    .children
                    .get(&n.to_string());
                let line = line.cloned().unwrap_or_default();
                assert!(
                    borrower.granted <= line.granted,
                    "{}: node {n} saw more granted than lent",
                    self.at()
                );
                assert!(
                    borrower.returned >= line.returned,
                    "{}: node {n} returned less than its lender knows",
                    self.at()
                );
                assert!(
                    borrower.consumed >= line.consumed,
                    "{}: node {n} consumed less than its lender knows",
                    self.at()
                );
            }
        }
    }

    /// One random step.
    fn step(&mut self) {
        let roll = self.rng.range(0, 100);
        let p = self.ports[self.rng.range(0, self.ports.len() as u64) as usize];
        match roll {
            0..=29 => {
                let amount = self.rng.range(1, 120);
                self.reserve(p, amount);
            }
            30..=44 => {
                let actual = self.rng.range(0, 130);
                self.settle(p, Some(actual));
            }
            45..=47 => self.settle(p, None),
            48..=49 => self.correct(p),
            50..=74 => {
                // Deliver a message: any one of those on their way (they
                // overtake each other), sometimes twice, sometimes lost.
                for _ in 0..6 {
                    if self.queue.is_empty() {
                        break;
                    }
                    let i = self.rng.range(0, self.queue.len() as u64) as usize;
                    let msg = if self.rng.chance(10) {
                        self.queue[i].clone()
                    } else {
                        self.queue.swap_remove(i)
                    };
                    if !self.rng.chance(5) {
                        self.deliver(msg);
                    }
                }
            }
            75..=84 => {
                // Time passes; children give back when idle or at a reset.
                self.now += self.rng.range(0, 1_500) as i64;
                self.note_caps();
                let sizing = self.sizing;
                for n in 0..self.nodes.len() {
                    let held = self.nodes[n].held();
                    let now = self.now;
                    if let Some(borrower) = self.nodes[n].borrower.as_mut() {
                        if borrower.give_back_due(held, now, &sizing) > 0 {
                            self.report(n, 0);
                        }
                    }
                }
            }
            85..=88 => {
                // A restart: the object comes back from its stored state.
                let n = self.rng.range(0, self.nodes.len() as u64) as usize;
                let node = &mut self.nodes[n];
                if let Some(lender) = &node.lender {
                    let stored = serde_json::to_string(lender).unwrap();
                    node.lender = Some(serde_json::from_str(&stored).unwrap());
                }
                if let Some(borrower) = &node.borrower {
                    let stored = serde_json::to_string(borrower).unwrap();
                    node.borrower = Some(serde_json::from_str(&stored).unwrap());
                }
            }
            89..=91 => {
                // A cap changes, up or down.
                let n = self.rng.range(0, self.nodes.len() as u64) as usize;
                self.nodes[n].cap = self.rng.range(50, 5_000);
                self.note_caps();
                if self.nodes[n].lender.is_some() {
                    let limits = self.limits(n);
                    if let Some(lender) = self.nodes[n].lender.as_mut() {
                        if lender.period_start != limits.window.0 {
                            *self.truth.closed_used.entry(n).or_default() += lender.used;
                        }
                        let sends = lender.on_cap(&limits);
                        for (child, grant) in sends {
                            self.send(n, child.parse().unwrap(), Body::Down(grant));
                        }
                    }
                }
            }
            _ => {
                // A child reports on its own (a retry after a lost answer).
                let n = self.rng.range(1, self.nodes.len() as u64) as usize;
                self.report(n, 0);
            }
        }
        self.check();
    }

    /// Delivers every message, none lost, until none is left.
    fn drain(&mut self) {
        let mut guard = 0;
        while !self.queue.is_empty() {
            let msg = self.queue.remove(0);
            self.deliver(msg);
            self.check();
            guard += 1;
            assert!(guard < 100_000, "{}: messages never settle", self.at());
        }
    }

    /// The end of a seed: every hold settled, every child idle past the
    /// return delay, every message through; then the accounts.
    fn finish(&mut self) {
        for p in self.ports.clone() {
            while !self.nodes[p].holds.is_empty() {
                let amount = *self.nodes[p].holds.values().next().unwrap();
                self.settle(p, Some(amount));
            }
        }
        self.drain();
        for _ in 0..2 * MAX_DEPTH + 2 {
            self.now += self.sizing.return_after_ms;
            self.note_caps();
            let sizing = self.sizing;
            for n in 1..self.nodes.len() {
                let held = self.nodes[n].held();
                let now = self.now;
                self.nodes[n]
                    .borrower
                    .as_mut()
                    .unwrap()
                    .give_back_due(held, now, &sizing);
                self.report(n, 0);
            }
            self.drain();
        }
        self.note_caps();
        // Every allowance accounted for, both sides agreeing.
        for n in 1..self.nodes.len() {
            let node = &self.nodes[n];
            let borrower = node.borrower.as_ref().unwrap();
            let line = self.nodes[node.parent.unwrap()]
                .lender
                .as_ref()
                .unwrap()
                .children
                .get(&n.to_string())
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                (line.granted, line.returned, line.consumed),
                (borrower.granted, borrower.returned, borrower.consumed),
                "{}: node {n}'s line",
                self.at()
            );
            assert_eq!(
                borrower.granted,
                borrower.returned + borrower.consumed + borrower.allowance(),
                "{}: node {n}'s sum",
                self.at()
            );
            assert_eq!(
                borrower.allowance(),
                node.held(),
                "{}: node {n} kept allowance after the idle return",
                self.at()
            );
        }
        // Nothing lost or counted twice: each group's used over its
        // periods is what its ports consumed, which is their usage, plus
        // at most what was corrected downwards.
        for n in 0..self.nodes.len() {
            if let Some(lender) = &self.nodes[n].lender {
                let ports: Vec<usize> = self
                    .ports
                    .iter()
                    .copied()
                    .filter(|&p| self.ancestors(p).contains(&n))
                    .collect();
                let reported: u64 = ports
                    .iter()
                    .map(|&p| self.nodes[p].borrower.as_ref().unwrap().consumed)
                    .sum();
                let usage = self.truth.consumed.get(&n).copied().unwrap_or(0);
                let used = self.truth.closed_used.get(&n).copied().unwrap_or(0) + lender.used;
                assert_eq!(
                    used,
                    reported,
                    "{}: group {n} counted {used} of {reported}",
                    self.at()
                );
                assert!(
                    usage <= reported && reported <= usage + self.truth.corrected,
                    "{}: group {n}'s ports reported {reported} for a usage of {usage}",
                    self.at()
                );
                assert_eq!(
                    lender.lent(),
                    0,
                    "{}: group {n} still lends after the idle return",
                    self.at()
                );
            }
        }
        // Refusals are true: a reservation that fits every cap on its way
        // up is granted, after the asks travel up and back.
        let p = self.ports[0];
        self.roll_port(p);
        let mut fits = self.nodes[p].cap.saturating_sub(self.nodes[p].port_used);
        for g in self.ancestors(p) {
            let lender = self.nodes[g].lender.as_ref().unwrap();
            let used = if lender.period_start == window(self.now).0 {
                lender.used
            } else {
                0
            };
            fits = fits.min(self.nodes[g].cap.saturating_sub(used));
        }
        if fits > 0 {
            let mut held = false;
            for _ in 0..=2 * self.ancestors(p).len() {
                if self.reserve(p, fits) {
                    held = true;
                    break;
                }
                self.drain();
            }
            assert!(
                held,
                "{}: a reservation of {fits} that fits every cap was refused",
                self.at()
            );
        }
        self.check();
    }
}

fn group(parent: Option<usize>, cap: u64) -> Node {
    Node {
        parent,
        cap,
        lender: Some(Lender::default()),
        borrower: None,
        holds: BTreeMap::new(),
        port_used: 0,
        port_period: 0,
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn allowances_keep_every_level_within_its_cap() {
    for seed in 0..env("SIM_SEEDS", SEEDS) {
        let mut sim = Sim::new(seed);
        for step in 0..env("SIM_STEPS", STEPS as u64) as u32 {
            sim.step = step;
            sim.step();
        }
        let held: usize = sim.next_hold as usize;
        eprintln!(
            "seed {seed}: {} holds, {} nodes, queue {}",
            held,
            sim.nodes.len(),
            sim.queue.len()
        );
        sim.finish();
    }
}

#[test]
fn a_duplicated_or_late_message_changes_nothing() {
    let sizing = Sizing::default();
    let mut lender = Lender::default();
    let mut child = Borrower::default();
    let limits = Limits {
        cap: 1_000,
        window: (0, 60_000),
        backing: None,
    };
    let first = child.report(0, 100, &sizing);
    let answer = lender.apply("a", &first, &limits, &sizing);
    let granted = lender.children["a"].granted;
    assert_eq!(answer.grant.granted, granted);
    assert!(granted >= 100, "the need is granted whole");
    // The same report again grants nothing more.
    let again = lender.apply("a", &first, &limits, &sizing);
    assert_eq!(lender.children["a"].granted, granted);
    child.on_grant(&again.grant, 0, 0);
    child.on_grant(&answer.grant, 0, 0);
    assert_eq!(child.granted, granted);
    child.take(100, 0, 10).unwrap();
    child.consume(100);
    let newer = child.report(0, 0, &sizing);
    lender.apply("a", &newer, &limits, &sizing);
    // The first report, late, does not undo what the newer one said.
    lender.apply("a", &first, &limits, &sizing);
    assert_eq!(lender.used, 100);
    assert_eq!(lender.children["a"].consumed, 100);
}

#[test]
fn a_need_that_does_not_fit_recalls_the_others_slack() {
    let sizing = Sizing {
        ahead_per_mille: 1_000,
        return_after_ms: 5_000,
        ahead_calls: 10,
    };
    let limits = Limits {
        cap: 1_000,
        window: (0, 60_000),
        backing: None,
    };
    let mut lender = Lender::default();
    let mut a = Borrower::default();
    a.take(100, 0, 0).unwrap_err();
    let report = a.report(0, 100, &sizing);
    let answer = lender.apply("a", &report, &limits, &sizing);
    // a asked ahead for ten calls of 100: granted up to the cap.
    assert_eq!(answer.grant.granted, 1_000);
    a.on_grant(&answer.grant, 0, 0);
    let mut b = Borrower::default();
    let ask = b.report(0, 50, &sizing);
    let answer = lender.apply("b", &ask, &limits, &sizing);
    assert_eq!(answer.grant.granted, 0, "nothing left to grant");
    assert_eq!(answer.others.len(), 1);
    let (to, recall) = &answer.others[0];
    assert_eq!(to, "a");
    // a holds 100 of its allowance and gives back the rest.
    a.take(100, 0, 1).unwrap();
    assert_eq!(a.on_grant(recall, 100, 1), 900);
    lender.apply("a", &a.report(100, 0, &sizing), &limits, &sizing);
    let answer = lender.apply("b", &b.report(0, 50, &sizing), &limits, &sizing);
    assert!(answer.grant.granted >= 50);
}

#[test]
fn the_slack_ahead_of_need_stays_within_its_bound() {
    let sizing = Sizing {
        ahead_per_mille: 100,
        return_after_ms: 5_000,
        ahead_calls: 1_000,
    };
    let limits = Limits {
        cap: 10_000,
        window: (0, 60_000),
        backing: None,
    };
    let mut lender = Lender::default();
    for child in ["a", "b", "c", "d"] {
        let mut borrower = Borrower::default();
        borrower.take(10, 0, 0).unwrap_err();
        let report = borrower.report(0, 10, &sizing);
        lender.apply(child, &report, &limits, &sizing);
    }
    // Each need of 10 is granted; ahead of it, a tenth of the cap in all.
    assert_eq!(lender.lent(), 4 * 10 + 1_000);
}

#[test]
fn a_child_that_leaves_gives_everything_back() {
    let sizing = Sizing::default();
    let limits = Limits {
        cap: 1_000,
        window: (0, 60_000),
        backing: None,
    };
    let mut lender = Lender::default();
    let mut child = Borrower::default();
    let answer = lender.apply("a", &child.report(0, 300, &sizing), &limits, &sizing);
    child.on_grant(&answer.grant, 0, 0);
    child.take(300, 0, 1).unwrap();
    child.consume(100);
    // It holds 200 still, and leaves: the lender gets all but what was used.
    let last = child.leave();
    lender.apply("a", &last, &limits, &sizing);
    assert_eq!(lender.lent(), 0);
    assert_eq!(lender.used, 100);
    assert_eq!(child.allowance(), 0);
}
