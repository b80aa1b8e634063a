//! Amounts: what a budget counts, tokens or micro-dollars, whichever its
//! unit. Every total is kept exactly within 2^53 - 1 (the largest integer
//! JavaScript and JSON readers hold exactly); these are the rules of
//! adding amounts and of refusing a write that would leave that range.

use serde::{Deserialize, Serialize};

use crate::{Unit, MAX_TOKENS};

/// The largest amount kept, in any unit: 2^53 - 1.
pub const MAX_AMOUNT: u64 = MAX_TOKENS;

/// `a + b` for totals, `None` past [`MAX_AMOUNT`].
pub fn checked_total(a: u64, b: u64) -> Option<u64> {
    let sum = a.checked_add(b)?;
    (sum <= MAX_AMOUNT).then_some(sum)
}

/// `a + b` for display, stopping at [`MAX_AMOUNT`].
pub fn sum(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_AMOUNT)
}

/// A write refused because a total would leave the range every count is
/// kept exactly in (2^53 - 1, the largest integer JavaScript and JSON
/// readers hold exactly): a period's tokens, its micro-dollars, or either
/// used plus held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalTooLarge {
    /// The total the write would have made, in `unit` (micro-dollars for
    /// `usd`).
    pub would_be: u64,
    /// The largest total kept: 2^53 - 1.
    pub max: u64,
    /// Which total overflowed: tokens, or money (`usd`, micro-dollars).
    #[serde(default)]
    pub unit: Unit,
}

impl TotalTooLarge {
    /// A refusal of a write that would take a token total to `would_be`.
    pub fn new(would_be: u64) -> TotalTooLarge {
        TotalTooLarge::of(Unit::Tokens, would_be)
    }

    /// A refusal of a write that would take a total in `unit` to
    /// `would_be`.
    pub fn of(unit: Unit, would_be: u64) -> TotalTooLarge {
        TotalTooLarge {
            would_be,
            max: MAX_TOKENS,
            unit,
        }
    }
}

/// A pair of totals the gate keeps exact: tokens and micro-dollars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tokens.
    pub tokens: u64,
    /// Micro-dollars.
    pub usd: u64,
}

impl Totals {
    /// `tokens` and `usd` micro-dollars.
    pub const fn new(tokens: u64, usd: u64) -> Totals {
        Totals { tokens, usd }
    }

    /// The total in `unit`.
    pub const fn of(self, unit: Unit) -> u64 {
        match unit {
            Unit::Tokens => self.tokens,
            Unit::Usd => self.usd,
        }
    }

    /// Each total less `other`'s (stopping at 0).
    pub fn less(self, other: Totals) -> Totals {
        Totals::new(
            self.tokens.saturating_sub(other.tokens),
            self.usd.saturating_sub(other.usd),
        )
    }

    /// The rule of exact totals, for every unit at once: `self + more`,
    /// or the refusal naming the first unit whose sum would pass 2^53 - 1
    /// (tokens before money).
    ///
    /// # Errors
    /// The unit that would overflow and the total it would reach.
    pub fn checked_add(self, more: Totals) -> Result<Totals, TotalTooLarge> {
        let add = |unit: Unit| {
            let (a, b) = (self.of(unit), more.of(unit));
            checked_total(a, b).ok_or_else(|| TotalTooLarge::of(unit, a.saturating_add(b)))
        };
        Ok(Totals::new(add(Unit::Tokens)?, add(Unit::Usd)?))
    }
}
