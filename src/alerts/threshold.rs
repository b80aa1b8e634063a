//! Thresholds and crossings: where a port stands against each of its
//! thresholds, and which crossings a change raised or resolved.

use std::fmt;

use crate::forecast::{forecast_of, Forecast};
use crate::{CapState, CapStatus, PeriodWindow};

/// One threshold of a port's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Threshold {
    /// The soft cap: crossed when usage is above it (when calls are flagged).
    Soft,
    /// The hard cap: crossed when usage reaches it (when calls are refused).
    Hard,
    /// A percent (1..=100) of the hard cap: crossed when usage reaches it.
    Percent(u8),
    /// The forecast: crossed when the period's average rate so far would
    /// reach the hard cap before the reset ([`crate::forecast`]), while the
    /// hard cap is not reached yet. Raised once per period: a projection
    /// that falls back does not resolve it; a new period does.
    Projected,
}

impl Threshold {
    /// The threshold of its stored or sent name: `soft`, `hard`,
    /// `projected` or a percent 1..=100 written as a whole number.
    pub fn parse(name: &str) -> Option<Threshold> {
        match name {
            "soft" => Some(Threshold::Soft),
            "hard" => Some(Threshold::Hard),
            "projected" => Some(Threshold::Projected),
            digits => digits
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=100).contains(p) && !digits.starts_with('0'))
                .map(Threshold::Percent),
        }
    }

    /// The threshold as the event's `threshold` field: `"soft"`, `"hard"`,
    /// `"projected"` or the percent as a number.
    pub fn json(self) -> serde_json::Value {
        match self {
            Threshold::Soft => "soft".into(),
            Threshold::Hard => "hard".into(),
            Threshold::Projected => "projected".into(),
            Threshold::Percent(p) => p.into(),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Soft => f.write_str("soft"),
            Threshold::Hard => f.write_str("hard"),
            Threshold::Projected => f.write_str("projected"),
            Threshold::Percent(p) => write!(f, "{p}"),
        }
    }
}

/// A percent threshold from a JSON number: a whole number in 1..=100
/// (`80`, `80.0` and `8e1` are the same), else `None`.
pub fn percent_of_json(value: &serde_json::Value) -> Option<u8> {
    let n = value.as_f64()?;
    (n.fract() == 0.0 && (1.0..=100.0).contains(&n)).then_some(n as u8)
}

/// Where a port stands against its caps, in the unit its budget counts
/// in: what the thresholds are judged on and what events report. Built
/// from the core's [`CapStatus`], so alerts, banners and the gate agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// False when the budget is disabled: no threshold is crossed.
    pub enabled: bool,
    /// The budget's unit: what `used` and the caps count (tokens, or
    /// micro-dollars for a budget in `usd`).
    pub unit: crate::Unit,
    /// Usage counted in the period (holds not included), in `unit`.
    pub used: u64,
    /// The soft cap.
    pub soft_cap: u64,
    /// The hard cap.
    pub hard_cap: u64,
    /// True when usage is above the soft cap (the core's soft flag).
    pub over_soft: bool,
    /// True when usage has reached the hard cap (the core refuses).
    pub at_hard: bool,
    /// The current period.
    pub window: PeriodWindow,
    /// Where the period is heading at its average rate so far (`None`:
    /// not known, or a disabled budget).
    pub forecast: Option<Forecast>,
}

impl Standing {
    /// Where a port with `budget` stands after `used` (in the budget's
    /// unit: tokens, or the micro-dollars a budget in `usd` counts) in the
    /// period containing `now`: the one place alerts take their unit and
    /// numbers from.
    pub fn of_budget(
        budget: &crate::Budget,
        used: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Standing {
        Standing {
            forecast: forecast_of(budget, used, now, None),
            ..Standing::of_status(&crate::cap_status(budget, used, now))
        }
    }

    /// The standing of a budget, from its cap status (in its unit), without
    /// a forecast.
    pub fn of_status(status: &CapStatus) -> Standing {
        Standing {
            enabled: status.state != CapState::Disabled,
            unit: status.unit,
            used: status.used,
            soft_cap: status.soft_cap,
            hard_cap: status.hard_cap,
            over_soft: status.over_soft_cap(),
            at_hard: status.state == CapState::Hard,
            window: status.window,
            forecast: None,
        }
    }

    /// The cap a threshold is measured against (the soft cap for `soft`,
    /// the hard cap otherwise): the event's `cap`.
    pub fn cap_of(&self, threshold: Threshold) -> u64 {
        match threshold {
            Threshold::Soft => self.soft_cap,
            Threshold::Hard | Threshold::Percent(_) | Threshold::Projected => self.hard_cap,
        }
    }

    /// True when the port is past `threshold`: above the soft cap, at the
    /// hard cap, at or above `p`% of the hard cap.
    pub fn is_past(&self, threshold: Threshold) -> bool {
        if !self.enabled {
            return false;
        }
        match threshold {
            Threshold::Soft => self.over_soft,
            Threshold::Hard => self.at_hard,
            Threshold::Projected => {
                !self.at_hard && self.forecast.is_some_and(|f| f.runs_out_before_reset())
            }
            Threshold::Percent(p) => {
                u128::from(self.used) * 100 >= u128::from(p) * u128::from(self.hard_cap)
            }
        }
    }
}

/// A crossing raised before and still remembered: which threshold, in the
/// period that started at `period_start` (epoch ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised {
    /// The threshold.
    pub threshold: Threshold,
    /// The start of the period it was raised in (epoch ms).
    pub period_start: i64,
}

/// What changed for one threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Newly past in this period: raise `threshold-crossed`.
    Crossed(Threshold),
    /// A remembered crossing no longer holds (usage fell back under it: a
    /// raised cap, a disabled budget, a new period): raise
    /// `threshold-resolved`.
    Resolved(Threshold),
    /// A remembered crossing of a threshold the port no longer has:
    /// forgotten without an event.
    Forgotten(Threshold),
}

/// The transitions from the crossings remembered (`raised`) to where the
/// port stands now, for the thresholds it has (`thresholds`, the soft and
/// hard caps included). Each threshold is crossed at most once per period:
/// a crossing remembered for the current period and still past raises
/// nothing, however often this runs. Resolutions come first, in the order
/// remembered; then crossings, in the order of `thresholds`.
pub fn transitions(
    thresholds: &[Threshold],
    raised: &[Raised],
    standing: &Standing,
) -> Vec<Transition> {
    let start = standing.window.start.timestamp_millis();
    let mut out = Vec::new();
    let mut still = Vec::new();
    for r in raised {
        if !thresholds.contains(&r.threshold) {
            out.push(Transition::Forgotten(r.threshold));
        } else if r.period_start != start
            || !standing.enabled
            || (r.threshold != Threshold::Projected && !standing.is_past(r.threshold))
        {
            out.push(Transition::Resolved(r.threshold));
        } else {
            still.push(r.threshold);
        }
    }
    for t in thresholds {
        if standing.is_past(*t) && !still.contains(t) {
            still.push(*t);
            out.push(Transition::Crossed(*t));
        }
    }
    out
}
