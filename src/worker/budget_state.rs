//! The budget-state headers every answer about a port carries
//! (`RateLimit-Policy`, `RateLimit`, `X-Budget-*`).

use chrono::{DateTime, Utc};
use worker::Response;

use super::http::set;
use crate::gate::PortLoad;
use crate::time::iso;
use crate::{Budget, PeriodWindow};

/// Flags a group above the port over its soft cap (`X-Budget-Soft-Cap:
/// exceeded` with `X-Budget-Soft-Cap-Scope: group` and
/// `X-Budget-Soft-Cap-Scope-Id`), unless the port's own soft cap is
/// already flagged (the port's own comes first).
pub fn group_over_soft(response: &mut Response, group: &str) {
    if response.headers().has("X-Budget-Soft-Cap").unwrap_or(false) {
        return;
    }
    set(response, "X-Budget-Soft-Cap", "exceeded");
    set(response, "X-Budget-Soft-Cap-Scope", "group");
    set(response, "X-Budget-Soft-Cap-Scope-Id", group);
}

/// A port's budget state as of one answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetState {
    /// The settings.
    pub budget: Budget,
    /// What the gate counts (used plus held), in the budget's unit.
    pub gate_amount: u64,
    /// The current period.
    pub window: PeriodWindow,
    /// When it was measured.
    pub now: DateTime<Utc>,
}

impl BudgetState {
    /// The state of a port with `budget` whose store reported `load`, now.
    pub fn new(budget: Budget, load: &PortLoad, now: DateTime<Utc>) -> BudgetState {
        BudgetState {
            budget,
            gate_amount: load.gate_amount(budget.unit),
            window: budget.window(now),
            now,
        }
    }

    /// Adds `RateLimit-Policy`, `RateLimit`, `X-Budget-Remaining`,
    /// `X-Budget-Reset` (and `X-Budget-Soft-Cap` when above it), all from
    /// the core's cap status of what the gate counts.
    pub fn apply(&self, response: &mut Response) {
        let status = crate::cap_status(&self.budget, self.gate_amount, self.now);
        let reset = self.window.seconds_until_reset(self.now);
        let window_seconds = (self.window.end - self.window.start).num_seconds();
        set(response, "X-Budget-Reset", &iso(self.window.end));
        set(response, "X-Budget-Period", self.budget.period.as_str());
        let unit = self.budget.unit.as_str();
        set(response, "X-Budget-Unit", unit);
        match status.remaining {
            Some(remaining) => {
                set(
                    response,
                    "RateLimit-Policy",
                    &format!("\"{unit}\";q={};w={window_seconds}", self.budget.hard_cap()),
                );
                set(
                    response,
                    "RateLimit",
                    &format!("\"{unit}\";r={remaining};t={reset}"),
                );
                let shown = match self.budget.unit {
                    crate::Unit::Tokens => remaining.to_string(),
                    crate::Unit::Usd => crate::pricing::usd_string(remaining),
                };
                set(response, "X-Budget-Remaining", &shown);
                if status.over_soft_cap() {
                    set(response, "X-Budget-Soft-Cap", "exceeded");
                }
            }
            None => set(response, "X-Budget-Remaining", "unlimited"),
        }
    }
}
