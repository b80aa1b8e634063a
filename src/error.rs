//! The one error type of the budget rules.
//!
//! Refusing a call because it would cross the cap is *not* an error: that is a
//! [`Decision`](crate::Decision). Errors are for input that breaks the rules'
//! preconditions: a cap that is not a whole number of tokens, an unknown
//! period, an estimate that is negative. Every error carries a stable
//! [`ErrorCode`] (mapped once at each edge: a JS `Error.code`, an HTTP error
//! body) and, where one field is at fault, that field's name.

use std::fmt;

/// A stable, machine-readable classification of an [`Error`].
///
/// The kebab-case strings from [`ErrorCode::as_str`] are part of the public
/// contract of the npm package and the HTTP API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A value of the wrong JSON/JS type (a string where a number belongs).
    InvalidType,
    /// A number that is NaN or infinite.
    InvalidNumber,
    /// A negative token count or cap.
    NegativeTokens,
    /// A token count or cap with a fractional part.
    FractionalTokens,
    /// A token count or cap above [`MAX_TOKENS`](crate::MAX_TOKENS).
    TooManyTokens,
    /// A soft cap above the hard cap.
    SoftCapAboveHardCap,
    /// A period other than `day`, `week` or `month`.
    UnknownPeriod,
    /// A field the input does not know (most often a typo).
    UnknownField,
    /// An instant that is not a valid date.
    InvalidInstant,
    /// A text value (an id) that is empty, too long, or has control or
    /// invisible characters.
    InvalidValue,
    /// A negative amount of money or price.
    NegativeAmount,
    /// An amount of money with more than 6 decimals (micro-dollars).
    TooManyDecimals,
    /// An amount of money or price above $1 000 000 000.
    AmountTooLarge,
    /// A field the input must have is not there.
    MissingField,
    /// A `timeZone` that is not a zone of the time-zone database.
    UnknownTimeZone,
    /// A `weekStart` that is not `monday` to `sunday`.
    UnknownWeekDay,
}

impl ErrorCode {
    /// The code as the kebab-case string used by the JS and HTTP faces.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidType => "invalid-type",
            ErrorCode::InvalidNumber => "invalid-number",
            ErrorCode::NegativeTokens => "negative-tokens",
            ErrorCode::FractionalTokens => "fractional-tokens",
            ErrorCode::TooManyTokens => "too-many-tokens",
            ErrorCode::SoftCapAboveHardCap => "soft-cap-above-hard-cap",
            ErrorCode::UnknownPeriod => "unknown-period",
            ErrorCode::UnknownField => "unknown-field",
            ErrorCode::InvalidInstant => "invalid-instant",
            ErrorCode::InvalidValue => "invalid-value",
            ErrorCode::NegativeAmount => "negative-amount",
            ErrorCode::TooManyDecimals => "too-many-decimals",
            ErrorCode::AmountTooLarge => "amount-too-large",
            ErrorCode::MissingField => "missing-field",
            ErrorCode::UnknownTimeZone => "unknown-time-zone",
            ErrorCode::UnknownWeekDay => "unknown-week-day",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input that the budget rules reject, with a message meant for people.
///
/// # Example
/// ```
/// use ai_budget::{Budget, ErrorCode, RawBudget};
///
/// let update = RawBudget { soft_cap_tokens: Some((-1.0).into()), ..Default::default() };
/// let err = Budget::default().merge(&update).unwrap_err();
/// assert_eq!(err.code(), ErrorCode::NegativeTokens);
/// assert_eq!(err.message(), "Token caps must be non-negative");
/// assert_eq!(err.field(), Some("softCapTokens"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    field: Option<String>,
    message: String,
}

impl Error {
    /// An error of `code` about `field` (if any), with `message`.
    pub fn new(code: ErrorCode, field: Option<&str>, message: impl Into<String>) -> Error {
        Error {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// The stable classification of this error.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The input field at fault, in the camelCase spelling callers use
    /// (`softCapTokens`, `estimatedTokens`, `rows[3].inputTokens`).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the error is about the value of a field (rather than the
    /// shape of the input as a whole).
    pub fn is_field_error(&self) -> bool {
        self.field.is_some()
    }

    pub(crate) fn invalid_type(field: &str, expected: &str) -> Error {
        Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be {expected}"),
        )
    }

    pub(crate) fn invalid_number(field: &str) -> Error {
        Error::new(
            ErrorCode::InvalidNumber,
            Some(field),
            format!("{field} must be a finite number"),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
