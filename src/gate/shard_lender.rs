//! A port with shards: the port's own object lends allowance to its shard
//! objects (the lender's side of [`crate::allowance`], the same escrow a
//! group runs for its ports), out of the port's room left after its own
//! used and held. What the shards consumed this period and what is lent to
//! them weighs on the port's own reservations too, so the port's object
//! and its shards together never pass the port's cap. A port that never
//! had shards reads nothing of this, and nothing here changes its judging.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::allowance::{Grant, Lender, Limits, Report, Sizing};
use crate::time::ms;

/// The storage key of the port's lender's side.
const KEY: &str = "shard_lender";
/// The storage key of what the shards consumed as the port's side of its
/// group's allowance last counted it (a running total).
const SYNCED_KEY: &str = "shard_lender_synced";

/// The lender's key of shard `shard` (`shard:3`).
pub fn shard_child(shard: u32) -> String {
    format!("shard:{shard}")
}

/// The shard a lender's key names (`shard:3` is 3).
pub fn shard_of_child(key: &str) -> Option<u32> {
    key.strip_prefix("shard:")?.parse().ok()
}

/// The port's answer to a shard's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardAnswer {
    /// The reporting shard's grant.
    pub grant: Grant,
    /// The refusal of the shard's need, when the port's room cannot meet
    /// it even after the other shards give back their slack.
    pub refusal: Option<Refusal>,
    /// Grants to send other shards (by their lender key): recalls of their
    /// slack, and waiting needs this report made room for.
    pub others: Vec<(String, Grant)>,
    /// What the port's own allowance from its group lacks for the need:
    /// the port asks its group for it, then serves the shard.
    #[serde(default)]
    pub short: u64,
}

impl<S: Sql> Gate<'_, S> {
    /// The port's lender's side (empty while it never lent to a shard).
    pub fn shard_lender(&self) -> Result<Lender, GateError> {
        Ok(self
            .t
            .meta(KEY)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    fn set_shard_lender(&self, lender: &Lender) -> Result<(), GateError> {
        let text = serde_json::to_string(lender).map_err(|e| GateError(e.to_string()))?;
        Ok(self.t.set_meta(KEY, &text)?)
    }

    /// What the shards weigh on the port's cap at `now`, in the budget's
    /// unit: what they consumed this period plus what is lent to them and
    /// not consumed (0 for a port that never lent).
    pub(super) fn shards_load(
        &self,
        stored: &StoredBudget,
        now: DateTime<Utc>,
    ) -> Result<u64, GateError> {
        Ok(self
            .shards_now(stored, now)?
            .map_or(0, |(lender, used)| used.saturating_add(lender.lent())))
    }

    /// The port's lender's side and what its shards consumed in the
    /// budget's period at `now`; `None` for a port that never had shards
    /// (which reads nothing more).
    fn shards_now(
        &self,
        stored: &StoredBudget,
        now: DateTime<Utc>,
    ) -> Result<Option<(Lender, u64)>, GateError> {
        if !stored.ever_sharded() {
            return Ok(None);
        }
        let lender = self.shard_lender()?;
        let start = ms(stored.budget.window(now).start);
        let used = if lender.period_start == start {
            lender.used
        } else {
            0
        };
        Ok(Some((lender, used)))
    }

    /// What binds the port's grants to its shards at `now`: the port's
    /// room (its cap, raises, rollover and credits; none when disabled)
    /// less what its own object used and holds, over its period; and that
    /// own part.
    fn shard_limits(&self, now: DateTime<Utc>) -> Result<(Limits, u64), GateError> {
        let (stored, load) = self.budget_load(now)?;
        let view = self.room_view(&stored, &load, now)?;
        let window = stored.budget.window(now);
        let own = crate::room::judged_used(&view.room, view.cap_used);
        // A port under a group lends on only what its group lent it: its
        // allowance, less what its own object holds.
        let backing = match stored.parent {
            Some(_) => {
                let own_held = stored.budget.unit.pick(load.held_tokens, load.held_usd);
                Some(self.allowance()?.allowance().saturating_sub(own_held))
            }
            None => None,
        };
        let limits = Limits {
            cap: if stored.budget.enabled {
                view.room.total().saturating_sub(own)
            } else {
                crate::MAX_TOKENS
            },
            window: (ms(window.start), ms(window.end)),
            backing,
        };
        Ok((limits, own))
    }

    /// Keeps a port's side of its group's allowance in step with what it
    /// lends its shards: what they consumed since last time the port
    /// consumed, and a grant to them marks the port active (it gives back
    /// nothing its shards hold). Without a group it only moves the mark, so
    /// a port that joins one later starts from there.
    fn sync_with_group(
        &self,
        lender: &Lender,
        granted_before: u64,
        now: DateTime<Utc>,
    ) -> Result<(), GateError> {
        let consumed = lender.consumed();
        let synced = self
            .t
            .meta(SYNCED_KEY)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if consumed != synced {
            self.t.set_meta(SYNCED_KEY, &consumed.to_string())?;
        }
        if self.budget()?.parent.is_none() {
            return Ok(());
        }
        let mut borrower = self.allowance()?;
        if consumed > synced {
            borrower.consume(consumed - synced);
        }
        if lender.granted() > granted_before {
            borrower.touch(ms(now));
        }
        self.set_allowance(&borrower)
    }

    /// `grant` as the port sends it: naming a group above the port over
    /// its soft cap, as the group's latest grant to the port said, so the
    /// shards' answers flag it as the port's own do.
    fn stamped(&self, mut grant: Grant) -> Result<Grant, GateError> {
        grant.over_soft = match self.budget()?.parent {
            Some(_) => self.allowance()?.over_soft,
            None => None,
        };
        Ok(grant)
    }

    /// The refusal of a shard's need: the port's cap, with what the port
    /// and its shards have taken of it.
    fn shard_refusal(&self, lender: &Lender, limits: &Limits, own: u64) -> Refusal {
        let stored = self.budget().unwrap_or_else(|_| StoredBudget::unsaved());
        Refusal {
            reason: "hard-cap-exceeded".into(),
            scope: "port".into(),
            scope_id: None,
            used: own.saturating_add(lender.load()),
            cap: own.saturating_add(limits.cap),
            unit: stored.budget.unit,
            period_start: limits.window.0,
            resets_at: limits.window.1,
            room: None,
        }
    }

    /// Applies shard `shard`'s report and decides its grant (and the
    /// refusal of its need, when the port's room cannot meet it as things
    /// stand: the caller recalls the others' slack first, then asks again
    /// with [`Gate::shard_settle`]).
    pub fn shard_report(
        &self,
        shard: u32,
        report: &Report,
        sizing: &Sizing,
        now: DateTime<Utc>,
    ) -> Result<ShardAnswer, GateError> {
        let (limits, own) = self.shard_limits(now)?;
        let child = shard_child(shard);
        let mut lender = self.shard_lender()?;
        let before = lender.granted();
        let answer = lender.apply(&child, report, &limits, sizing);
        let waiting = lender.children.get(&child).is_some_and(|l| l.waiting > 0);
        // Short of the group's allowance is not refused yet: the group is
        // asked first.
        let refusal =
            (waiting && answer.short == 0).then(|| self.shard_refusal(&lender, &limits, own));
        self.set_shard_lender(&lender)?;
        self.sync_with_group(&lender, before, now)?;
        let others = answer
            .others
            .into_iter()
            .map(|(child, grant)| Ok((child, self.stamped(grant)?)))
            .collect::<Result<_, GateError>>()?;
        Ok(ShardAnswer {
            grant: self.stamped(answer.grant)?,
            refusal,
            others,
            short: answer.short,
        })
    }

    /// The port's group refused what the port lacked for its shards'
    /// needs: they are dropped (each shard asks again with its next call);
    /// answers shard `shard`'s grant as it stands.
    pub fn shard_refuse_waiting(&self, shard: u32, now: DateTime<Utc>) -> Result<Grant, GateError> {
        let (limits, _) = self.shard_limits(now)?;
        let mut lender = self.shard_lender()?;
        for line in lender.children.values_mut() {
            line.waiting = 0;
        }
        let grant = lender.grant(&shard_child(shard), limits.window.1);
        self.set_shard_lender(&lender)?;
        self.stamped(grant)
    }

    /// What the port has granted shard `shard` so far (a running total).
    pub fn shard_granted(&self, shard: u32) -> Result<u64, GateError> {
        Ok(self
            .shard_lender()?
            .children
            .get(&shard_child(shard))
            .map_or(0, |line| line.granted))
    }

    /// Grants the shards' waiting needs that fit now (after others gave
    /// back their slack): the grants to send.
    pub fn shard_serve(&self, now: DateTime<Utc>) -> Result<Vec<(String, Grant)>, GateError> {
        let (limits, _) = self.shard_limits(now)?;
        let mut lender = self.shard_lender()?;
        let before = lender.granted();
        let sends = lender.serve_waiting(None, &limits);
        self.set_shard_lender(&lender)?;
        self.sync_with_group(&lender, before, now)?;
        sends
            .into_iter()
            .map(|(child, grant)| Ok((child, self.stamped(grant)?)))
            .collect()
    }

    /// The last word to shard `shard` after its report and the recalls it
    /// caused: its grant, and the refusal of its need when nothing more
    /// was granted to it since `granted_before` (it asks again with its
    /// next call).
    pub fn shard_settle(
        &self,
        shard: u32,
        granted_before: u64,
        now: DateTime<Utc>,
    ) -> Result<(Grant, Option<Refusal>), GateError> {
        let (limits, own) = self.shard_limits(now)?;
        let child = shard_child(shard);
        let mut lender = self.shard_lender()?;
        let line = lender.children.get(&child).cloned().unwrap_or_default();
        let refusal = if line.waiting > 0 && line.granted <= granted_before {
            if let Some(line) = lender.children.get_mut(&child) {
                line.waiting = 0;
            }
            // Refused by the port's cap only when that cap leaves no room;
            // a need the port's group has not covered yet (another shard's
            // was served first) is not refused: the shard asks again.
            let under_cap = limits
                .cap
                .saturating_sub(lender.used.saturating_add(lender.lent()));
            (line.waiting > under_cap).then(|| self.shard_refusal(&lender, &limits, own))
        } else {
            None
        };
        let grant = lender.grant(&child, limits.window.1);
        self.set_shard_lender(&lender)?;
        Ok((self.stamped(grant)?, refusal))
    }

    /// What the port's shards consumed in the budget's period at `now`
    /// and what they hold now (as they last reported), in the budget's
    /// unit: the part of the port's standing its own object does not see.
    pub fn shards_standing(
        &self,
        stored: &StoredBudget,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), GateError> {
        Ok(self
            .shards_now(stored, now)?
            .map_or((0, 0), |(lender, used)| (used, lender.held())))
    }
}
