//! The fast path: numbers in, a small code out, for hot loops.
//!
//! No objects cross the boundary, so a decision costs about as much as a
//! function call. The rules are still the core's [`decide`](crate::decide);
//! only the input checks are done here, with the core's yes/no token reader.

use wasm_bindgen::prelude::*;

use crate::{token_count, Budget, Error, ErrorCode, Period};

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
    /// 2^53 - 1. (A soft cap above the hard cap is judged, as the gate
    /// judges such a stored budget: the soft cap then never shows.)
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

#[inline]
fn decide_one(enabled: bool, soft: f64, hard: f64, used: f64, estimated: f64) -> FastDecisionCode {
    let (Some(soft), Some(hard), Some(used), Some(estimated)) = (
        token_count(soft),
        token_count(hard),
        token_count(used),
        token_count(estimated),
    ) else {
        return FastDecisionCode::InvalidInput;
    };
    let budget = Budget {
        enabled,
        soft_cap_tokens: soft,
        hard_cap_tokens: hard,
        // The gate's rules do not depend on the period.
        period: Period::Month,
        ..Budget::default()
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
