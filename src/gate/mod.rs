//! The port gate: one port's enforced budget, open holds, usage counters
//! and recent ledger, and every operation on them, as plain Rust over a
//! small SQL interface ([`crate::sql::Sql`]).
//!
//! In the Worker this runs inside the port's Durable Object (`PortGate`),
//! one operation per synchronous turn of the object, so no two requests
//! can interleave inside one: a reservation reads the counters, asks the
//! core ([`evaluate`](crate::evaluate)) and writes the hold in the same
//! turn, and no SQL anywhere restates the rule. Natively it runs over an
//! in-process SQLite, which is how the tests drive it.
//!
//! What the gate promises:
//! - **No overshoot**: a hold is granted only when the core allows it on
//!   the port's used tokens plus every open hold, whatever period a hold
//!   was taken in (it commits into the current one).
//! - **Exactly once**: a request id is counted once; a retry with the same
//!   body answers as the first time (`replayed`), another body conflicts.
//! - **Expiry**: a hold not settled by its expiry becomes a ledger entry at
//!   its estimate ([`charge::expired_hold`](crate::charge::expired_hold)),
//!   at the instant it expired; a late commit corrects that entry in its own
//!   periods.
//! - **Exact totals**: no write takes a total past 2^53 - 1, in tokens or
//!   in micro-dollars, a period's used or used plus held
//!   ([`Totals::checked_add`], [`TotalTooLarge`]).
//! - **An outbox**: every entry written or corrected is kept, with a
//!   version, until the ledger of record (D1) has that version
//!   ([`Gate::pending`], [`Gate::delivered`]).
//!
//! Time is a parameter of every operation; nothing here reads a clock.

mod allowance;
mod apply;
pub mod carried;
pub mod credits;
pub mod gateway;
mod grants;
mod holds;
mod import;
mod judge;
pub mod model;
mod outbox;
pub mod outcome;
mod reads;
pub mod refusals;
pub mod save;
pub mod schema;
mod settle;
pub mod shard_lender;
mod shards;
pub mod store;
pub mod sub_caps;
pub mod wake;

use crate::amount::{self as amounts, TotalTooLarge, Totals};
use crate::sql::{Sql, SqlError};
pub use allowance::GroupReport;
pub use apply::{Applied, Operation, Outcome, TOP_USERS};
pub use import::{Import, ImportedCounter};
pub use judge::{judge, Estimate, Judged};
pub use model::*;
pub use outcome::*;
pub use reads::PortView;
pub use refusals::RefusalCount;
pub use shards::PortStanding;
use store::{scopes, Tables};
pub use sub_caps::{CapsReport, PortCheck, ScopeLoad};

/// Settled holds are forgotten this long after they settled (a retried
/// commit or release of an older one answers 404); longer than a month, so
/// no period's gate ever depends on a forgotten one.
pub const HOLD_RETENTION_DAYS: i64 = 40;
/// Delivered ledger entries are forgotten by the gate this long after they
/// were counted: a request id is exactly-once in the gate for this long
/// (the ledger of record keeps every entry, unique per request id).
pub const ENTRY_RETENTION_DAYS: i64 = 40;
/// Counters of periods that started longer ago than this are pruned: the
/// oldest period a late commit can still correct is inside it.
pub const COUNTER_RETENTION_DAYS: i64 = 100;
/// At most this many unsettled holds are listed.
pub const LISTED_HOLDS: u32 = 100;
/// At most this many set-aside entries are listed.
pub const LISTED_SET_ASIDE: u32 = 20;

const DAY_MS: i64 = 86_400_000;

/// Why an operation could not run: its storage failed. Nothing it did is
/// kept (the caller runs each operation as one transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateError(pub String);

impl From<SqlError> for GateError {
    fn from(e: SqlError) -> GateError {
        GateError(e.0)
    }
}

impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GateError {}

/// One port's gate over its storage, for one operation.
pub struct Gate<'a, S: Sql> {
    t: Tables<'a, S>,
    /// The budget as read in this operation (a save replaces it).
    budget: std::cell::RefCell<Option<StoredBudget>>,
    /// Usage uncounted in this operation, not yet offset against usage
    /// counted in it (a port under a group: see `allowance_count`).
    credit: std::cell::Cell<u64>,
}

impl<'a, S: Sql> Gate<'a, S> {
    /// The gate over `sql`, its schema brought up to date.
    ///
    /// # Errors
    /// The storage's.
    pub fn open(sql: &'a S) -> Result<Gate<'a, S>, GateError> {
        schema::migrate(sql)?;
        // The alert tables too: every change notices its crossings.
        crate::alerts::watch::migrate(sql)?;
        Ok(Gate::over(sql))
    }

    /// The gate over storage already at the newest schema (see
    /// [`Gate::open`]).
    pub fn over(sql: &'a S) -> Gate<'a, S> {
        Gate {
            t: Tables::new(sql),
            budget: std::cell::RefCell::new(None),
            credit: std::cell::Cell::new(0),
        }
    }

    /// The port this gate is for, once known.
    pub fn port(&self) -> Result<Option<String>, GateError> {
        Ok(self.t.meta("port")?)
    }

    /// Records the port this gate is for.
    pub fn set_port(&self, port: &str) -> Result<(), GateError> {
        Ok(self.t.set_meta("port", port)?)
    }

    /// A small value of the object's own (its alarm's bookkeeping, test
    /// switches), kept with the gate's state.
    pub fn note(&self, key: &str) -> Result<Option<String>, GateError> {
        Ok(self.t.meta(&format!("note:{key}"))?)
    }

    /// Sets (or, with `None`, clears) a note.
    pub fn set_note(&self, key: &str, value: Option<&str>) -> Result<(), GateError> {
        let key = format!("note:{key}");
        match value {
            Some(v) => self.t.set_meta(&key, v)?,
            None => self.t.delete_meta(&key)?,
        }
        Ok(())
    }

    // ------------------------------------------------------------ budget

    /// The enforced budget (the defaults for a port never configured).
    pub fn budget(&self) -> Result<StoredBudget, GateError> {
        if let Some(budget) = self.budget.borrow().as_ref() {
            return Ok(budget.clone());
        }
        let budget = self
            .t
            .meta("budget")?
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .map_or_else(StoredBudget::unsaved, |v| StoredBudget::from_json(&v));
        *self.budget.borrow_mut() = Some(budget.clone());
        Ok(budget)
    }

    /// The starts of the day, week and month containing `at` (epoch ms) in
    /// the port's calendar.
    fn starts(&self, at: i64) -> Result<[i64; 3], SqlError> {
        Ok(self
            .budget()
            .map_err(|e| SqlError(e.0))?
            .budget
            .period_starts(at))
    }

    /// Counts (`sign` 1) or uncounts (`sign` -1) an entry in its scopes and
    /// periods.
    fn count(&self, entry: &Entry, sign: i64) -> Result<(), SqlError> {
        let tokens = i64::try_from(entry.total_tokens()).unwrap_or(i64::MAX);
        let usd = i64::try_from(entry.cost_usd.unwrap_or(0)).unwrap_or(i64::MAX);
        self.t.count_amounts(
            self.starts(entry.created_at)?,
            &scopes(&entry.feature, entry.user_id.as_deref()),
            sign * tokens,
            sign * usd,
            sign,
        )?;
        self.allowance_count(sign * tokens, sign * usd)
            .map_err(|e| SqlError(e.0))
    }

    /// The rule of exact totals for a write at `at`: `None` when adding
    /// `more` to the port's largest totals of the periods containing `at`
    /// (plus `held`, for a new hold) keeps every total, in tokens and in
    /// micro-dollars, within 2^53 - 1; else the refusal, naming the unit.
    fn overflow(
        &self,
        at: i64,
        held: Totals,
        more: Totals,
    ) -> Result<Option<TotalTooLarge>, GateError> {
        let fits = |largest: Totals| {
            Totals::new(
                amounts::sum(largest.tokens, held.tokens),
                amounts::sum(largest.usd, held.usd),
            )
            .checked_add(more)
        };
        // Far from the limit, a bound on every port counter settles it with
        // no read of the periods at `at`.
        if fits(self.t.port_totals_at_most()?).is_ok() {
            return Ok(None);
        }
        let largest = self.t.largest_port_totals(self.starts(at)?)?;
        Ok(fits(largest).err())
    }
}
