//! Allowances: escrow between budget objects, so that a budget above ports
//! (a group) or a port spread over several objects stays exact at every
//! level.
//!
//! A **lender** (a group, or a port's own object for its shards) lends
//! slices of its remaining cap, **allowances**, to the objects below it. A
//! **borrower** decides reservations locally within its allowance, asks
//! for more before it runs out, and gives back what it does not use. The
//! lender keeps, in its own view,
//!
//! ```text
//! used + lent <= hard cap        (lent = granted - returned - consumed, per child)
//! ```
//!
//! and a borrower keeps `held <= granted - returned - consumed` in its own.
//! Each side's view errs only on the safe side: a grant counts at the
//! lender as soon as it is decided (before the child knows of it), a return
//! counts at the child as soon as it is decided (before the lender knows of
//! it), and a child's consumption moves from "lent" to "used" at the lender
//! when it is reported, which leaves their sum unchanged. So however the
//! messages between them are delayed, duplicated, reordered or lost, the
//! amount the children can hold never passes what the lender counts.
//!
//! # Messages
//! Every amount in a message is a **running total** since the two objects
//! first met (never a change), and each side keeps the largest it has seen:
//! a message that comes twice, late or out of order changes nothing. The
//! gauges a message carries (what a child holds, what it asks for, a
//! recall) are taken only from a message newer than the last one applied,
//! by its sequence number. A lost message is made good by the next one: a
//! [`Report`] is answered by a [`Grant`] carrying the lender's full line.
//!
//! # Periods
//! Allowances do not lapse: the running totals span periods, and a
//! restarted child still has its allowance and its holds. The lender's
//! `used` is per its own period: a child's consumption counts in the
//! lender's period in which the lender learns of it (usage committed just
//! before a reset and reported just after counts in the new period, which
//! errs on the safe side). At a reset, `used` starts again from zero while
//! what is lent stays lent; children give back what they do not hold at
//! the reset (they learn its instant from each grant).
//!
//! # Slack
//! What is lent and not held by the children (as last reported) is the
//! slack: room the lender counts as taken that no call has taken yet. A
//! grant for a waiting reservation's shortfall (`need`) is never slack. A
//! grant ahead of need is made only while the slack stays within
//! [`Sizing::ahead_per_mille`] thousandths of what remains under the cap
//! (`cap - used`): the documented bound of a refusal that the cap alone
//! would not call for. Children give back what they do not hold after
//! [`Sizing::return_after_ms`] without a reservation, at the lender's
//! period end, and when the lender asks for it back (a recall: another
//! child needs room, or the cap was lowered).
//!
//! Pure: no clock (`now` is a parameter, epoch ms), no I/O.

mod borrower;
mod lender;
pub mod shards;

pub use borrower::{Borrower, Shortfall};
pub use lender::{Answer, ChildLine, Lender, Limits};

use serde::{Deserialize, Serialize};

/// Deepest chain of budgets: a port under at most four groups above it is
/// the limit a budget's `parent` may build.
pub const MAX_DEPTH: usize = 4;

/// Whether `id` is a valid group id (a budget's `parent`): 1 to 64
/// characters of `A-Z`, `a-z`, `0-9`, `.`, `_` or `-`, as a port id.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Reads a budget update's `parent`: a group id, or `null` to remove it.
/// Answers `None` when the update does not name it.
///
/// # Errors
/// [`ErrorCode::InvalidType`](crate::ErrorCode::InvalidType) for a value
/// neither a string nor `null`,
/// [`ErrorCode::InvalidValue`](crate::ErrorCode::InvalidValue) for a string
/// that is not a group id.
pub fn parent_update(update: &serde_json::Value) -> Result<Option<Option<String>>, crate::Error> {
    use crate::{Error, ErrorCode};
    match update.get("parent") {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(serde_json::Value::String(id)) if valid_id(id) => Ok(Some(Some(id.clone()))),
        Some(serde_json::Value::String(_)) => Err(Error::new(
            ErrorCode::InvalidValue,
            Some("parent"),
            "parent must be a group id: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
        )),
        Some(_) => Err(Error::new(
            ErrorCode::InvalidType,
            Some("parent"),
            "parent must be a group id (a string) or null",
        )),
    }
}

/// How allowances are sized and when they flow back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sizing {
    /// The slack bound: allowance lent ahead of need stays within this many
    /// thousandths of what remains under the lender's cap.
    pub ahead_per_mille: u64,
    /// A child with no reservation for this long gives back what it does
    /// not hold (epoch ms).
    pub return_after_ms: i64,
    /// What a child asks ahead of need: this many times its largest recent
    /// reservation.
    pub ahead_calls: u64,
}

/// The sizing a budget gets when it says nothing: slack within an eighth of
/// what remains, returned after five idle seconds, asking ahead for four
/// calls like the largest recent one.
pub const DEFAULT_SIZING: Sizing = Sizing {
    ahead_per_mille: 125,
    return_after_ms: 5_000,
    ahead_calls: 4,
};

/// How a hot port's shard sizes its asks: as [`DEFAULT_SIZING`], but
/// ahead for 32 calls like its largest recent one. The port's own object
/// answers every shard's asks, and each shard of a hot port takes many
/// calls a second; the lender's slack bound holds whatever is asked.
pub const SHARD_SIZING: Sizing = Sizing {
    ahead_calls: 32,
    ..DEFAULT_SIZING
};

impl Default for Sizing {
    fn default() -> Self {
        DEFAULT_SIZING
    }
}

/// A child's word to its lender: its running totals, what it holds now,
/// and what it asks for. Answered by a [`Grant`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The child's report number: a later report has a larger one.
    pub seq: u64,
    /// The largest grant total the child has seen (so the lender knows
    /// whether its last grant arrived).
    pub granted_seen: u64,
    /// Allowance given back, running total.
    pub returned: u64,
    /// Allowance consumed by usage (commits, expiries, records), running
    /// total.
    pub consumed: u64,
    /// What the child holds now within its allowance (a gauge).
    pub held: u64,
    /// A waiting reservation's shortfall: what it must have to proceed.
    pub need: u64,
    /// What it would like on top of that, ahead of need.
    pub ahead: u64,
}

/// The lender's word to a child: its grant total, its recall count and its
/// period's end. The answer to a [`Report`], or sent on its own (a recall).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The lender's message number for this child: a later grant has a
    /// larger one.
    pub seq: u64,
    /// Allowance granted to the child, running total.
    pub granted: u64,
    /// How many times the lender has asked the child to give back what it
    /// does not hold (a running count: a larger one is a new recall).
    pub recalls: u64,
    /// When the lender's period ends (epoch ms): the child gives back what
    /// it does not hold then.
    pub resets_at: i64,
    /// The lender (or a budget above it) over its soft cap when it sent
    /// this: its id, for the child's answers to flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_soft: Option<String>,
}

/// `a - b - c` on running totals, never below zero, computed without
/// overflow.
pub(crate) fn balance(granted: u64, returned: u64, consumed: u64) -> u64 {
    let out = returned as u128 + consumed as u128;
    (granted as u128).saturating_sub(out) as u64
}
