//! The tally of the work requests cause (a test seam): KV reads, D1
//! batches and statements, round trips to the ports' objects, SQL
//! statements and storage transactions in the objects, JSON texts encoded
//! and decoded between the Worker and an object, SHA-256 digests,
//! commits carried by another operation's trip, and alarms set.
//! Counting is a few increments; tallies are shown only under the test
//! seams (the gateway's `x-test-operations` headers), so the budget of
//! work on a gated call's path is tested by counting.
//!
//! Two tallies: the isolate's (everything, for the benchmark's figures per
//! call; workerd runs a Worker and its Durable Objects in one isolate on
//! one thread, so it sees both sides) and each request's ([`Counts`], kept
//! with the request's faults, `crate::worker::fault::Faults`): the work of
//! its own stores, and the SQL its object requests ran, as the object's
//! answers report it ([`WORK_HEADER`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// The header of an object's answer (test seams only) with the SQL
/// statements and transactions the request ran in the object.
pub const WORK_HEADER: &str = "x-test-work";
/// How many finished requests' tallies the isolate keeps.
const FINISHED: usize = 64;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A KV read.
    KvRead,
    /// A D1 batch (one round trip to D1).
    D1Batch,
    /// A statement in a D1 batch.
    D1Statement,
    /// A request to a port's object (or a group's).
    ObjectTrip,
    /// A SQL statement run in an object's storage.
    SqlStatement,
    /// A storage transaction of an object.
    Transaction,
    /// A JSON text encoded or decoded between the Worker and an object.
    Json,
    /// A SHA-256 digest.
    Digest,
    /// A commit carried by another operation's trip to its object
    /// (`crate::gate::carried`), counted by the trip's request.
    Carried,
    /// An object's alarm set (a storage write of its own in workerd).
    AlarmSet,
}

const KINDS: usize = 10;
/// The names the tally is shown under, in [`Work`]'s order.
const NAMES: [&str; KINDS] = [
    "kv", "d1batch", "d1", "trip", "sql", "txn", "json", "sha", "carried", "alarm",
];

thread_local! {
    static TALLY: [Cell<u64>; KINDS] = Default::default();
    /// The tallies of finished requests, by label, newest last.
    static DONE: RefCell<VecDeque<(String, Tally)>> = RefCell::default();
}

/// One request's tally.
#[derive(Debug, Default)]
pub struct Counts([Cell<u64>; KINDS]);

impl Counts {
    /// Counts `n` pieces of work of this request (and the isolate's).
    pub fn add(&self, work: Work, n: u64) {
        count_n(work, n);
        self.add_own(work, n);
    }

    /// Counts `n` pieces of work of this request only (the isolate
    /// counted them where they ran).
    pub fn add_own(&self, work: Work, n: u64) {
        let cell = &self.0[work as usize];
        cell.set(cell.get().wrapping_add(n));
    }

    /// The tally so far.
    pub fn tally(&self) -> Tally {
        Tally(std::array::from_fn(|i| self.0[i].get()))
    }

    /// Adds an object's [`WORK_HEADER`] (`sql=3 txn=1`).
    pub fn add_reported(&self, header: &str) {
        for (name, n) in header.split(' ').filter_map(|kv| kv.split_once('=')) {
            let (Some(i), Ok(n)) = (NAMES.iter().position(|k| *k == name), n.parse()) else {
                continue;
            };
            let cell = &self.0[i];
            cell.set(cell.get().wrapping_add(n));
        }
    }
}

/// Keeps a finished request's tally under `label`.
pub fn finished(label: String, tally: Tally) {
    DONE.with(|d| {
        let mut d = d.borrow_mut();
        if d.len() == FINISHED {
            d.pop_front();
        }
        d.push_back((label, tally));
    });
}

/// The tally of the finished request labelled `label`, if kept.
pub fn finished_tally(label: &str) -> Option<Tally> {
    DONE.with(|d| {
        d.borrow()
            .iter()
            .rev()
            .find(|(l, _)| l == label)
            .map(|(_, t)| *t)
    })
}

/// Counts one piece of work.
pub fn count(work: Work) {
    count_n(work, 1);
}

/// Counts `n` pieces of work.
pub fn count_n(work: Work, n: u64) {
    TALLY.with(|t| {
        let cell = &t[work as usize];
        cell.set(cell.get().wrapping_add(n));
    });
}

/// The isolate's tally so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally([u64; KINDS]);

impl Tally {
    /// Now.
    pub fn now() -> Tally {
        Tally(TALLY.with(|t| std::array::from_fn(|i| t[i].get())))
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &Tally) -> Tally {
        Tally(std::array::from_fn(|i| {
            self.0[i].wrapping_sub(earlier.0[i])
        }))
    }

    /// Only the object's side (SQL statements and transactions), as an
    /// object's [`WORK_HEADER`].
    pub fn object_side(&self) -> String {
        format!(
            "sql={} txn={}",
            self.0[Work::SqlStatement as usize],
            self.0[Work::Transaction as usize]
        )
    }

    /// As a header value: `kv=0 d1batch=0 ... sha=2`.
    pub fn header_value(&self) -> String {
        NAMES
            .iter()
            .zip(self.0)
            .map(|(name, n)| format!("{name}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
