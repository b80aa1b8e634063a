//! Caps inside a port, in its gate: each applicable cap judged on its own
//! scope's count (used plus held) after the port's, a check that answers as
//! the next reservation would, and the report of where each feature cap and
//! the end users closest to theirs stand.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store;
use super::{Gate, GateError, PortView, Refusal, StoredBudget};
use crate::caps::{Scope, SubCap};
use crate::sql::Sql;
use crate::time::ms;

/// The gate's answer to a check: where the port stands and, when a cap
/// inside the port would refuse the call, that cap's refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortCheck {
    /// Where the port stands.
    pub view: PortView,
    /// The first feature or end-user cap the call would cross, if any.
    pub sub_cap: Option<Refusal>,
}

/// Where one cap inside a port stands in the current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeLoad {
    /// The feature's or end user's id.
    pub id: String,
    /// The cap.
    pub soft_cap: Option<u64>,
    /// The cap's hard limit.
    pub hard_cap: u64,
    /// Tokens used in the period (expired holds at their estimate).
    pub used_tokens: u64,
    /// Tokens held by open holds.
    pub held_tokens: u64,
    /// Calls counted.
    pub calls: u64,
    /// For a user: whether the cap is their own override (else the
    /// default every user gets).
    pub overridden: bool,
}

impl ScopeLoad {
    /// What the cap judges: used plus held.
    pub fn gate_tokens(&self) -> u64 {
        crate::amount::sum(self.used_tokens, self.held_tokens)
    }

    /// The cap as the core's [`SubCap`].
    pub fn cap(&self) -> SubCap {
        SubCap {
            soft_cap: self.soft_cap,
            hard_cap: self.hard_cap,
        }
    }
}

/// Every feature cap and the end users closest to their caps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapsReport {
    /// Each feature cap, in the order of the features' ids.
    pub features: Vec<ScopeLoad>,
    /// The end users nearest their caps, nearest first (share of the hard
    /// cap used and held; a tie by tokens, then id).
    pub top_users: Vec<ScopeLoad>,
}

impl<S: Sql> Gate<'_, S> {
    /// The refusal of the first cap inside the port that a call of
    /// `feature` for `user` estimated at `estimate` does not fit under, if
    /// any: each cap counts its own scope's used tokens and open holds.
    pub fn sub_cap_refusal(
        &self,
        stored: &StoredBudget,
        feature: &str,
        user: Option<&str>,
        estimate: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Refusal>, GateError> {
        let window = stored.budget.window(now);
        let start = ms(window.start);
        let decision = stored
            .caps
            .decide(&stored.budget, feature, user, estimate, |scope| {
                let (counter, held) = match scope {
                    Scope::Feature(f) => (store::feature_scope(f), self.t.held(Some(f))?.0),
                    Scope::User(u) => (store::user_scope(u), self.t.held_tokens_of_user(u)?),
                    Scope::Port => return Ok::<u64, GateError>(0),
                };
                let (used, _, _) = self.t.counter(window.period, start, &counter)?;
                Ok(crate::amount::sum(used, held))
            })?;
        Ok(decision.err().map(|(scope, reason, used, cap)| Refusal {
            reason: reason.as_str().to_owned(),
            scope: scope.kind().to_owned(),
            scope_id: scope.id().map(str::to_owned),
            used,
            cap,
            // Caps inside a port count tokens.
            unit: crate::Unit::Tokens,
            period_start: start,
            resets_at: ms(window.end),
            room: None,
        }))
    }

    /// Where the port stands, and whether a call of `feature` for `user`
    /// estimated at `estimate` fits under the caps inside the port (the
    /// same rule a reservation is held by; the port's own cap is the
    /// caller's to judge on the view's load).
    pub fn check(
        &self,
        feature: &str,
        user: Option<&str>,
        estimate: u64,
        now: DateTime<Utc>,
    ) -> Result<PortCheck, GateError> {
        let view = self.view(None, now)?;
        let sub_cap = self.sub_cap_refusal(&view.budget, feature, user, estimate, now)?;
        Ok(PortCheck { view, sub_cap })
    }

    /// Where each feature cap stands, and the `top` end users nearest
    /// their caps in the current period. The users weighed are those with
    /// an override and, when every user has a default cap, the `top` who
    /// counted the most tokens (one indexed read, however many users the
    /// period has); users without any cap are not listed.
    pub fn caps_report(
        &self,
        stored: &StoredBudget,
        top: u32,
        now: DateTime<Utc>,
    ) -> Result<CapsReport, GateError> {
        let caps = &stored.caps;
        let window = stored.budget.window(now);
        let start = ms(window.start);
        let mut features = Vec::with_capacity(caps.features.len());
        for (id, cap) in &caps.features {
            let (used, calls, _) =
                self.t
                    .counter(window.period, start, &store::feature_scope(id))?;
            features.push(ScopeLoad {
                id: id.clone(),
                soft_cap: cap.soft_cap,
                hard_cap: cap.hard_cap,
                used_tokens: used,
                held_tokens: self.t.held(Some(id))?.0,
                calls,
                overridden: false,
            });
        }
        let mut counted: Vec<(String, u64, u64)> = Vec::new();
        if caps.user_default.is_some() {
            counted = self.t.top_scopes(window.period, start, "u:", top)?;
        }
        for id in caps.users.keys() {
            if !counted.iter().any(|(u, _, _)| u == id) {
                let (used, calls, _) =
                    self.t
                        .counter(window.period, start, &store::user_scope(id))?;
                counted.push((id.clone(), used, calls));
            }
        }
        let mut users = Vec::with_capacity(counted.len());
        for (id, used, calls) in counted {
            let (cap, overridden) = match caps.users.get(&id) {
                Some(cap) => (*cap, true),
                None => match caps.user_default {
                    Some(cap) => (cap, false),
                    None => continue,
                },
            };
            users.push(ScopeLoad {
                held_tokens: self.t.held_tokens_of_user(&id)?,
                id,
                soft_cap: cap.soft_cap,
                hard_cap: cap.hard_cap,
                used_tokens: used,
                calls,
                overridden,
            });
        }
        // Nearest first: a/b > c/d as a*d > c*b, exactly, a cap of 0 first.
        users.sort_by(|a, b| {
            let share = |l: &ScopeLoad, other: &ScopeLoad| {
                u128::from(l.gate_tokens()) * u128::from(other.hard_cap.max(1))
            };
            let (a_cap, b_cap) = (a.hard_cap == 0, b.hard_cap == 0);
            b_cap
                .cmp(&a_cap)
                .then_with(|| share(b, a).cmp(&share(a, b)))
                .then_with(|| b.gate_tokens().cmp(&a.gate_tokens()))
                .then_with(|| a.id.cmp(&b.id))
        });
        users.truncate(top as usize);
        Ok(CapsReport {
            features,
            top_users: users,
        })
    }
}
