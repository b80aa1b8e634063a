//! A port's shard counts over time, kept with its budget (the rule of
//! which counts are still in force is
//! [`crate::allowance::shards::CountHistory`]'s).

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
