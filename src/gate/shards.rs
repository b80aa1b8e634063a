//! A port's shard counts over time, kept in the gate beside its budget
//! (the rule of which counts are still in force is
//! [`crate::allowance::shards::CountHistory`]'s).

use chrono::{DateTime, Utc};

use super::*;
use crate::allowance::shards::CountHistory;

/// The storage key of the port's shard count history.
const KEY: &str = "shard_counts";

impl<S: Sql> Gate<'_, S> {
    /// The port's shard count history (empty while it never changed).
    pub fn shard_history(&self) -> Result<CountHistory, GateError> {
        Ok(self
            .t
            .meta(KEY)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    /// The shard counts in force at `now`, newest first: where a request
    /// id may be held ([`crate::allowance::shards::candidates`]).
    pub fn shard_counts(&self, now: DateTime<Utc>) -> Result<Vec<u32>, GateError> {
        let current = self.budget()?.shards;
        Ok(self
            .shard_history()?
            .in_force(current, now.timestamp_millis()))
    }

    /// The budget's shard count changes to `shards` at `now` (called by the
    /// save, before the new budget is stored).
    pub(super) fn shards_changed(&self, shards: u32, now: DateTime<Utc>) -> Result<(), GateError> {
        let old = self.budget()?.shards;
        let mut history = self.shard_history()?;
        history.changed(old, shards, now.timestamp_millis());
        let text = serde_json::to_string(&history).map_err(|e| GateError(e.to_string()))?;
        Ok(self.t.set_meta(KEY, &text)?)
    }
}
