//! The borrower's side: the allowance a child holds from its lender, what
//! it may take within it, what to ask for and what to give back.
//!
//! What the child holds within its allowance (open holds for a port, what
//! it lent on for a group) is the caller's: it is passed in as `held`, so
//! the borrower never keeps a second copy of it.

use serde::{Deserialize, Serialize};

use super::{balance, Grant, Report, Sizing};

/// The borrower's state: everything it must store to survive a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Borrower {
    /// The largest grant total seen.
    pub granted: u64,
    /// Allowance given back, running total (the child's own decision).
    pub returned: u64,
    /// Allowance consumed by usage, running total (a count corrected
    /// downwards stays consumed: see [`Borrower::count`]).
    pub consumed: u64,
    /// The last report number sent.
    pub report_seq: u64,
    /// The newest grant applied.
    pub grant_seq: u64,
    /// The recalls answered, running count.
    pub recalls: u64,
    /// When the lender's period ends, as last heard (epoch ms); `None` once
    /// the child gave back at that end, until a grant says the next one.
    pub resets_at: Option<i64>,
    /// The last reservation taken or asked for (epoch ms): idleness counts
    /// from there.
    pub last_active_at: i64,
    /// The largest reservation since the child last went idle: what its
    /// ask ahead is sized on.
    pub largest_recent: u64,
    /// The budget above over its soft cap, as the newest grant said (its
    /// id): the child's answers flag it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_soft: Option<String>,
}

/// A reservation that the allowance does not cover: what must be granted
/// before it can be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The amount missing.
    pub need: u64,
}

impl Borrower {
    /// The allowance: granted, less returned and consumed.
    pub fn allowance(&self) -> u64 {
        balance(self.granted, self.returned, self.consumed)
    }

    /// Allowance not held: what a reservation may take now.
    pub fn free(&self, held: u64) -> u64 {
        self.allowance().saturating_sub(held)
    }

    /// What the child owes when its usage passed its allowance (a call
    /// that used more than it held): a new grant covers it first.
    pub fn debt(&self) -> u64 {
        let out = self.returned as u128 + self.consumed as u128;
        out.saturating_sub(self.granted as u128) as u64
    }

    /// Takes `amount` within the allowance (the caller then holds it), or
    /// answers what is missing. Either way the child was active at `now`.
    pub fn take(&mut self, amount: u64, held: u64, now: i64) -> Result<(), Shortfall> {
        let free = self.free(held);
        self.largest_recent = self.largest_recent.max(amount);
        self.touch(now);
        if amount > free {
            return Err(Shortfall {
                need: (amount - free).saturating_add(self.debt()),
            });
        }
        Ok(())
    }

    /// Notes activity at `now` (a group asked for allowance by a child):
    /// the idle return counts from the latest.
    pub fn touch(&mut self, now: i64) {
        self.last_active_at = self.last_active_at.max(now);
    }

    /// Counts usage against the allowance (a commit, an expiry, a record):
    /// the caller holds that much less, or held none of it.
    pub fn consume(&mut self, amount: u64) {
        self.consumed = self.consumed.saturating_add(amount);
    }

    /// Counts one operation's net change of usage, up or down (an entry
    /// counted again at another amount nets its old and new amounts in
    /// the same operation). A change downwards does not come back into
    /// the allowance: the lender may have counted the usage in a period
    /// since ended, so giving it back could let a later period pass its
    /// cap. It errs on the safe side: the usage stays counted above.
    pub fn count(&mut self, change: i64) {
        if change > 0 {
            self.consumed = self.consumed.saturating_add(change as u64);
        }
    }

    /// What the child would like on top of a need: enough for
    /// [`Sizing::ahead_calls`] calls like its largest recent one, less
    /// what it has free beyond the need.
    pub fn ahead(&self, held: u64, need: u64, sizing: &Sizing) -> u64 {
        let target = self.largest_recent.saturating_mul(sizing.ahead_calls);
        let spare = if need > 0 { 0 } else { self.free(held) };
        target.saturating_sub(spare)
    }

    /// Whether to ask ahead of need now: the free allowance fell below
    /// half of what [`Borrower::ahead`] aims at.
    pub fn wants_ahead(&self, held: u64, sizing: &Sizing) -> bool {
        let target = self.largest_recent.saturating_mul(sizing.ahead_calls);
        self.free(held) < target / 2
    }

    /// The next report to send (a new sequence number).
    pub fn report(&mut self, held: u64, need: u64, sizing: &Sizing) -> Report {
        let ahead = self.ahead(held, need, sizing);
        self.next_report(held, need, ahead)
    }

    /// A report of the running totals with the next sequence number.
    fn next_report(&mut self, held: u64, need: u64, ahead: u64) -> Report {
        self.report_seq += 1;
        Report {
            seq: self.report_seq,
            granted_seen: self.granted,
            returned: self.returned,
            consumed: self.consumed,
            held,
            need,
            ahead,
        }
    }

    /// Applies a grant: the grant total, and the period's end, from the
    /// newest grant; a new recall gives back what is not held. Answers what
    /// was given back (a report should follow when it is not zero).
    /// A grant that adds allowance counts as activity at `now`.
    pub fn on_grant(&mut self, grant: &Grant, held: u64, now: i64) -> u64 {
        if grant.granted > self.granted {
            self.granted = grant.granted;
            self.touch(now);
        }
        if grant.seq <= self.grant_seq {
            return 0;
        }
        self.grant_seq = grant.seq;
        self.over_soft = grant.over_soft.clone();
        if self.resets_at.is_none_or(|at| at < grant.resets_at) {
            self.resets_at = Some(grant.resets_at);
        }
        if grant.recalls > self.recalls {
            self.recalls = grant.recalls;
            return self.give_back(held);
        }
        0
    }

    /// Gives back everything not held. Answers the amount.
    pub fn give_back(&mut self, held: u64) -> u64 {
        let free = self.free(held);
        self.returned = self.returned.saturating_add(free);
        self.largest_recent = 0;
        free
    }

    /// The child leaves its lender (its budget names another parent, or
    /// none): everything is given back, what it holds too (its holds are
    /// the new parent's to cover as they settle). Answers the last report.
    pub fn leave(&mut self) -> Report {
        self.give_back(0);
        self.next_report(0, 0, 0)
    }

    /// What the child gives back on its own at `now`: everything not held
    /// when it has been idle for [`Sizing::return_after_ms`], or when the
    /// lender's period has ended. Answers the amount (a report should
    /// follow when it is not zero).
    pub fn give_back_due(&mut self, held: u64, now: i64, sizing: &Sizing) -> u64 {
        let idle = now.saturating_sub(self.last_active_at) >= sizing.return_after_ms;
        let reset = self.resets_at.is_some_and(|at| now >= at);
        if reset {
            self.resets_at = None;
        }
        if idle {
            // An idle child asks nothing ahead any more.
            self.largest_recent = 0;
        }
        if (idle || reset) && self.free(held) > 0 {
            self.give_back(held)
        } else {
            0
        }
    }

    /// When [`Borrower::give_back_due`] next has something to do (epoch
    /// ms), if ever.
    pub fn next_due(&self, held: u64, sizing: &Sizing) -> Option<i64> {
        if self.free(held) == 0 {
            return None;
        }
        let idle = self.last_active_at.saturating_add(sizing.return_after_ms);
        Some(self.resets_at.map_or(idle, |at| at.min(idle)))
    }
}
