//! Cap status: where a port stands, for banners, dashboards and previews.

use chrono::{DateTime, Utc};

use crate::{decide, Budget, DecisionCode, PeriodWindow, Unit};

/// Which band of its budget a port is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapState {
    /// The budget is disabled: nothing is enforced.
    Disabled,
    /// At or under the soft cap.
    Ok,
    /// Above the soft cap, under the hard cap: calls pass, with a warning.
    Soft,
    /// At or above the hard cap: calls are refused until the reset.
    Hard,
}

impl CapState {
    /// `disabled`, `ok`, `soft` or `hard`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapState::Disabled => "disabled",
            CapState::Ok => "ok",
            CapState::Soft => "soft",
            CapState::Hard => "hard",
        }
    }
}

/// A port's standing against its caps in the current period. Its amounts
/// are in the budget's [`unit`](CapStatus::unit): tokens, or micro-dollars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CapStatus {
    /// What the amounts count.
    pub unit: Unit,
    /// The band.
    pub state: CapState,
    /// Used in the period.
    pub used: u64,
    /// The soft cap.
    pub soft_cap: u64,
    /// The hard cap.
    pub hard_cap: u64,
    /// Usage as a percentage of the soft cap (may pass 100).
    pub soft_percent: f64,
    /// Usage as a percentage of the hard cap (may pass 100).
    pub hard_percent: f64,
    /// Left under the hard cap (0 once it is reached); `None` when the
    /// budget is disabled.
    pub remaining: Option<u64>,
    /// The current period; `end` is the reset.
    pub window: PeriodWindow,
}

impl CapStatus {
    /// True when the usage is above the soft cap of an enabled budget (the
    /// `soft` band, and the `hard` one when the soft cap is below the hard
    /// cap): when answers carry `X-Budget-Soft-Cap: exceeded` and calls are
    /// flagged.
    pub fn over_soft_cap(&self) -> bool {
        self.state != CapState::Disabled && self.used > self.soft_cap
    }
}

/// Where a port with `budget` stands after using `used` in the period
/// containing `now`.
///
/// The bands follow the gate exactly: `hard` is when the gate refuses every
/// call, `soft` is when it flags calls (`used > soft cap`). Percentages of a
/// zero cap are 100 (a zero cap is reached from the start).
///
/// # Example
/// ```
/// use ai_budget::{cap_status, Budget, CapState};
/// use chrono::{TimeZone, Utc};
///
/// let budget = Budget { enabled: true, soft_cap_tokens: 800, hard_cap_tokens: 1_000, ..Budget::default() };
/// let now = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
/// let status = cap_status(&budget, 900, now);
/// assert_eq!(status.state, CapState::Soft);
/// assert_eq!(status.remaining, Some(100));
/// assert_eq!(status.hard_percent, 90.0);
/// ```
pub fn cap_status(budget: &Budget, used: u64, now: DateTime<Utc>) -> CapStatus {
    let state = if !budget.enabled {
        CapState::Disabled
    } else {
        match decide(budget, used, 0) {
            DecisionCode::HardCapExceeded => CapState::Hard,
            DecisionCode::AllowedOverSoftCap => CapState::Soft,
            _ => CapState::Ok,
        }
    };
    CapStatus {
        state,
        used,
        soft_cap: budget.soft_cap(),
        hard_cap: budget.hard_cap(),
        soft_percent: percent(used, budget.soft_cap()),
        hard_percent: percent(used, budget.hard_cap()),
        remaining: budget
            .enabled
            .then(|| budget.hard_cap().saturating_sub(used)),
        unit: budget.unit,
        window: budget.window(now),
    }
}

fn percent(used: u64, cap: u64) -> f64 {
    if cap == 0 {
        100.0
    } else {
        used as f64 * 100.0 / cap as f64
    }
}
