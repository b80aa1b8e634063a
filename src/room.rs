//! A budget's room beyond its period's cap: temporary raises, rollover
//! brought in from the last period, and credits (prepaid amounts that do
//! not reset with the period). Pure rules on plain numbers in the budget's
//! unit (tokens, or micro-dollars) with instants as epoch milliseconds: the
//! gate judges with them, and the package and the page preview with them.
//!
//! - The **effective cap** is the hard cap plus the raises in force plus
//!   the rollover brought in ([`room`]); the soft cap moves with it (a
//!   raise's `softExtra` says otherwise).
//! - Once the effective cap is used up, a call **draws on credits**,
//!   soonest-expiring first (credits that never expire last), until they
//!   are gone ([`draw`]); a call that spans the cap takes the rest of the
//!   cap and the remainder from credits.
//! - A credit stops counting at its expiry and at its void; what was drawn
//!   from it stays drawn.
//! - Rollover is what a period left unused under its cap, up to a maximum
//!   ([`rollover`]).

use serde::{Deserialize, Serialize};

use crate::amount::sum;
use crate::{Budget, Unit};

/// A grant of credits, with what has been drawn from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credit {
    /// `cr_` and 24 hex digits.
    pub id: String,
    /// The amount granted, in the budget's unit.
    pub amount: u64,
    /// Drawn so far by holds and counted calls.
    pub spent: u64,
    /// When it stops counting (epoch ms); `None`: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// When it was granted (epoch ms).
    pub created_at: i64,
    /// When what was left of it was voided (epoch ms).
    #[serde(default)]
    pub voided_at: Option<i64>,
}

impl Credit {
    /// True while it counts at `now`: not voided, not expired.
    pub fn live(&self, now: i64) -> bool {
        self.voided_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// What is left of it at `now` (0 once expired or voided).
    pub fn left(&self, now: i64) -> u64 {
        if self.live(now) {
            self.amount.saturating_sub(self.spent)
        } else {
            0
        }
    }
}

/// A temporary raise of the caps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Raise {
    /// `rz_` and 24 hex digits.
    pub id: String,
    /// Added to the hard cap while in force, in the budget's unit.
    pub extra: u64,
    /// Added to the soft cap while in force (`None`: `extra`).
    #[serde(default)]
    pub soft_extra: Option<u64>,
    /// When it comes into force (epoch ms).
    pub starts_at: i64,
    /// When it ends (epoch ms), exclusive.
    pub ends_at: i64,
}

impl Raise {
    /// True while in force at `now`: `starts_at <= now < ends_at`.
    pub fn in_force(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// What it adds to the soft cap.
    pub fn soft(&self) -> u64 {
        self.soft_extra.unwrap_or(self.extra)
    }
}

/// Where a port's room comes from at one instant, in the budget's unit:
/// what every refusal and status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    /// The period's hard cap, as set.
    pub cap: u64,
    /// The raises in force.
    pub raises: u64,
    /// The rollover brought in from the last period.
    pub rollover: u64,
    /// Cap plus raises plus rollover: what the period's usage is judged
    /// against before credits.
    pub effective_cap: u64,
    /// The soft cap moved by the raises and the rollover.
    pub effective_soft_cap: u64,
    /// Credits left (live ones).
    pub credits_left: u64,
    /// The soonest instant a credit with something left expires (epoch ms).
    #[serde(default)]
    pub next_credit_expiry: Option<i64>,
}

impl Room {
    /// True when nothing beyond the budget's own caps is in play.
    pub fn is_plain(&self) -> bool {
        self.raises == 0 && self.rollover == 0 && self.credits_left == 0
    }

    /// The whole room: the effective cap plus the credits left.
    pub fn total(&self) -> u64 {
        sum(self.effective_cap, self.credits_left)
    }
}

/// Where `budget`'s room comes from at `now`: its caps in its unit, the
/// `raises` in force, the `rollover` brought in, and the `credits` left.
/// The one function the gate, the package and the page compute it with.
///
/// # Example
/// ```
/// use ai_budget::room::{room, Credit, Raise};
/// use ai_budget::Budget;
///
/// let budget = Budget { enabled: true, soft_cap_tokens: 80, hard_cap_tokens: 100, ..Budget::default() };
/// let raise = Raise { extra: 50, starts_at: 0, ends_at: 1_000, ..Raise::default() };
/// let credit = Credit { amount: 30, spent: 10, expires_at: Some(2_000), ..Credit::default() };
/// let r = room(&budget, &[raise], 5, &[credit], 500);
/// assert_eq!((r.effective_cap, r.effective_soft_cap, r.credits_left), (155, 135, 20));
/// assert_eq!(room(&budget, &[], 0, &[], 500).effective_cap, 100);
/// ```
pub fn room(
    budget: &Budget,
    raises: &[Raise],
    rollover: u64,
    credits: &[Credit],
    now: i64,
) -> Room {
    let in_force = raises.iter().filter(|r| r.in_force(now));
    let (extra, soft_extra) =
        in_force.fold((0, 0), |(h, s), r| (sum(h, r.extra), sum(s, r.soft())));
    let live = credits.iter().filter(|c| c.left(now) > 0);
    Room {
        cap: budget.hard_cap(),
        raises: extra,
        rollover,
        effective_cap: sum(sum(budget.hard_cap(), extra), rollover),
        effective_soft_cap: sum(sum(budget.soft_cap(), soft_extra), rollover),
        credits_left: credits.iter().fold(0, |t, c| sum(t, c.left(now))),
        next_credit_expiry: live.filter_map(|c| c.expires_at).min(),
    }
}

/// `budget` with its caps (in its unit) replaced by what the gate judges
/// a call against: the effective soft cap, and the effective cap plus the
/// credits left as the hard cap.
pub fn extended(budget: &Budget, room: &Room) -> Budget {
    let (hard, soft) = (room.total(), room.effective_soft_cap.min(room.total()));
    match budget.unit {
        Unit::Tokens => Budget {
            hard_cap_tokens: hard,
            soft_cap_tokens: soft,
            ..*budget
        },
        Unit::Usd => Budget {
            hard_cap_usd: Some(hard),
            soft_cap_usd: Some(soft),
            ..*budget
        },
    }
}

/// What the gate judges as used, given `cap_used` (used plus held, less
/// what credits fund): no more than the effective cap while credits are
/// left, so the credits' room is never eaten by usage over the cap.
pub fn judged_used(room: &Room, cap_used: u64) -> u64 {
    if room.credits_left > 0 {
        cap_used.min(room.effective_cap)
    } else {
        cap_used
    }
}

/// The order credits are drawn in: soonest-expiring first, those that
/// never expire last, then oldest grant first.
pub fn drawing_order(credits: &mut [Credit]) {
    credits.sort_by(|a, b| {
        let key = |c: &Credit| (c.expires_at.unwrap_or(i64::MAX), c.created_at);
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    });
}

/// How one amount is funded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Draw {
    /// Taken from the period's (effective) cap.
    pub cap: u64,
    /// Taken from credits: each credit's id and amount, in drawing order.
    pub credits: Vec<(String, u64)>,
    /// What neither covers (a call refused, or usage counted past the cap).
    pub short: u64,
}

impl Draw {
    /// What credits fund.
    pub fn from_credits(&self) -> u64 {
        self.credits.iter().fold(0, |t, (_, a)| sum(t, *a))
    }

    /// What funded it, for a ledger row: `None` when the cap alone did,
    /// else each source and its amount (`cap:70,cr_…:30`).
    pub fn funded_by(&self) -> Option<String> {
        let drawn = self.credits.iter().filter(|(_, a)| *a > 0);
        drawn.clone().next()?;
        let mut parts = Vec::new();
        if self.cap > 0 {
            parts.push(format!("cap:{}", self.cap));
        }
        parts.extend(drawn.map(|(id, a)| format!("{id}:{a}")));
        Some(parts.join(","))
    }
}

/// Funds `amount` at `now`: the rest of the cap (`cap_room`) first, then
/// the live `credits` in [`drawing_order`]; what is left uncovered is
/// `short`.
///
/// # Example
/// ```
/// use ai_budget::room::{draw, Credit};
///
/// let later = Credit { id: "cr_b".into(), amount: 50, expires_at: Some(9_000), ..Credit::default() };
/// let sooner = Credit { id: "cr_a".into(), amount: 20, expires_at: Some(5_000), ..Credit::default() };
/// let d = draw(60, 15, &[later, sooner], 1_000);
/// assert_eq!(d.cap, 15);
/// assert_eq!(d.credits, vec![("cr_a".to_owned(), 20), ("cr_b".to_owned(), 25)]);
/// assert_eq!(d.short, 0);
/// ```
pub fn draw(amount: u64, cap_room: u64, credits: &[Credit], now: i64) -> Draw {
    let cap = amount.min(cap_room);
    let mut rest = amount - cap;
    let mut ordered: Vec<Credit> = credits
        .iter()
        .filter(|c| c.left(now) > 0)
        .cloned()
        .collect();
    drawing_order(&mut ordered);
    let mut taken = Vec::new();
    for credit in &ordered {
        if rest == 0 {
            break;
        }
        let part = rest.min(credit.left(now));
        rest -= part;
        taken.push((credit.id.clone(), part));
    }
    Draw {
        cap,
        credits: taken,
        short: rest,
    }
}

/// What a hold's draw comes to when it is settled at `actual`: the cap
/// part first (up to what the hold took from the cap), then its credits in
/// the order it drew them (each up to what it took); what passes the hold
/// is counted on the cap.
///
/// # Example
/// ```
/// use ai_budget::room::{settled, Draw};
///
/// let held = Draw { cap: 40, credits: vec![("cr_a".into(), 20), ("cr_b".into(), 40)], short: 0 };
/// let d = settled(&held, 70);
/// assert_eq!((d.cap, d.credits.clone()), (40, vec![("cr_a".to_owned(), 20), ("cr_b".to_owned(), 10)]));
/// assert_eq!(settled(&held, 130).cap, 70);
/// ```
pub fn settled(held: &Draw, actual: u64) -> Draw {
    let mut rest = actual.saturating_sub(held.cap);
    let mut credits = Vec::new();
    for (id, took) in &held.credits {
        let part = rest.min(*took);
        rest -= part;
        credits.push((id.clone(), part));
    }
    Draw {
        cap: actual.min(held.cap) + rest,
        credits,
        short: 0,
    }
}

/// What a period ending with `used` (counted on the cap, credits aside)
/// under `cap` (its hard cap plus the rollover it brought in) carries into
/// the next one, up to `max`: the unused part, never negative.
///
/// # Example
/// ```
/// use ai_budget::room::rollover;
///
/// assert_eq!(rollover(300, 1_000, 600), 300);
/// assert_eq!(rollover(300, 1_000, 900), 100);
/// assert_eq!(rollover(300, 1_000, 1_200), 0);
/// ```
pub fn rollover(max: u64, cap: u64, used: u64) -> u64 {
    cap.saturating_sub(used).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credit(id: &str, amount: u64, expires_at: Option<i64>) -> Credit {
        Credit {
            id: id.into(),
            amount,
            expires_at,
            ..Credit::default()
        }
    }

    #[test]
    fn expired_and_voided_credits_are_not_drawn() {
        let mut voided = credit("cr_v", 50, None);
        voided.voided_at = Some(10);
        let credits = [
            credit("cr_x", 50, Some(100)),
            voided,
            credit("cr_n", 10, None),
        ];
        let d = draw(30, 0, &credits, 100);
        assert_eq!(d.credits, vec![("cr_n".to_owned(), 10)]);
        assert_eq!(d.short, 20);
        assert_eq!(
            room(&Budget::default(), &[], 0, &credits, 100).credits_left,
            10
        );
        assert_eq!(
            room(&Budget::default(), &[], 0, &credits, 99).credits_left,
            60
        );
    }

    #[test]
    fn a_raise_counts_from_its_start_until_its_end() {
        let budget = Budget {
            hard_cap_tokens: 100,
            soft_cap_tokens: 100,
            ..Budget::default()
        };
        let raise = Raise {
            extra: 10,
            soft_extra: Some(0),
            starts_at: 5,
            ends_at: 9,
            ..Raise::default()
        };
        let caps = |now| {
            let r = room(&budget, std::slice::from_ref(&raise), 0, &[], now);
            (r.effective_cap, r.effective_soft_cap)
        };
        assert_eq!(caps(4), (100, 100));
        assert_eq!(caps(5), (110, 100));
        assert_eq!(caps(8), (110, 100));
        assert_eq!(caps(9), (100, 100));
    }

    #[test]
    fn the_judged_budget_counts_credits_over_the_effective_cap() {
        let budget = Budget {
            enabled: true,
            hard_cap_tokens: 100,
            soft_cap_tokens: 90,
            ..Budget::default()
        };
        let r = room(&budget, &[], 0, &[credit("cr_a", 40, None)], 0);
        let judged = extended(&budget, &r);
        assert_eq!(judged.hard_cap_tokens, 140);
        // Usage over the cap (a raise that ended) leaves the credits whole.
        assert_eq!(judged_used(&r, 130), 100);
        assert!(crate::decide(&judged, judged_used(&r, 130), 40).is_allowed());
        assert!(!crate::decide(&judged, judged_used(&r, 130), 41).is_allowed());
    }
}
