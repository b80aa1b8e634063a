//! Shards of a hot port, the shard's side: a shard's gate opens empty
//! with its own range of ledger numbers and takes the port's budget from
//! the port's own object (its lender), with every grant. And the port's
//! shard counts over time, kept with its budget (the rule of which counts
//! are still in force is [`crate::allowance::shards::CountHistory`]'s).

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use super::*;
use crate::allowance::shards::CountHistory;

impl<S: Sql> Gate<'_, S> {
    /// The shard counts in force at `now`, newest first: where a request
    /// id may be held ([`crate::allowance::shards::candidates`]).
    pub fn shard_counts(&self, now: DateTime<Utc>) -> Result<Vec<u32>, GateError> {
        let stored = self.budget()?;
        Ok(stored
            .shard_history
            .in_force(stored.shards, now.timestamp_millis()))
    }

    /// The history a save of `shards` over `current` keeps: `current`'s,
    /// with the change at `now` when the count changes.
    pub(super) fn shards_changed(
        &self,
        current: &StoredBudget,
        shards: u32,
        now: DateTime<Utc>,
    ) -> CountHistory {
        let mut history = current.shard_history.clone();
        if shards != current.shards {
            history.changed(current.shards, shards, now.timestamp_millis());
        }
        history
    }
}

// ------------------------------------------------------------ a shard's side

/// The storage key of the shard number of a shard's gate (none in a
/// port's own object).
const SHARD_KEY: &str = "shard";

impl<S: Sql> Gate<'_, S> {
    /// The shard this gate is (`None`: the port's own object).
    pub fn shard(&self) -> Result<Option<u32>, GateError> {
        Ok(self.t.meta(SHARD_KEY)?.and_then(|k| k.parse().ok()))
    }

    /// Opens the gate of `port`'s shard `shard`, once: nothing to import
    /// (a shard starts empty), its ledger numbers from its own range
    /// ([`crate::allowance::shards::first_seq`]), and its budget the
    /// port's defaults under the port's own object as its lender until
    /// the port's budget arrives with its first grant. It borrows every
    /// token it holds, so it never holds what the port did not lend it.
    pub fn open_shard(&self, port: &str, shard: u32) -> Result<(), GateError> {
        if self.imported()? {
            return Ok(());
        }
        self.import(&Import {
            last_seq: crate::allowance::shards::first_seq(shard) - 1,
            ..Import::default()
        })?;
        self.t.set_meta(SHARD_KEY, &shard.to_string())?;
        self.set_port(port)?;
        let mut stored = StoredBudget::unsaved();
        stored.parent = Some(port.to_owned());
        Ok(self.t.set_meta("budget", &stored.json().to_string())?)
    }

    /// Takes the port's budget as the shard's own (its lender, the port's
    /// own object, sends it with every grant): the same caps and period,
    /// borrowing from the port.
    pub fn take_port_budget(&self, budget: &StoredBudget) -> Result<(), GateError> {
        let Some(port) = self.port()? else {
            return Ok(());
        };
        let mut copy = budget.clone();
        copy.parent = Some(port);
        let text = copy.json().to_string();
        if self.t.meta("budget")?.as_deref() != Some(text.as_str()) {
            self.t.set_meta("budget", &text)?;
        }
        Ok(())
    }
}

/// The storage key of what a shard knows of the rest of its port.
const ELSEWHERE_KEY: &str = "port_elsewhere";

/// Where a port stands as a whole, in its budget's unit: what its own
/// object and its shards used in the period starting at `period_start`,
/// and what they hold (the shards' as last reported). Sent to a shard with
/// each grant, for the numbers its answers show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortStanding {
    /// The period's start (epoch ms).
    pub period_start: i64,
    /// Used in it.
    pub used: u64,
    /// Held now.
    pub held: u64,
}

impl<S: Sql> Gate<'_, S> {
    /// The port's own object: where the port stands as a whole at `now`.
    pub fn port_standing(&self, now: DateTime<Utc>) -> Result<PortStanding, GateError> {
        let (stored, load) = self.budget_load(now)?;
        let unit = stored.budget.unit;
        let (used, held) = self.shards_standing(&stored, now)?;
        Ok(PortStanding {
            period_start: crate::time::ms(stored.budget.window(now).start),
            used: load.used_amount(unit).saturating_add(used),
            held: unit
                .pick(load.held_tokens, load.held_usd)
                .saturating_add(held),
        })
    }

    /// A shard: keeps what the rest of its port used and holds, from the
    /// port's `standing` less the shard's own part at `now`.
    pub fn take_port_standing(
        &self,
        standing: &PortStanding,
        now: DateTime<Utc>,
    ) -> Result<(), GateError> {
        let (stored, load) = self.budget_load(now)?;
        let unit = stored.budget.unit;
        let rest = PortStanding {
            period_start: standing.period_start,
            used: standing.used.saturating_sub(load.used_amount(unit)),
            held: standing
                .held
                .saturating_sub(unit.pick(load.held_tokens, load.held_usd)),
        };
        let text = serde_json::to_string(&rest).map_err(|e| GateError(e.to_string()))?;
        Ok(self.t.set_meta(ELSEWHERE_KEY, &text)?)
    }

    /// The load a shard's answers show: its own and, in the same period,
    /// the rest of its port's as last learned (never judged on: what the
    /// shard may hold is its allowance). Any other gate's load as is.
    pub(super) fn port_wide(
        &self,
        stored: &StoredBudget,
        load: PortLoad,
        now: DateTime<Utc>,
    ) -> Result<PortLoad, GateError> {
        if stored.parent.is_none() || self.shard()?.is_none() {
            return Ok(load);
        }
        let rest: PortStanding = self
            .t
            .meta(ELSEWHERE_KEY)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        if rest.period_start != crate::time::ms(stored.budget.window(now).start) {
            return Ok(load);
        }
        Ok(load.with_more(stored.budget.unit, rest.used, rest.held))
    }
}
