//! What each gate operation came to: held, refused (and on which numbers),
//! committed, released, recorded, saved, or refused as past the exact
//! range. Plain data, serializable, as the Worker and the port's object
//! exchange it.

use serde::{Deserialize, Serialize};

use super::model::{Entry, Hold, PortLoad, StoredBudget};
use crate::amount::TotalTooLarge;
use crate::Unit;

/// Why the core refused a hold, on the numbers the gate read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// `hard-cap-exceeded` or `estimated-exceeds-cap`.
    pub reason: String,
    /// Which cap refused: `port`, `feature` or `user`.
    #[serde(default = "port_scope")]
    pub scope: String,
    /// The feature's or user's id, for a cap inside the port.
    #[serde(default)]
    pub scope_id: Option<String>,
    /// What the gate counted as used (used plus held), in `unit`.
    pub used: u64,
    /// The hard cap, in `unit`.
    pub cap: u64,
    /// The unit of `used` and `cap` (micro-dollars for `usd`).
    #[serde(default)]
    pub unit: Unit,
    /// The period's start (epoch ms).
    pub period_start: i64,
    /// The period's end, when the budget resets (epoch ms).
    pub resets_at: i64,
    /// Where the port's room came from (its cap, raises, rollover and
    /// credits), for a refusal by the port's own cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<crate::room::Room>,
}

fn port_scope() -> String {
    "port".into()
}

/// What a reservation came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ReserveOutcome {
    /// The hold was taken (or had been, by an earlier request with the same
    /// request id and body: `replayed`).
    Held {
        /// The hold.
        hold: Hold,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier request took it.
        replayed: bool,
    },
    /// It does not fit: the core's refusal.
    Refused {
        /// Why, on which numbers.
        refusal: Refusal,
        /// The port's load.
        load: PortLoad,
    },
    /// The request id was used before with another body.
    Conflict {
        /// The earlier hold.
        existing: Hold,
        /// The port's load.
        load: PortLoad,
    },
    /// Holding it would take a total past 2^53 - 1.
    TooLarge {
        /// The numbers.
        refusal: TotalTooLarge,
        /// The port's load.
        load: PortLoad,
    },
    /// A `usd` budget, and the call has no price: neither its own (the
    /// table's) nor the port's fallback. Nothing was held or counted.
    Unpriced {
        /// The port's load.
        load: PortLoad,
    },
    /// The port's caps allow it, but its allowance from its group does
    /// not cover it: the group must grant `need` first (the port's object
    /// asks, then tries again). Nothing was held.
    Short {
        /// The group the port's budget names.
        group: String,
        /// What is missing from the allowance.
        need: u64,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a commit came to.
// One value per request, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum CommitOutcome {
    /// Counted (now, or by an earlier request with the same body).
    Committed {
        /// The settled hold.
        hold: Hold,
        /// Its ledger entry.
        entry: Entry,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier request counted it.
        replayed: bool,
    },
    /// No such hold on this port.
    NotFound {
        /// The port's load.
        load: PortLoad,
    },
    /// It cannot be committed: released, committed with another body, or
    /// its request id already counted by a plain usage write.
    Conflict {
        /// The hold as it stands.
        hold: Hold,
        /// The port's load.
        load: PortLoad,
    },
    /// Counting it would take a total past 2^53 - 1.
    TooLarge {
        /// The numbers.
        refusal: TotalTooLarge,
        /// The port's load.
        load: PortLoad,
    },
    /// A `usd` budget, and a call the price table and the port's fallback
    /// price cannot price: refused as a usage write of it is (the hold
    /// stays open). A caller that holds a price of its own for it (the
    /// gateway, charging its hold's bound) commits again with that cost.
    Unpriced {
        /// The hold, still open.
        hold: Hold,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a release came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ReleaseOutcome {
    /// Released (now or before).
    Released {
        /// The hold.
        hold: Hold,
        /// The port's load after it.
        load: PortLoad,
    },
    /// No such hold on this port.
    NotFound {
        /// The port's load.
        load: PortLoad,
    },
    /// Committed or expired: it cannot be released.
    Conflict {
        /// The hold as it stands.
        hold: Hold,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a usage write (a call made without a hold) came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum RecordOutcome {
    /// Counted (now, or by an earlier request with the same body).
    Recorded {
        /// The ledger entry.
        entry: Entry,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier request counted it.
        replayed: bool,
    },
    /// The request id was counted before with another body.
    Conflict {
        /// The earlier entry.
        entry: Entry,
        /// The port's load.
        load: PortLoad,
    },
    /// Counting it would take a total past 2^53 - 1.
    TooLarge {
        /// The numbers.
        refusal: TotalTooLarge,
        /// The port's load.
        load: PortLoad,
    },
    /// A `usd` budget, and the call has no price: neither its own (the
    /// table's) nor the port's fallback. Nothing was held or counted.
    Unpriced {
        /// The port's load.
        load: PortLoad,
    },
}

/// What a budget save came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum SaveOutcome {
    /// Saved: it binds the very next call.
    Saved {
        /// The budget as saved.
        budget: StoredBudget,
    },
    /// The update changed nothing (an empty update): nothing was written.
    Unchanged {
        /// The current budget.
        budget: StoredBudget,
    },
    /// `If-Match` named another version: nothing was saved.
    PreconditionFailed {
        /// The current budget.
        budget: StoredBudget,
    },
    /// The core refused the merged budget: nothing was saved.
    Invalid {
        /// The core's error code.
        code: String,
        /// Its field.
        field: Option<String>,
        /// Its message.
        message: String,
    },
}
