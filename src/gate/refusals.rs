//! The port's refusals counted by reason and scope in each period (for
//! the port's status and the operators' metrics): one row per refused
//! request id, written in the same transaction as the refusal, so a retry
//! of the same request is counted once and a new period starts from zero.

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::*;
use crate::time::ms;

/// The reason of a refusal by the throttle at the soft cap.
pub const THROTTLED: &str = "budget-throttled";
/// The reason of a refusal whose total would pass the exact range.
pub const TOO_LARGE: &str = "total-too-large";

/// The reason of a refusal by a gateway action at `cap` (`refuse` set at
/// the soft or hard cap).
pub fn refused_at(cap: &str) -> String {
    format!("refused-at-{cap}-cap")
}

/// How many requests were refused for one reason by one scope of cap
/// (`port`, `feature`, `user`, `group`) in a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    /// Why: `hard-cap-exceeded`, `estimated-exceeds-cap`,
    /// [`THROTTLED`], [`TOO_LARGE`], or [`refused_at`] a cap.
    pub reason: String,
    /// Which cap refused: `port`, `feature`, `user` or `group` (never
    /// which feature, user or group).
    pub scope: String,
    /// Requests refused (each request id once).
    pub count: u64,
}

impl<S: Sql> Gate<'_, S> {
    /// Counts the refusal of `request_id` for `reason` by `scope` in the
    /// period starting at `period_start` (epoch ms), at `at`: one
    /// statement, nothing when that request was refused before.
    pub(super) fn count_refusal(
        &self,
        request_id: &str,
        period_start: i64,
        reason: &str,
        scope: &str,
        at: i64,
    ) -> Result<(), GateError> {
        self.t.exec(
            "INSERT INTO refusals (request_id, period_start, reason, scope, at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (request_id) DO NOTHING",
            &[
                request_id.into(),
                period_start.into(),
                reason.into(),
                scope.into(),
                at.into(),
            ],
        )?;
        Ok(())
    }

    /// Counts the refusal of `request_id` for `reason` by `scope` (a cap
    /// outside the port's object: its group's) in the current period of
    /// the port's budget.
    pub fn count_refusal_now(
        &self,
        request_id: &str,
        reason: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GateError> {
        let start = ms(self.budget()?.budget.window(now).start);
        self.count_refusal(request_id, start, reason, scope, ms(now))
    }

    /// The refusals counted in the period starting at `period_start`
    /// (epoch ms), by reason and scope, in that order.
    pub fn refusal_counts(&self, period_start: i64) -> Result<Vec<RefusalCount>, GateError> {
        Ok(self
            .t
            .exec(
                "SELECT reason, scope, COUNT(*) AS count FROM refusals WHERE period_start = ?1 \
                 GROUP BY reason, scope ORDER BY reason, scope",
                &[period_start.into()],
            )?
            .iter()
            .map(|r| RefusalCount {
                reason: r.text("reason").unwrap_or_default(),
                scope: r.text("scope").unwrap_or_default(),
                count: r.count("count"),
            })
            .collect())
    }

    /// The refusals counted in the current period of the port's budget.
    pub fn current_refusals(&self, now: DateTime<Utc>) -> Result<Vec<RefusalCount>, GateError> {
        let start = self.budget()?.budget.window(now).start;
        self.refusal_counts(ms(start))
    }

    /// Forgets the refusals of periods that started before `before`
    /// (epoch ms).
    pub(super) fn prune_refusals(&self, before: i64) -> Result<(), GateError> {
        self.t.exec(
            "DELETE FROM refusals WHERE period_start < ?1",
            &[before.into()],
        )?;
        Ok(())
    }
}
