//! The pre-flight decision: may a call with this estimate proceed?

use chrono::{DateTime, Utc};

use crate::{Budget, PeriodWindow};

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The period's usage has already reached the hard cap.
    HardCapExceeded,
    /// The call's estimate is larger than what is left under the hard cap.
    EstimatedExceedsCap,
}

impl RefusalReason {
    /// `hard-cap-exceeded` or `estimated-exceeds-cap`, as the original module
    /// reported them.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalReason::HardCapExceeded => "hard-cap-exceeded",
            RefusalReason::EstimatedExceedsCap => "estimated-exceeds-cap",
        }
    }
}

/// The outcome of [`decide`] as a single small number: the fast path for hot
/// loops and for crossing the JS/wasm boundary without building objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DecisionCode {
    /// Allowed, under the soft cap (or the budget is disabled).
    Allowed = 0,
    /// Allowed, but the period's usage is above the soft cap.
    AllowedOverSoftCap = 1,
    /// Refused: [`RefusalReason::HardCapExceeded`].
    HardCapExceeded = 2,
    /// Refused: [`RefusalReason::EstimatedExceedsCap`].
    EstimatedExceedsCap = 3,
}

impl DecisionCode {
    /// True for the two "allowed" codes.
    pub const fn is_allowed(self) -> bool {
        matches!(
            self,
            DecisionCode::Allowed | DecisionCode::AllowedOverSoftCap
        )
    }
}

/// The rules of the pre-flight gate, on plain numbers in the budget's
/// [`unit`](Budget::unit): tokens, or micro-dollars for a `usd` budget.
///
/// - A disabled budget allows everything (and never reports the soft cap).
/// - `used >= hard cap` refuses: [`DecisionCode::HardCapExceeded`] (a hard
///   cap of 0 refuses every call, even one estimated at 0 tokens).
/// - `estimated > hard cap - used` refuses:
///   [`DecisionCode::EstimatedExceedsCap`]; an estimate equal to what is
///   left passes.
/// - Otherwise the call is allowed, flagged when `used > soft cap`.
///
/// # Example
/// ```
/// use ai_budget::{decide, Budget, DecisionCode};
///
/// let budget = Budget { enabled: true, soft_cap_tokens: 800, hard_cap_tokens: 1_000, ..Budget::default() };
/// assert_eq!(decide(&budget, 900, 100), DecisionCode::AllowedOverSoftCap);
/// assert_eq!(decide(&budget, 900, 101), DecisionCode::EstimatedExceedsCap);
/// assert_eq!(decide(&budget, 1_000, 0), DecisionCode::HardCapExceeded);
/// ```
#[inline]
pub fn decide(budget: &Budget, used: u64, estimate: u64) -> DecisionCode {
    if !budget.enabled {
        return DecisionCode::Allowed;
    }
    let hard = budget.hard_cap();
    if used >= hard {
        return DecisionCode::HardCapExceeded;
    }
    if estimate > hard - used {
        return DecisionCode::EstimatedExceedsCap;
    }
    if used > budget.soft_cap() {
        DecisionCode::AllowedOverSoftCap
    } else {
        DecisionCode::Allowed
    }
}

/// The full answer of the pre-flight gate, as the original `checkBudget`
/// shaped it, plus the period's window so a refusal can say when to come
/// back. Its amounts (`remaining`, `used`, `cap`) are in the
/// budget's unit: tokens, or micro-dollars for a `usd` budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The call may proceed.
    Allowed {
        /// Left under the hard cap before this call (`hard - used`);
        /// `None` when the budget is disabled (no limit: JS `Infinity`).
        remaining: Option<u64>,
        /// Used in the current period (with what is held, at the gate).
        used: u64,
        /// True when the period's usage is above the soft cap.
        soft_cap: bool,
        /// The current period.
        window: PeriodWindow,
    },
    /// The call must not proceed until the period resets.
    Refused {
        /// Why.
        reason: RefusalReason,
        /// Used in the current period (with what is held, at the gate).
        used: u64,
        /// The hard cap.
        cap: u64,
        /// The current period; its `end` is when to come back.
        window: PeriodWindow,
    },
}

impl Decision {
    /// True when the call may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The period the decision was made in.
    pub fn window(&self) -> PeriodWindow {
        match self {
            Decision::Allowed { window, .. } | Decision::Refused { window, .. } => *window,
        }
    }

    /// When the budget resets.
    pub fn resets_at(&self) -> DateTime<Utc> {
        self.window().end
    }

    /// Used in the current period, in the budget's unit.
    pub fn used(&self) -> u64 {
        match self {
            Decision::Allowed { used, .. } | Decision::Refused { used, .. } => *used,
        }
    }
}

/// The pre-flight check: may a call estimated at `estimate` proceed,
/// given `used` already used in the period containing `now`?
///
/// The rules are [`decide`]'s; this adds the numbers the caller reports.
/// Unlike the original, a disabled budget reports its true usage rather
/// than 0.
///
/// # Example
/// ```
/// use ai_budget::{evaluate, Budget, Decision, RefusalReason};
/// use chrono::{TimeZone, Utc};
///
/// let budget = Budget { enabled: true, hard_cap_tokens: 1_000, soft_cap_tokens: 500, ..Budget::default() };
/// let now = Utc.with_ymd_and_hms(2026, 2, 14, 12, 0, 0).unwrap();
/// match evaluate(&budget, 990, 20, now) {
///     Decision::Refused { reason, window, .. } => {
///         assert_eq!(reason, RefusalReason::EstimatedExceedsCap);
///         assert_eq!(window.end, Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
///     }
///     other => panic!("expected a refusal, got {other:?}"),
/// }
/// ```
pub fn evaluate(budget: &Budget, used: u64, estimate: u64, now: DateTime<Utc>) -> Decision {
    let window = budget.window(now);
    let refused = |reason| Decision::Refused {
        reason,
        used,
        cap: budget.hard_cap(),
        window,
    };
    match decide(budget, used, estimate) {
        DecisionCode::HardCapExceeded => refused(RefusalReason::HardCapExceeded),
        DecisionCode::EstimatedExceedsCap => refused(RefusalReason::EstimatedExceedsCap),
        code => Decision::Allowed {
            remaining: budget.enabled.then(|| budget.hard_cap() - used),
            used,
            soft_cap: code == DecisionCode::AllowedOverSoftCap,
            window,
        },
    }
}
