//! The one rule of "which amount, in which unit": a call's estimate judged
//! against a port's budget on its used plus held amount. A reservation
//! (in the gate) and a check (in the Worker, on the gate's view) both
//! judge through [`judge`], so they cannot disagree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{HoldRequest, PortLoad, Refusal};
use crate::time::ms;
use crate::{evaluate, Budget, Decision, Unit};

/// A call's estimate: tokens, and money when the call is priced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// Tokens.
    pub tokens: u64,
    /// Micro-dollars (an upper bound of the call's cost), when priced.
    #[serde(default)]
    pub usd: Option<u64>,
    /// The input and output token estimates of a model the price table
    /// does not know: priced with the port's fallback price, if it has one.
    #[serde(default)]
    pub unpriced: Option<(u64, u64)>,
}

impl HoldRequest {
    /// The estimate the hold is judged on.
    pub fn estimate(&self) -> Estimate {
        Estimate {
            tokens: self.estimated_tokens,
            usd: self.estimated_usd,
            unpriced: self.unpriced_estimate,
        }
    }
}

/// What the port's cap says of an estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// A `usd` budget, and the call has no price: neither its own nor the
    /// port's fallback.
    Unpriced,
    /// The core's decision, on the amount judged.
    Decided {
        /// The core's decision (its amounts in the budget's unit).
        decision: Decision,
        /// The estimate's micro-dollars with the fallback price applied:
        /// what a hold keeps, whatever the unit.
        usd: Option<u64>,
    },
}

impl Judged {
    /// The port-scope refusal of a refused decision, in the budget's unit.
    pub fn refusal(&self, unit: Unit) -> Option<Refusal> {
        match self {
            Judged::Decided {
                decision:
                    Decision::Refused {
                        reason,
                        used,
                        cap,
                        window,
                    },
                ..
            } => Some(Refusal {
                reason: reason.as_str().to_owned(),
                scope: "port".into(),
                scope_id: None,
                used: *used,
                cap: *cap,
                unit,
                period_start: ms(window.start),
                resets_at: ms(window.end),
                room: None,
            }),
            _ => None,
        }
    }
}

/// Judges `estimate` against `budget` on the port's `load` at `now`: in
/// the budget's unit, tokens on used plus held tokens, or micro-dollars
/// (the call's bound, else its token estimates at the port's fallback
/// price) on used plus held micro-dollars; a `usd` budget never judges a
/// call it cannot price.
///
/// # Example
/// ```
/// use ai_budget::gate::{judge, Estimate, Judged, PortLoad};
/// use ai_budget::{Budget, Decision};
///
/// let budget = Budget { enabled: true, soft_cap_tokens: 80, hard_cap_tokens: 100, ..Budget::default() };
/// let load = PortLoad { used_tokens: 60, held_tokens: 30, ..PortLoad::default() };
/// let now = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
/// let Judged::Decided { decision, .. } = judge(&budget, &load, &Estimate { tokens: 20, ..Estimate::default() }, now) else {
///     unreachable!()
/// };
/// assert!(matches!(decision, Decision::Refused { .. }));
/// ```
pub fn judge(budget: &Budget, load: &PortLoad, estimate: &Estimate, now: DateTime<Utc>) -> Judged {
    let usd = budget.money_bound(estimate.usd, estimate.unpriced);
    let amount = match (budget.unit, usd) {
        (Unit::Tokens, _) => estimate.tokens,
        (Unit::Usd, Some(usd)) => usd,
        (Unit::Usd, None) => return Judged::Unpriced,
    };
    Judged::Decided {
        decision: evaluate(budget, load.gate_amount(budget.unit), amount, now),
        usd,
    }
}
