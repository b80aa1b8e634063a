//! A group: a budget above ports (and above other groups), enforced by
//! lending allowances to the budgets below it ([`crate::allowance`]). This
//! is the logic of a group's Durable Object, as plain Rust over one stored
//! state: its budget and parent, its lender's side towards its children
//! and, under a parent of its own, its borrower's side.
//!
//! Pure: `now` is a parameter; the object stores [`GroupState`] whole
//! after each operation, in the same turn.

mod alerts;

pub use alerts::{GroupAlerts, GroupEvent};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::allowance::{Borrower, Grant, Lender, Limits, Report, Sizing};
use crate::gate::Refusal;
use crate::time::{iso, ms};
use crate::{Budget, RawBudget, MAX_TOKENS};

/// A child's id as the group keeps it: `port:NAME` or `group:NAME`.
pub fn child_key(kind: ChildKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

/// What a child of a group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChildKind {
    /// A port.
    Port,
    /// A group.
    Group,
}

impl ChildKind {
    /// `port` or `group`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChildKind::Port => "port",
            ChildKind::Group => "group",
        }
    }

    /// Splits a child key into its kind and id.
    pub fn of_key(key: &str) -> Option<(ChildKind, &str)> {
        match key.split_once(':')? {
            ("port", id) => Some((ChildKind::Port, id)),
            ("group", id) => Some((ChildKind::Group, id)),
            _ => None,
        }
    }
}

/// Everything a group's object stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupState {
    /// The group's id, once saved.
    pub id: String,
    /// The budget as saved (the API's JSON; read by [`Budget::normalize`]).
    pub budget: Value,
    /// The group above it, if any.
    pub parent: Option<String>,
    /// Who saved the budget, and when (its `ETag`).
    pub updated_by: Option<String>,
    /// When the budget was saved.
    pub updated_at: Option<String>,
    /// Group levels below it, as far as it was told (a child group's own
    /// levels plus one): with its chain above, at most
    /// [`crate::allowance::MAX_DEPTH`].
    pub below: u8,
    /// The lender's side, towards its children.
    pub lender: Lender,
    /// The borrower's side, towards its parent.
    pub borrower: Borrower,
    /// The last report owed to a parent the group left, until it is sent.
    #[serde(default)]
    pub farewell: Option<(String, Report)>,
    /// The soft and hard caps' crossings raised, and the events the alert
    /// queue has not taken yet.
    #[serde(default)]
    pub alerts: GroupAlerts,
}

/// A group's answer to a child's report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAnswer {
    /// The child's grant.
    pub grant: Grant,
    /// The cap that refused the child's need, when it was not granted: this
    /// group's, or an ancestor's.
    pub refusal: Option<Refusal>,
}

impl GroupState {
    /// The enforced budget.
    pub fn budget(&self) -> Budget {
        let raw: RawBudget = serde_json::from_value(self.budget.clone()).unwrap_or_default();
        Budget::normalize(&raw)
    }

    /// True once a budget was saved.
    pub fn exists(&self) -> bool {
        self.updated_at.is_some()
    }

    /// What binds the group's grants at `now`: its hard cap (none when the
    /// budget is disabled), its period, and its own allowance when it has
    /// a parent.
    pub fn limits(&self, now: DateTime<Utc>) -> Limits {
        let budget = self.budget();
        let window = budget.window(now);
        Limits {
            cap: if budget.enabled {
                budget.hard_cap()
            } else {
                MAX_TOKENS
            },
            window: (ms(window.start), ms(window.end)),
            backing: self.parent.as_ref().map(|_| self.borrower.allowance()),
        }
    }

    /// Keeps the borrower's side in step with the lender's: what the
    /// children consumed the group consumed, and what it lent on it took
    /// within its own allowance.
    fn sync(&mut self, granted_before: u64, now: DateTime<Utc>) {
        if self.parent.is_none() {
            return;
        }
        let consumed = self.lender.consumed();
        if consumed > self.borrower.consumed {
            self.borrower.consume(consumed - self.borrower.consumed);
        }
        let granted = self.granted();
        let lent = self.lender.lent();
        if granted > granted_before {
            let taken = granted - granted_before;
            let _ = self
                .borrower
                .take(taken, lent.saturating_sub(taken), ms(now));
        }
    }

    fn granted(&self) -> u64 {
        self.lender.granted()
    }

    /// The refusal of a need this group's cap cannot meet.
    pub fn refusal(&self, now: DateTime<Utc>) -> Refusal {
        let budget = self.budget();
        let limits = self.limits(now);
        Refusal {
            reason: "hard-cap-exceeded".into(),
            scope: "group".into(),
            scope_id: Some(self.id.clone()),
            used: self.used_now(now).saturating_add(self.lender.lent()),
            cap: limits.cap,
            unit: budget.unit,
            period_start: limits.window.0,
            resets_at: limits.window.1,
            room: None,
        }
    }

    /// What was used in the current period (zero when the lender has not
    /// yet seen the period start).
    pub fn used_now(&self, now: DateTime<Utc>) -> u64 {
        let start = ms(self.budget().window(now).start);
        if self.lender.period_start == start {
            self.lender.used
        } else {
            0
        }
    }

    /// Applies a child's report. Answers the child's grant, the grants to
    /// send other children, and the shortfall to ask the group's own parent
    /// for (then [`GroupState::serve`] once it answers).
    pub fn report(
        &mut self,
        child: &str,
        report: &Report,
        sizing: &Sizing,
        now: DateTime<Utc>,
    ) -> (GroupAnswer, Vec<(String, Grant)>, u64) {
        let limits = self.limits(now);
        let before = self.granted();
        let answer = self.lender.apply(child, report, &limits, sizing);
        self.sync(before, now);
        let waiting = self
            .lender
            .children
            .get(child)
            .is_some_and(|line| line.waiting > 0);
        let refusal = (waiting && answer.short == 0).then(|| self.refusal(now));
        (
            GroupAnswer {
                grant: answer.grant,
                refusal,
            },
            answer.others,
            answer.short,
        )
    }

    /// Grants the waiting needs that fit now (after a grant from above or
    /// a return): the grants to send.
    pub fn serve(&mut self, now: DateTime<Utc>) -> Vec<(String, Grant)> {
        let limits = self.limits(now);
        let before = self.granted();
        let sends = self.lender.serve_waiting(None, &limits);
        self.sync(before, now);
        sends
    }

    /// `grant` as the group sends it at `now`: naming the group when it is
    /// over its soft cap, else the budget above it that its own parent
    /// named, if any (the ports below flag it in their answers).
    pub fn stamped(&self, mut grant: Grant, now: DateTime<Utc>) -> Grant {
        grant.over_soft = if self.exists() && self.standing(now).over_soft {
            Some(self.id.clone())
        } else {
            self.borrower.over_soft.clone()
        };
        grant
    }

    /// Drops every waiting need: the group's parent refused them.
    pub fn refuse_waiting(&mut self) {
        for line in self.lender.children.values_mut() {
            line.waiting = 0;
        }
    }

    /// The group's own report to its parent (need: what it lacks).
    pub fn parent_report(&mut self, need: u64, sizing: &Sizing, now: DateTime<Utc>) -> Report {
        if need > 0 {
            self.borrower.touch(ms(now));
        }
        let held = self.lender.lent();
        self.borrower.report(held, need, sizing)
    }

    /// Applies a grant from the group's parent. Answers whether to report
    /// back (allowance was given back), and the recalls to pass down.
    pub fn on_grant(&mut self, grant: &Grant, now: DateTime<Utc>) -> (bool, Vec<(String, Grant)>) {
        let held = self.lender.lent();
        let recalls = self.borrower.recalls;
        let given = self.borrower.on_grant(grant, held, ms(now));
        let recalled = self.borrower.recalls > recalls;
        let mut sends = Vec::new();
        if recalled {
            let end = self.limits(now).window.1;
            sends = self.lender.recall_slack(None, end);
        }
        (given > 0 || recalled, sends)
    }

    /// A saved cap may be below what is lent: the recalls to send.
    pub fn on_cap(&mut self, now: DateTime<Utc>) -> Vec<(String, Grant)> {
        let limits = self.limits(now);
        self.lender.on_cap(&limits)
    }

    /// What the group gives back on its own at `now` (idle, or at its
    /// parent's reset): true when a report should go to the parent.
    pub fn give_back_due(&mut self, sizing: &Sizing, now: DateTime<Utc>) -> bool {
        if self.parent.is_none() {
            return false;
        }
        let held = self.lender.lent();
        self.borrower.give_back_due(held, ms(now), sizing) > 0
    }

    /// When the group next has allowance to give back (epoch ms).
    pub fn next_due(&self, sizing: &Sizing) -> Option<i64> {
        self.parent.as_ref()?;
        self.borrower.next_due(self.lender.lent(), sizing)
    }

    /// The budget's JSON as the API answers it.
    pub fn budget_json(&self) -> Value {
        let budget = self.budget();
        let mut value = serde_json::to_value(budget).unwrap_or_default();
        value["unit"] = budget.unit.as_str().into();
        value["parent"] = self.parent.clone().into();
        value["updatedBy"] = self.updated_by.clone().into();
        value["updatedAt"] = self.updated_at.clone().into();
        value
    }

    /// Where the group stands at `now`: used, held, lent and unused, its
    /// caps' state and reset, and each child's line.
    pub fn status(&self, now: DateTime<Utc>) -> Value {
        let budget = self.budget();
        let limits = self.limits(now);
        let used = self.used_now(now);
        let lent = self.lender.lent();
        let held = self.lender.held();
        let load = used.saturating_add(lent);
        let state = if !budget.enabled {
            "disabled"
        } else if load >= budget.hard_cap() {
            "hard"
        } else if load >= budget.soft_cap() {
            "soft"
        } else {
            "ok"
        };
        let children: Vec<Value> = self
            .lender
            .children
            .iter()
            .map(|(key, line)| {
                let (kind, id) = ChildKind::of_key(key).unwrap_or((ChildKind::Port, key));
                json!({
                    "kind": kind.as_str(),
                    "id": id,
                    "granted": line.granted,
                    "returned": line.returned,
                    "consumed": line.consumed,
                    "held": line.held,
                    "lent": line.lent(),
                    "unused": line.slack(),
                })
            })
            .collect();
        json!({
            "group": self.id,
            "budget": self.budget_json(),
            "unit": budget.unit.as_str(),
            "used": used,
            "held": held,
            "lent": lent,
            "unused": self.lender.slack(),
            "cap": limits.cap,
            "softCap": budget.soft_cap(),
            "state": state,
            "overSoftCap": self.standing(now).over_soft,
            "alertsRaised": self.alerts.raised.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
            "periodStart": iso(crate::time::instant(limits.window.0)),
            "resetsAt": iso(crate::time::instant(limits.window.1)),
            "children": children,
        })
    }

    /// Saves a partial update of the group's budget: the budget's fields
    /// merged by the core ([`Budget::merge`]), and `parent` (its chain is
    /// the caller's to check). `updatedAt` is unique per save.
    ///
    /// # Errors
    /// The core's, as for a port's budget.
    pub fn save(
        &mut self,
        id: &str,
        update: &Value,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), crate::Error> {
        let parent = crate::allowance::parent_update(update)?;
        let mut rest = update.clone();
        if let Some(fields) = rest.as_object_mut() {
            fields.remove("parent");
        }
        let raw: RawBudget = serde_json::from_value(rest).unwrap_or(RawBudget {
            not_an_object: true,
            ..RawBudget::default()
        });
        let budget = self.budget().merge(&raw)?;
        let mut value = serde_json::to_value(budget).unwrap_or_default();
        value["unit"] = budget.unit.as_str().into();
        self.budget = value;
        if let Some(parent) = parent {
            if let Some(old) = self
                .parent
                .clone()
                .filter(|old| parent.as_ref() != Some(old))
            {
                // The allowance from the old parent goes back whole.
                self.farewell = Some((old, self.borrower.leave()));
                self.borrower = Borrower::default();
            }
            self.parent = parent;
        }
        self.id = id.to_owned();
        let previous = self
            .updated_at
            .as_deref()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc));
        let at = match previous {
            Some(p) if p >= now => p + chrono::Duration::milliseconds(1),
            _ => now,
        };
        self.updated_at = Some(iso(at));
        self.updated_by = Some(actor.to_owned());
        Ok(())
    }
}
