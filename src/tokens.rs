//! Token counts: whole, non-negative numbers that JavaScript holds exactly,
//! and a call's counts by kind ([`TokenCounts`]), one type for what a
//! provider reports, what the API takes and what the gate counts.

use serde::{Deserialize, Serialize};

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

/// A call's tokens by kind, as providers report them.
///
/// `input_tokens` is all the input the provider processed, cached reads and
/// cache writes included (OpenAI's `prompt_tokens` already includes its
/// cached tokens; for Anthropic the gateway adds `cache_read_input_tokens`
/// and `cache_creation_input_tokens` to `input_tokens`), so that
/// `input + output` is what counts against a token budget. The other kinds
/// say how much of it was what, for pricing and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCounts {
    /// All input tokens.
    pub input_tokens: u64,
    /// The part of the input read from the provider's cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// The part of the input written to the provider's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// All output tokens.
    pub output_tokens: u64,
    /// The part of the output spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl TokenCounts {
    /// Input and output only (no cache or reasoning detail).
    pub fn new(input_tokens: u64, output_tokens: u64) -> TokenCounts {
        TokenCounts {
            input_tokens,
            output_tokens,
            ..TokenCounts::default()
        }
    }

    /// The same counts with their details kept within their totals: a
    /// provider that reports more cached than input tokens (or more
    /// reasoning than output tokens) is read at its totals, the details
    /// capped by them.
    pub fn bounded(mut self) -> TokenCounts {
        self.cached_input_tokens = self.cached_input_tokens.min(self.input_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .min(self.input_tokens - self.cached_input_tokens);
        self.reasoning_tokens = self.reasoning_tokens.min(self.output_tokens);
        self
    }

    /// Input plus output: what counts against a token budget.
    pub fn total(&self) -> u64 {
        add_tokens(self.input_tokens, self.output_tokens)
    }

    /// Input plus output when the counts can be kept exactly: every count
    /// and the total at most 2^53 - 1. This is the one rule of what the
    /// gate counts and what the ledger of record (D1, whose rows check
    /// `total_tokens = input_tokens + output_tokens`) accepts: counts it
    /// refuses (`None`) are never written anywhere.
    pub fn exact_total(&self) -> Option<u64> {
        let parts = [
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
        ];
        if parts.iter().any(|n| *n > MAX_TOKENS) {
            return None;
        }
        crate::amount::checked_total(self.input_tokens, self.output_tokens)
    }

    /// What the total would be, for a refusal of counts past the exact
    /// range: the largest count or the sum of input and output, whichever
    /// is larger (saturating).
    pub fn beyond(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .max(self.cached_input_tokens)
            .max(self.cache_write_tokens)
            .max(self.reasoning_tokens)
    }

    /// Checks a call's counts as the API takes them: [`Self::exact_total`],
    /// and the details within their totals (cached reads plus cache writes
    /// within the input, reasoning within the output).
    ///
    /// # Errors
    /// `too-many-tokens` (field `outputTokens`) when the total cannot be
    /// kept exactly; `invalid-value` (field `cachedInputTokens` or
    /// `reasoningTokens`) when a part is larger than its whole.
    pub fn check(&self) -> Result<u64, crate::Error> {
        use crate::{Error, ErrorCode};
        let Some(total) = self.exact_total() else {
            return Err(Error::new(
                ErrorCode::TooManyTokens,
                Some("outputTokens"),
                format!("inputTokens + outputTokens must be at most {MAX_TOKENS}"),
            ));
        };
        if self
            .cached_input_tokens
            .saturating_add(self.cache_write_tokens)
            > self.input_tokens
        {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                Some("cachedInputTokens"),
                "cachedInputTokens + cacheWriteTokens are parts of inputTokens and cannot exceed it",
            ));
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                Some("reasoningTokens"),
                "reasoningTokens are part of outputTokens and cannot exceed it",
            ));
        }
        Ok(total)
    }
}
