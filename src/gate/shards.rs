//! Shards of a hot port, the shard's side: a shard's gate opens empty
//! with its own range of ledger numbers and takes the port's budget from
//! the port's own object (its lender), with every grant. And the port's
//! shard counts over time, kept with its budget (the rule of which counts
//! are still in force is [`crate::allowance::shards::CountHistory`]'s).

use chrono::{DateTime, Utc};

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
