//! The lender's side: one line per child, the lender's own period, and the
//! one decision of how much to grant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{balance, Grant, Report, Sizing};

/// What the lender knows of one child.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildLine {
    /// Allowance granted, running total (the lender's own decision).
    pub granted: u64,
    /// Allowance given back, running total, as last reported.
    pub returned: u64,
    /// Allowance consumed by usage, running total, as last reported.
    pub consumed: u64,
    /// What the child held, as last reported.
    pub held: u64,
    /// The newest report applied.
    pub report_seq: u64,
    /// The newest grant sent.
    pub grant_seq: u64,
    /// Recalls sent, running count.
    pub recalls: u64,
    /// The need of the newest report that could not be granted yet: granted
    /// as soon as room comes back (a return, a grant from above).
    #[serde(default)]
    pub waiting: u64,
}

impl ChildLine {
    /// Lent and not yet consumed, in the lender's view.
    pub fn lent(&self) -> u64 {
        balance(self.granted, self.returned, self.consumed)
    }

    /// Lent and not held: the child's share of the slack.
    pub fn slack(&self) -> u64 {
        self.lent().saturating_sub(self.held)
    }
}

/// The lender's state: everything it must store to survive a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lender {
    /// The start of the period `used` counts in (epoch ms).
    pub period_start: i64,
    /// Consumption reported in that period.
    pub used: u64,
    /// One line per child, by the child's id.
    pub children: BTreeMap<String, ChildLine>,
}

/// What binds the lender's grants now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The lender's hard cap.
    pub cap: u64,
    /// The lender's period window now: start and end (epoch ms).
    pub window: (i64, i64),
    /// What the lender may lend at most in all, when it borrows itself: its
    /// own allowance from above, net of the consumption it had counted
    /// before this report ([`Lender::consumed`]); `None` for a lender at
    /// the top.
    pub backing: Option<u64>,
}

/// The lender's answer to a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The grant to send back to the reporting child.
    pub grant: Grant,
    /// Grants to send to other children: recalls (their slack is wanted
    /// back), and waiting needs this report's return made room for.
    pub others: Vec<(String, Grant)>,
    /// The part of a need that the cap would allow but the lender's own
    /// backing does not cover: what it should ask its own lender for.
    pub short: u64,
}

impl Lender {
    /// Starts the lender's period again when `window` is a new one: `used`
    /// counts from zero, what is lent stays lent.
    pub fn roll(&mut self, window: (i64, i64)) {
        if self.period_start != window.0 {
            self.period_start = window.0;
            self.used = 0;
        }
    }

    /// Lent and not yet consumed, over every child.
    pub fn lent(&self) -> u64 {
        self.children.values().map(ChildLine::lent).sum()
    }

    /// What the children hold, as last reported.
    pub fn held(&self) -> u64 {
        self.children.values().map(|c| c.held.min(c.lent())).sum()
    }

    /// Granted to every child, running total.
    pub fn granted(&self) -> u64 {
        self.children.values().map(|c| c.granted).sum()
    }

    /// Lent and not held, over every child.
    pub fn slack(&self) -> u64 {
        self.children.values().map(ChildLine::slack).sum()
    }

    /// Consumption reported over every period, running total: what the
    /// lender consumed itself, for its own lender.
    pub fn consumed(&self) -> u64 {
        self.children.values().map(|c| c.consumed).sum()
    }

    /// What counts against the cap in the lender's view: used plus lent.
    pub fn load(&self) -> u64 {
        self.used.saturating_add(self.lent())
    }

    /// What can still be granted now.
    pub fn available(&self, limits: &Limits) -> u64 {
        let lent = self.lent();
        let under_cap = limits.cap.saturating_sub(self.used.saturating_add(lent));
        match limits.backing {
            Some(backing) => under_cap.min(backing.saturating_sub(lent)),
            None => under_cap,
        }
    }

    /// Applies a child's report and decides its grant: a need that fits is
    /// granted whole, with what it asks ahead within the slack bound; a
    /// need that does not fit is granted nothing and the other children
    /// with slack are asked for it back. A report older than one already
    /// applied updates the running totals only, and is answered with the
    /// line as it stands.
    pub fn apply(
        &mut self,
        child: &str,
        report: &Report,
        limits: &Limits,
        sizing: &Sizing,
    ) -> Answer {
        self.roll(limits.window);
        let line = self.children.entry(child.to_owned()).or_default();
        line.returned = line.returned.max(report.returned);
        let newly = report.consumed.saturating_sub(line.consumed);
        line.consumed += newly;
        self.used = self.used.saturating_add(newly);
        // What was just consumed came out of the backing as well.
        let limits = &Limits {
            backing: limits.backing.map(|b| b.saturating_sub(newly)),
            ..*limits
        };
        let fresh = report.seq > line.report_seq;
        let mut answer = Answer::default();
        if fresh {
            line.report_seq = report.seq;
            line.held = report.held;
            line.waiting = 0;
            if report.need > 0 || report.ahead > 0 {
                answer.short = self.decide(child, report, limits, sizing);
                let line = self.children.entry(child.to_owned()).or_default();
                if line.waiting > 0 {
                    answer.others = self.recall_slack(Some(child), limits.window.1);
                }
            }
        }
        answer
            .others
            .extend(self.serve_waiting(Some(child), limits));
        answer.grant = self.grant(child, limits.window.1);
        answer
    }

    /// Grants the waiting needs that fit now (after a return, or a grant
    /// from above), oldest child id first; `except` is answered apart.
    /// Answers the grants to send.
    pub fn serve_waiting(&mut self, except: Option<&str>, limits: &Limits) -> Vec<(String, Grant)> {
        let waiting: Vec<(String, u64)> = self
            .children
            .iter()
            .filter(|(id, line)| line.waiting > 0 && Some(id.as_str()) != except)
            .map(|(id, line)| (id.clone(), line.waiting))
            .collect();
        let mut sends = Vec::new();
        for (id, need) in waiting {
            if need <= self.available(limits) {
                let line = self.children.entry(id.clone()).or_default();
                line.granted = line.granted.saturating_add(need);
                line.waiting = 0;
                sends.push((id.clone(), self.grant(&id, limits.window.1)));
            }
        }
        sends
    }

    /// Grants `child` its need and what fits ahead of it; returns the part
    /// of the need the lender's backing lacks (zero when it was granted).
    fn decide(&mut self, child: &str, report: &Report, limits: &Limits, sizing: &Sizing) -> u64 {
        let available = self.available(limits);
        if report.need > available {
            self.children.entry(child.to_owned()).or_default().waiting = report.need;
            let lent = self.lent();
            let under_cap = limits.cap.saturating_sub(self.used.saturating_add(lent));
            return match limits.backing {
                Some(backing) if under_cap >= report.need => {
                    report.need - backing.saturating_sub(lent)
                }
                _ => 0,
            };
        }
        let remaining = limits.cap.saturating_sub(self.used);
        let bound = ((remaining as u128 * sizing.ahead_per_mille as u128) / 1000) as u64;
        let ahead_room = bound.saturating_sub(self.slack());
        let ahead = report.ahead.min(ahead_room).min(available - report.need);
        let line = self.children.entry(child.to_owned()).or_default();
        line.granted = line.granted.saturating_add(report.need + ahead);
        0
    }

    /// The current grant message for `child` (a new sequence number).
    pub fn grant(&mut self, child: &str, resets_at: i64) -> Grant {
        let line = self.children.entry(child.to_owned()).or_default();
        line.grant_seq += 1;
        Grant {
            seq: line.grant_seq,
            granted: line.granted,
            recalls: line.recalls,
            resets_at,
            over_soft: None,
        }
    }

    /// Asks every child with slack (but `except`) to give it back: the
    /// recall messages to send.
    pub fn recall_slack(&mut self, except: Option<&str>, resets_at: i64) -> Vec<(String, Grant)> {
        let ids: Vec<String> = self
            .children
            .iter()
            .filter(|(id, line)| Some(id.as_str()) != except && line.slack() > 0)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .map(|id| {
                self.children.entry(id.clone()).or_default().recalls += 1;
                let grant = self.grant(&id, resets_at);
                (id, grant)
            })
            .collect()
    }

    /// After a cap change: when the lender's load passes the new cap, asks
    /// every child with slack to give it back (nothing new is granted until
    /// the load is under the cap again).
    pub fn on_cap(&mut self, limits: &Limits) -> Vec<(String, Grant)> {
        self.roll(limits.window);
        if self.load() > limits.cap {
            self.recall_slack(None, limits.window.1)
        } else {
            Vec::new()
        }
    }
}
