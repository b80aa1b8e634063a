//! The fast path: numbers in, a small code out, for hot loops.
//!
//! No objects cross the boundary, so a decision costs about as much as a
//! function call. The rules are still the core's [`decide`](crate::decide);
//! only the input checks are done here, with the core's token reader.

use wasm_bindgen::prelude::*;

use crate::{Budget, Error, ErrorCode, Period, MAX_TOKENS};

/// The outcome of `decide` / `decideMany`: the core's `DecisionCode`, plus
/// a code for input the rules cannot judge.
#[wasm_bindgen(js_name = DecisionCode)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FastDecisionCode {
    /// Allowed, under the soft cap (or the budget is disabled).
    Allowed = 0,
    /// Allowed, but the period's usage is above the soft cap.
    AllowedOverSoftCap = 1,
    /// Refused: usage has reached the hard cap.
    HardCapExceeded = 2,
    /// Refused: the estimate is larger than what is left.
    EstimatedExceedsCap = 3,
    /// Not judged: a count is negative, fractional, not finite or above
    /// 2^53 - 1, or the soft cap is above the hard cap.
    InvalidInput = 255,
}

impl From<crate::DecisionCode> for FastDecisionCode {
    fn from(code: crate::DecisionCode) -> FastDecisionCode {
        match code {
            crate::DecisionCode::Allowed => FastDecisionCode::Allowed,
            crate::DecisionCode::AllowedOverSoftCap => FastDecisionCode::AllowedOverSoftCap,
            crate::DecisionCode::HardCapExceeded => FastDecisionCode::HardCapExceeded,
            crate::DecisionCode::EstimatedExceedsCap => FastDecisionCode::EstimatedExceedsCap,
        }
    }
}

/// A token count, accepted exactly when the core's
/// [`tokens_from_f64`](crate::tokens_from_f64) accepts it (a test holds the
/// two together). The core's reader builds a descriptive error, which the
/// fast path would throw away: this yes/no form is about twice as fast.
#[inline]
fn count(n: f64) -> Option<u64> {
    // NaN fails every comparison; infinities fail the range check.
    (n >= 0.0 && n <= MAX_TOKENS as f64 && n.fract() == 0.0).then_some(n as u64)
}

#[inline]
fn decide_one(enabled: bool, soft: f64, hard: f64, used: f64, estimated: f64) -> FastDecisionCode {
    let (Some(soft), Some(hard), Some(used), Some(estimated)) =
        (count(soft), count(hard), count(used), count(estimated))
    else {
        return FastDecisionCode::InvalidInput;
    };
    if soft > hard {
        return FastDecisionCode::InvalidInput;
    }
    let budget = Budget {
        enabled,
        soft_cap_tokens: soft,
        hard_cap_tokens: hard,
        // The gate's rules do not depend on the period.
        period: Period::Month,
    };
    crate::decide(&budget, used, estimated).into()
}

/// One pre-flight decision on plain numbers: the same rules as
/// `evaluateBudget`, without the result object.
#[wasm_bindgen(js_name = decide)]
pub fn decide(
    enabled: bool,
    #[wasm_bindgen(js_name = softCapTokens)] soft_cap_tokens: f64,
    #[wasm_bindgen(js_name = hardCapTokens)] hard_cap_tokens: f64,
    #[wasm_bindgen(js_name = usedTokens)] used_tokens: f64,
    #[wasm_bindgen(js_name = estimatedTokens)] estimated_tokens: f64,
) -> FastDecisionCode {
    decide_one(
        enabled,
        soft_cap_tokens,
        hard_cap_tokens,
        used_tokens,
        estimated_tokens,
    )
}

/// Many decisions in one call (one per port): entry `i` of every array
/// describes one port; the codes are written to `out[i]`.
///
/// `enabled[i]` is 0 for a disabled budget, anything else for an enabled one.
///
/// # Errors
/// An `AiBudgetError` (`invalid-type`) when the arrays differ in length.
#[wasm_bindgen(js_name = decideMany)]
pub fn decide_many(
    enabled: &[u8],
    #[wasm_bindgen(js_name = softCapTokens)] soft_cap_tokens: &[f64],
    #[wasm_bindgen(js_name = hardCapTokens)] hard_cap_tokens: &[f64],
    #[wasm_bindgen(js_name = usedTokens)] used_tokens: &[f64],
    #[wasm_bindgen(js_name = estimatedTokens)] estimated_tokens: &[f64],
    out: &mut [u8],
) -> Result<(), JsValue> {
    let n = out.len();
    let lengths = [
        (enabled.len(), "enabled"),
        (soft_cap_tokens.len(), "softCapTokens"),
        (hard_cap_tokens.len(), "hardCapTokens"),
        (used_tokens.len(), "usedTokens"),
        (estimated_tokens.len(), "estimatedTokens"),
    ];
    if let Some((_, field)) = lengths.iter().find(|(len, _)| *len != n) {
        return Err(super::convert::to_js_error(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must have the same length as out ({n})"),
        )));
    }
    for i in 0..n {
        out[i] = decide_one(
            enabled[i] != 0,
            soft_cap_tokens[i],
            hard_cap_tokens[i],
            used_tokens[i],
            estimated_tokens[i],
        ) as u8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::count;
    use crate::{tokens_from_f64, MAX_TOKENS};

    #[test]
    fn count_accepts_exactly_what_the_core_token_reader_accepts() {
        let max = MAX_TOKENS as f64;
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            1e-300,
            f64::MIN_POSITIVE,
            max,
            max - 1.0,
            max + 1.0,
            max + 2.0,
            2f64.powi(60),
            f64::MAX,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4_503_599_627_370_495.5,
        ];
        // A spread of magnitudes, whole and fractional, on both sides of 0.
        let mut x = 0.37_f64;
        for _ in 0..2000 {
            x = (x * 7.919 + 0.123).fract();
            let magnitude = 10f64.powi((x * 18.0) as i32);
            values.extend([
                x * magnitude,
                (x * magnitude).trunc(),
                -(x * magnitude).trunc(),
            ]);
        }
        for n in values {
            assert_eq!(count(n), tokens_from_f64(n, "n").ok(), "{n:?}");
        }
    }
}
