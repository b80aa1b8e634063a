//! Token counts: whole, non-negative numbers that JavaScript holds exactly.

use crate::{Error, ErrorCode};

/// The largest token count the rules accept: `2^53 - 1`
/// (`Number.MAX_SAFE_INTEGER`), so every count survives a trip through a JS
/// number or a JSON document unchanged.
pub const MAX_TOKENS: u64 = (1 << 53) - 1;

/// Reads a token count from a number as JSON and JavaScript carry it.
///
/// `field` names the input in error messages. The checks run in this order:
/// finite, non-negative, whole, at most [`MAX_TOKENS`].
///
/// # Errors
/// [`ErrorCode::InvalidNumber`] for NaN or an infinity,
/// [`ErrorCode::NegativeTokens`], [`ErrorCode::FractionalTokens`] and
/// [`ErrorCode::TooManyTokens`].
///
/// # Example
/// ```
/// use ai_budget::{tokens_from_f64, ErrorCode};
///
/// assert_eq!(tokens_from_f64(1200.0, "estimatedTokens"), Ok(1200));
/// let err = tokens_from_f64(0.5, "estimatedTokens").unwrap_err();
/// assert_eq!(err.code(), ErrorCode::FractionalTokens);
/// ```
pub fn tokens_from_f64(value: f64, field: &str) -> Result<u64, Error> {
    if let Some(tokens) = token_count(value) {
        return Ok(tokens);
    }
    // Rejected: say why, in the order the rules are listed above.
    if !value.is_finite() {
        return Err(Error::invalid_number(field));
    }
    if value < 0.0 {
        return Err(negative(field));
    }
    if value.fract() != 0.0 {
        return Err(Error::new(
            ErrorCode::FractionalTokens,
            Some(field),
            format!("{field} must be a whole number of tokens"),
        ));
    }
    Err(Error::new(
        ErrorCode::TooManyTokens,
        Some(field),
        format!("{field} must be at most {MAX_TOKENS}"),
    ))
}

/// The yes/no form of [`tokens_from_f64`]: the same values are accepted,
/// and no error is built for the others. For hot paths that only need to
/// know whether input can be judged.
///
/// # Example
/// ```
/// use ai_budget::{token_count, MAX_TOKENS};
///
/// assert_eq!(token_count(42.0), Some(42));
/// assert_eq!(token_count(-1.0), None);
/// assert_eq!(token_count(MAX_TOKENS as f64 + 1.0), None);
/// ```
#[inline]
pub fn token_count(value: f64) -> Option<u64> {
    // NaN fails every comparison; the infinities fail the range check.
    (value >= 0.0 && value <= MAX_TOKENS as f64 && value.fract() == 0.0).then_some(value as u64)
}

/// Reads a token count from an integer (as JSON parsers and databases give
/// them), with the same range rule as [`tokens_from_f64`].
///
/// # Errors
/// [`ErrorCode::NegativeTokens`] and [`ErrorCode::TooManyTokens`].
pub fn tokens_from_i64(value: i64, field: &str) -> Result<u64, Error> {
    if value < 0 {
        return Err(negative(field));
    }
    tokens_from_f64(value as f64, field)
}

fn negative(field: &str) -> Error {
    // The seed's message for caps is kept word for word: callers match on it.
    let message = match field {
        "softCapTokens" | "hardCapTokens" => "Token caps must be non-negative".to_owned(),
        _ => format!("{field} must be non-negative"),
    };
    Error::new(ErrorCode::NegativeTokens, Some(field), message)
}

/// Adds token counts without overflowing: the sum stops at [`MAX_TOKENS`].
pub fn add_tokens(a: u64, b: u64) -> u64 {
    a.saturating_add(b).min(MAX_TOKENS)
}
