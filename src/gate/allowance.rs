//! A port under a group: the port's side of its allowance
//! ([`crate::allowance::Borrower`]), kept in the gate's storage beside its
//! holds, so a reservation is judged on the port's caps and on its
//! allowance in the same turn, and usage consumes the allowance as it is
//! counted. A port without a parent never touches any of this.

use chrono::{DateTime, Utc};

use super::*;
use crate::allowance::{Borrower, Grant, Report, Sizing};
use crate::time::ms;

/// The storage key of the port's allowance.
const KEY: &str = "allowance";
/// The storage key of the last report owed to a group the port left.
const FAREWELL: &str = "allowance_farewell";

/// A report the port owes its group: the group's id and the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupReport {
    /// The group the port's budget names as its parent.
    pub group: String,
    /// What to send it.
    pub report: Report,
}

impl<S: Sql> Gate<'_, S> {
    /// The port's side of its allowance (empty before its first grant).
    pub fn allowance(&self) -> Result<Borrower, GateError> {
        Ok(self
            .t
            .meta(KEY)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    pub(super) fn set_allowance(&self, borrower: &Borrower) -> Result<(), GateError> {
        let text = serde_json::to_string(borrower).map_err(|e| GateError(e.to_string()))?;
        Ok(self.t.set_meta(KEY, &text)?)
    }

    /// What the port holds within its allowance, in the budget's unit:
    /// every open hold of its own object, and what it lent its shards (a
    /// port with shards lends on out of its own allowance).
    fn allowance_held(&self, stored: &StoredBudget, load: &PortLoad) -> Result<u64, GateError> {
        let own = stored.budget.unit.pick(load.held_tokens, load.held_usd);
        if !stored.ever_sharded() {
            return Ok(own);
        }
        Ok(own.saturating_add(self.shard_lender()?.lent()))
    }

    /// Takes `amount` within the allowance for a new hold of a port with a
    /// parent: `None` when it fits (or the port has no parent), else the
    /// shortfall the group must grant first.
    pub(super) fn allowance_take(
        &self,
        stored: &StoredBudget,
        amount: u64,
        load: &PortLoad,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, GateError> {
        if stored.parent.is_none() {
            return Ok(None);
        }
        let held = self.allowance_held(stored, load)?;
        let mut borrower = self.allowance()?;
        let taken = borrower.take(amount, held, ms(now));
        self.set_allowance(&borrower)?;
        Ok(taken.err().map(|short| short.need))
    }

    /// Counts a change of the port's usage (in the budget's unit) against
    /// its allowance, when it has a parent. A change downwards offsets
    /// only changes upwards of the same operation (an entry counted again
    /// at its real usage); whatever is left of it stays consumed
    /// ([`Borrower::count`]).
    pub(super) fn allowance_count(&self, tokens: i64, usd: i64) -> Result<(), GateError> {
        let stored = self.budget()?;
        if stored.parent.is_none() {
            return Ok(());
        }
        let change = match stored.budget.unit {
            crate::Unit::Tokens => tokens,
            crate::Unit::Usd => usd,
        };
        if change < 0 {
            self.credit
                .set(self.credit.get().saturating_add(change.unsigned_abs()));
            return Ok(());
        }
        let offset = self.credit.get().min(change as u64);
        self.credit.set(self.credit.get() - offset);
        let mut borrower = self.allowance()?;
        borrower.consume(change as u64 - offset);
        self.set_allowance(&borrower)
    }

    /// The report to send the port's group now, with `need` (a waiting
    /// reservation's shortfall, or 0): `None` for a port without a parent.
    pub fn allowance_report(
        &self,
        need: u64,
        sizing: &Sizing,
        now: DateTime<Utc>,
    ) -> Result<Option<GroupReport>, GateError> {
        if self.budget()?.parent.is_none() {
            return Ok(None);
        }
        let (stored, load) = self.budget_load(now)?;
        let Some(group) = stored.parent.clone() else {
            return Ok(None);
        };
        let held = self.allowance_held(&stored, &load)?;
        let mut borrower = self.allowance()?;
        let report = borrower.report(held, need, sizing);
        self.set_allowance(&borrower)?;
        Ok(Some(GroupReport { group, report }))
    }

    /// Applies a grant from the port's group (an answer, or a recall on
    /// its own). Answers whether a report should follow (the port gave
    /// allowance back).
    pub fn allowance_grant(&self, grant: &Grant, now: DateTime<Utc>) -> Result<bool, GateError> {
        let (stored, load) = self.budget_load(now)?;
        let held = self.allowance_held(&stored, &load)?;
        let mut borrower = self.allowance()?;
        let recalls = borrower.recalls;
        let given = borrower.on_grant(grant, held, ms(now));
        let recalled = borrower.recalls > recalls;
        self.set_allowance(&borrower)?;
        Ok(given > 0 || recalled)
    }

    /// What the port owes its group at `now` on its own: allowance given
    /// back when idle or at the group's reset, or an ask ahead of need.
    /// Answers the report to send, if any.
    pub fn allowance_due(
        &self,
        sizing: &Sizing,
        now: DateTime<Utc>,
    ) -> Result<Option<GroupReport>, GateError> {
        if self.budget()?.parent.is_none() {
            return Ok(None);
        }
        let (stored, load) = self.budget_load(now)?;
        let held = self.allowance_held(&stored, &load)?;
        let mut borrower = self.allowance()?;
        let given = borrower.give_back_due(held, ms(now), sizing);
        let ahead = borrower.wants_ahead(held, sizing);
        self.set_allowance(&borrower)?;
        if given > 0 || ahead {
            self.allowance_report(0, sizing, now)
        } else {
            Ok(None)
        }
    }

    /// When the port next has allowance to give back (epoch ms), if ever.
    pub fn allowance_next(
        &self,
        sizing: &Sizing,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, GateError> {
        if self.budget()?.parent.is_none() {
            return Ok(None);
        }
        let (stored, load) = self.budget_load(now)?;
        let held = self.allowance_held(&stored, &load)?;
        Ok(self.allowance()?.next_due(held, sizing))
    }

    /// The port's budget names another parent (or none): its allowance
    /// from `old` is given back whole, in a last report kept until it is
    /// sent ([`Gate::farewell`]), and the port starts afresh under its new
    /// parent.
    pub(super) fn leave_group(&self, old: &str) -> Result<(), GateError> {
        let mut borrower = self.allowance()?;
        let report = borrower.leave();
        let farewell = serde_json::json!({ "group": old, "report": report });
        self.t.set_meta(FAREWELL, &farewell.to_string())?;
        self.set_allowance(&Borrower::default())
    }

    /// The last report owed to a group the port left, if not yet sent.
    pub fn farewell(&self) -> Result<Option<GroupReport>, GateError> {
        let Some(text) = self.t.meta(FAREWELL)?.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let group = value["group"].as_str().unwrap_or_default().to_owned();
        let report: Option<Report> = serde_json::from_value(value["report"].clone()).ok();
        Ok(report
            .filter(|_| !group.is_empty())
            .map(|report| GroupReport { group, report }))
    }

    /// The last report reached the group the port left.
    pub fn farewell_sent(&self) -> Result<(), GateError> {
        Ok(self.t.set_meta(FAREWELL, "")?)
    }
}
