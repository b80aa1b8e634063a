//! A port's room beyond its period's cap, in the gate: the effective cap
//! (raises in force, the rollover recorded once at a period's start) and
//! the credits left, judged in the same turn as each reservation, and what
//! each hold and counted call drew on. The rules are
//! [`crate::room`]'s; the grants and raises are kept by
//! `gate::grants`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::room::{self, Credit, Draw, Raise, Room};
use crate::time::ms;
use crate::{Budget, Unit};

pub use super::grants::{CreditView, GrantOp, GrantOutcome, MAX_RAISE_MS};

/// Where a port's room comes from and how much of the period's use the
/// cap carries (used plus held, less what credits fund): what a check
/// judges on, as a reservation does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    /// The sources of room.
    pub room: Room,
    /// Used plus held in the budget's period, less what credits fund.
    pub cap_used: u64,
    /// When the period's rollover was recorded (epoch ms), with rollover on.
    #[serde(default)]
    pub rollover_recorded_at: Option<i64>,
}

/// Judges `estimate` against `budget` on the port's `load`, in `view`'s
/// room: the cap raised by the raises in force and the rollover, then the
/// credits left. The one rule a reservation and a check judge by.
pub fn judge_in(
    budget: &Budget,
    view: &RoomView,
    estimate: &Estimate,
    now: DateTime<Utc>,
) -> Judged {
    let used = room::judged_used(&view.room, view.cap_used);
    let load = match budget.unit {
        Unit::Tokens => PortLoad {
            used_tokens: used,
            ..PortLoad::default()
        },
        Unit::Usd => PortLoad {
            used_usd: used,
            ..PortLoad::default()
        },
    };
    judge(&room::extended(budget, &view.room), &load, estimate, now)
}

impl<S: Sql> Gate<'_, S> {
    /// The grants in `unit` (the budget's), with what was drawn from each.
    pub(super) fn credits_in(&self, unit: Unit) -> Result<Vec<Credit>, GateError> {
        Ok(self
            .t
            .credits()?
            .into_iter()
            .filter(|c| c.unit == unit)
            .map(|c| c.credit)
            .collect())
    }

    pub(super) fn raises_in(&self, unit: Unit) -> Result<Vec<Raise>, GateError> {
        Ok(self
            .t
            .raises()?
            .into_iter()
            .filter(|r| r.unit == unit)
            .map(|r| r.raise)
            .collect())
    }

    /// The rollover brought into the budget's period at `now`: recorded
    /// once, at the first turn of the period (its alarm, or a request),
    /// from what the period before left unused under its cap; never
    /// recomputed.
    pub(super) fn rollover_in(
        &self,
        stored: &StoredBudget,
        now: DateTime<Utc>,
    ) -> Result<u64, GateError> {
        let Some(max) = stored.rollover else {
            return Ok(0);
        };
        let budget = &stored.budget;
        let window = budget.period.window(now);
        let (name, start) = (budget.period.as_str(), ms(window.start));
        if let Some((unit, amount, _)) = self.t.rollover(name, start)? {
            return Ok(if unit == budget.unit { amount } else { 0 });
        }
        let before = budget
            .period
            .window(window.start - chrono::Duration::milliseconds(1));
        let brought = match self.t.rollover(name, ms(before.start))? {
            Some((unit, amount, _)) if unit == budget.unit => amount,
            _ => 0,
        };
        let used = self.t.load(&before, None)?.used_amount(budget.unit);
        let funded = self.t.funded_settled(ms(before.start), ms(before.end))?;
        let cap = crate::amount::sum(budget.hard_cap(), brought);
        let cap_used = used.saturating_sub(funded);
        let unused = cap.saturating_sub(cap_used);
        let amount = room::rollover(max, cap, cap_used);
        self.t
            .record_rollover(name, start, budget.unit, amount, unused, ms(now))?;
        Ok(amount)
    }

    /// Where the port's room comes from at `now`, and the part of the
    /// period's use the cap carries.
    pub fn room_view(
        &self,
        stored: &StoredBudget,
        load: &PortLoad,
        now: DateTime<Utc>,
    ) -> Result<RoomView, GateError> {
        let unit = stored.budget.unit;
        let at = ms(now);
        let rollover = self.rollover_in(stored, now)?;
        let credits = self.credits_in(unit)?;
        let room = room::room(
            &stored.budget,
            &self.raises_in(unit)?,
            rollover,
            &credits,
            at,
        );
        let window = stored.budget.period.window(now);
        // Nothing is drawn without a grant: a port without credits reads no draws.
        let funded = if credits.is_empty() {
            0
        } else {
            self.t.funded(ms(window.start), ms(window.end))?
        };
        let recorded = match stored.rollover {
            Some(_) => self
                .t
                .rollover(stored.budget.period.as_str(), ms(window.start))?
                .map(|(_, _, at)| at),
            None => None,
        };
        Ok(RoomView {
            room,
            cap_used: load.gate_amount(unit).saturating_sub(funded),
            rollover_recorded_at: recorded,
        })
    }

    /// Funds a new hold of `amount` (in the budget's unit) under
    /// `request_id`: the rest of the cap first, then credits,
    /// soonest-expiring first; the credits' part is recorded as open.
    pub(super) fn fund_hold(
        &self,
        stored: &StoredBudget,
        view: &RoomView,
        request_id: &str,
        amount: u64,
        now: DateTime<Utc>,
    ) -> Result<Draw, GateError> {
        if !stored.budget.enabled || view.room.credits_left == 0 {
            return Ok(Draw {
                cap: amount,
                ..Draw::default()
            });
        }
        let at = ms(now);
        let cap_room = view.room.effective_cap.saturating_sub(view.cap_used);
        let draw = room::draw(amount, cap_room, &self.credits_in(stored.budget.unit)?, at);
        self.t.insert_draws(request_id, &draw.credits, true, at)?;
        Ok(draw)
    }

    /// Settles what the hold of `request_id` (of `held` in the budget's
    /// unit) drew, at `actual`, counted at `at`: the answer is what funded
    /// its ledger row.
    pub(super) fn settle_funding(
        &self,
        request_id: &str,
        held: u64,
        actual: u64,
        at: i64,
    ) -> Result<Option<String>, GateError> {
        if !self.has_credits()? {
            return Ok(None);
        }
        let credits = self.t.drawn(request_id)?;
        if credits.is_empty() {
            return Ok(None);
        }
        let taken = Draw {
            cap: held.saturating_sub(credits.iter().map(|(_, a)| *a).sum()),
            credits,
            short: 0,
        };
        let settled = room::settled(&taken, actual);
        self.t.settle_draws(request_id, &settled.credits, at)?;
        Ok(settled.funded_by())
    }

    /// Gives back what the hold of `request_id` drew.
    pub(super) fn release_funding(&self, request_id: &str) -> Result<(), GateError> {
        if !self.has_credits()? {
            return Ok(());
        }
        Ok(self.t.delete_draws(request_id)?)
    }

    /// Whether the port was ever granted a credit. Nothing is drawn
    /// without a grant and grants are never deleted, so a port without
    /// any has no draws to settle or give back (the grants' read is one
    /// the object remembers until a grant or draw is written).
    fn has_credits(&self) -> Result<bool, GateError> {
        Ok(!self.t.credits()?.is_empty())
    }

    /// Funds a call counted without a hold (`amount` in the budget's unit,
    /// counted at `at`): the rest of the cap, then credits; what neither
    /// covers is counted on the cap.
    pub(super) fn fund_record(
        &self,
        request_id: &str,
        amount: u64,
        at: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, GateError> {
        let (stored, load) = self.budget_load(now)?;
        let view = self.room_view(&stored, &load, now)?;
        if !stored.budget.enabled || view.room.credits_left == 0 {
            return Ok(None);
        }
        let cap_room = view.room.effective_cap.saturating_sub(view.cap_used);
        let mut draw = room::draw(
            amount,
            cap_room,
            &self.credits_in(stored.budget.unit)?,
            ms(now),
        );
        draw.cap += draw.short;
        self.t.insert_draws(request_id, &draw.credits, false, at)?;
        Ok(draw.funded_by())
    }

    /// The next instant the port's room changes by itself after `now`: a
    /// raise starting or ending, a credit expiring, or (with rollover on)
    /// the period's end, when the rollover is recorded.
    ///
    /// # Errors
    /// The storage's.
    pub fn next_room_change(&self, now: i64) -> Result<Option<i64>, GateError> {
        let stored = self.budget()?;
        let raises = self.t.raises()?;
        let credits = self.t.credits()?;
        let instants = raises
            .iter()
            .flat_map(|r| [r.raise.starts_at, r.raise.ends_at])
            .chain(
                credits
                    .iter()
                    .filter(|c| c.credit.left(now) > 0)
                    .filter_map(|c| c.credit.expires_at),
            )
            .chain(
                stored
                    .rollover
                    .map(|_| ms(stored.budget.period.window(crate::time::instant(now)).end)),
            );
        Ok(instants.filter(|t| *t > now).min())
    }

    /// Notices the credit alerts at `now`, in the caller's transaction:
    /// `credits-low` when what is left of the credits falls to
    /// [`CREDITS_LOW_PERCENT`] of the last grant, `credits-exhausted` when
    /// nothing is left; each once per crossing (raised again only after
    /// the credits rose back above it, by a grant). Answers how many events
    /// it wrote.
    ///
    /// # Errors
    /// The storage's.
    pub fn observe_credits(&self, now: DateTime<Utc>) -> Result<usize, GateError> {
        let unit = self.budget()?.budget.unit;
        let at = ms(now);
        let credits = self.credits_in(unit)?;
        let Some(last) = credits.iter().max_by_key(|c| (c.created_at, c.id.clone())) else {
            return Ok(0);
        };
        let left = credits
            .iter()
            .fold(0, |t, c| crate::amount::sum(t, c.left(at)));
        let crossed = [
            (
                "credits-low",
                u128::from(left) * 100 <= u128::from(CREDITS_LOW_PERCENT) * u128::from(last.amount),
            ),
            ("credits-exhausted", left == 0),
        ];
        let port = self.port()?.unwrap_or_default();
        let mut written = 0;
        for (kind, past) in crossed {
            let raised = self.note(kind)?.is_some();
            if past && !raised {
                let fields = serde_json::json!({
                    "unit": unit.as_str(),
                    "creditsLeft": unit.amount_json(left),
                    "lastGrant": last.id,
                    "lastGrantAmount": unit.amount_json(last.amount),
                    "percent": CREDITS_LOW_PERCENT,
                    "at": crate::time::iso(now),
                });
                crate::alerts::watch::notice(self.t.sql(), &port, kind, fields, at)?;
                self.set_note(kind, Some(&at.to_string()))?;
                written += 1;
            } else if !past && raised {
                self.set_note(kind, None)?;
            }
        }
        Ok(written)
    }
}

/// The share of the last grant left (percent) at which `credits-low` is
/// raised.
pub const CREDITS_LOW_PERCENT: u8 = 20;
