//! Questions to the gate that change nothing but what is due: where the
//! port stands, its holds.

use chrono::{DateTime, Utc};

use super::*;
use crate::time::ms;

/// The gate's answer to a question about the port (check, usage, status).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortView {
    /// The enforced budget.
    pub budget: StoredBudget,
    /// The load in the budget's period (one feature's, when asked).
    pub load: PortLoad,
    /// The load under each period kind: day, week, month.
    pub by_period: [PortLoad; 3],
    /// Open holds and expired ones not yet committed late, newest first.
    pub holds: Vec<Hold>,
    /// Ledger entries still on their way to the ledger of record.
    pub pending_entries: u64,
    /// Ledger entries the ledger of record refused for good, set aside.
    #[serde(default)]
    pub set_aside_entries: u64,
    /// The first of them (at most [`LISTED_SET_ASIDE`]).
    #[serde(default)]
    pub set_aside: Vec<SetAside>,
    /// Where the caps inside the port stand (asked for by reports only).
    #[serde(default)]
    pub caps: Option<CapsReport>,
    /// Where the port's room comes from (cap, raises, rollover, credits)
    /// and what of the period's use the cap carries.
    #[serde(default)]
    pub room: super::credits::RoomView,
    /// The requests refused in the budget's current period, by reason and
    /// scope.
    #[serde(default)]
    pub refusals: Vec<RefusalCount>,
}

impl<S: Sql> Gate<'_, S> {
    // ------------------------------------------------------------ reads

    /// The port's load in the period of `period` containing `now` (one
    /// feature's when given).
    pub fn load(
        &self,
        period: crate::Period,
        feature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PortLoad, GateError> {
        let window = self.budget()?.budget.window_of(period, now);
        Ok(self.t.load(&window, feature)?)
    }

    pub(super) fn budget_load(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(StoredBudget, PortLoad), GateError> {
        let stored = self.budget()?;
        let load = self.load(stored.budget.period, None, now)?;
        Ok((stored, load))
    }

    /// Where the port stands at `now`: its budget, its load in the budget's
    /// period (one feature's when given) and under each period kind, its
    /// unsettled holds and how much of its ledger is still on its way.
    /// Expires what is due first.
    pub fn view(&self, feature: Option<&str>, now: DateTime<Utc>) -> Result<PortView, GateError> {
        self.expire_due(now)?;
        let budget = self.budget()?;
        let by_period = crate::Period::ALL.map(|p| self.load(p, None, now));
        let [day, week, month] = by_period;
        let port_load = self.load(budget.budget.period, None, now)?;
        let mut room = self.room_view(&budget, &port_load, now)?;
        // A check judges as a reservation does: a port's shards weigh too.
        room.cap_used = room
            .cap_used
            .saturating_add(self.shards_load(&budget, now)?);
        let refusals = self.refusal_counts(ms(budget.budget.window(now).start))?;
        // A port with shards: what they consumed and hold is the port's.
        let (shards_used, shards_held) = self.shards_standing(&budget, now)?;
        let unit = budget.budget.unit;
        let whole = |load: PortLoad| load.with_more(unit, shards_used, shards_held);
        let mut by_period = [day?, week?, month?];
        let index = crate::Period::ALL
            .iter()
            .position(|p| *p == budget.budget.period)
            .unwrap_or(0);
        by_period[index] = whole(by_period[index]);
        let load = self.load(budget.budget.period, feature, now)?;
        Ok(PortView {
            room,
            load: if feature.is_none() { whole(load) } else { load },
            budget,
            by_period,
            holds: self.t.unsettled_holds(LISTED_HOLDS)?,
            pending_entries: self.t.pending_count()?,
            set_aside: self.t.set_aside_entries(LISTED_SET_ASIDE)?,
            set_aside_entries: self.t.set_aside_count()?,
            caps: None,
            refusals,
        })
    }

    /// One hold, if the port has it.
    pub fn hold(&self, id: &str) -> Result<Option<Hold>, GateError> {
        Ok(self.t.hold(id)?)
    }

    /// Holds, newest first: every state kept, or only open ones and expired
    /// ones not yet committed late.
    pub fn holds(&self, all: bool, limit: u32) -> Result<Vec<Hold>, GateError> {
        Ok(self.t.holds(all, limit)?)
    }

    /// How many holds are open, and the tokens and micro-dollars they hold.
    pub fn open_holds(&self) -> Result<(u64, u64, u64), GateError> {
        Ok(self.t.open_holds()?)
    }
}
