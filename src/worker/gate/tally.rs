//! The isolate's tally of the work its requests cause (a test seam): KV
//! reads, D1 batches and statements, round trips to the ports' objects,
//! SQL statements and storage transactions in the objects, JSON texts
//! encoded and decoded between the Worker and an object, and SHA-256
//! digests. Counting is one thread-local increment; the tally is shown
//! only under the test seams (the gateway's `x-test-operations` header),
//! so the budget of work on a gated call's path is tested by counting.
//!
//! workerd runs a Worker and its Durable Objects in one isolate on one
//! thread, so one tally sees both sides.

use std::cell::Cell;

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
}

const KINDS: usize = 8;
/// The names the tally is shown under, in [`Work`]'s order.
const NAMES: [&str; KINDS] = [
    "kv", "d1batch", "d1", "trip", "sql", "txn", "json", "sha",
];

thread_local! {
    static TALLY: [Cell<u64>; KINDS] = Default::default();
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
