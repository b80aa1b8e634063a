//! Budget settings: reading a stored value tolerantly, merging an update
//! strictly.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

use crate::tokens::tokens_from_f64;
use crate::{Error, ErrorCode, Period};

/// The soft cap of a port with no stored budget.
pub const DEFAULT_SOFT_CAP_TOKENS: u64 = 100_000;
/// The hard cap of a port with no stored budget.
pub const DEFAULT_HARD_CAP_TOKENS: u64 = 500_000;

/// A port's budget settings.
///
/// Serializes with the field names JS callers use (`enabled`,
/// `softCapTokens`, `hardCapTokens`, `period`). There is deliberately no
/// `Deserialize`: untrusted input goes through [`RawBudget`], then
/// [`Budget::normalize`] (stored values) or [`Budget::merge`] (updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// When false no cap is enforced; usage is still counted.
    pub enabled: bool,
    /// Above this many tokens in the period, calls still pass but are
    /// flagged (`softCap: true`, a banner).
    pub soft_cap_tokens: u64,
    /// At this many tokens the port is refused until the period resets.
    pub hard_cap_tokens: u64,
    /// The window the caps count over.
    pub period: Period,
}

impl Default for Budget {
    /// Disabled, soft cap 100 000, hard cap 500 000, monthly.
    fn default() -> Budget {
        Budget {
            enabled: false,
            soft_cap_tokens: DEFAULT_SOFT_CAP_TOKENS,
            hard_cap_tokens: DEFAULT_HARD_CAP_TOKENS,
            period: Period::Month,
        }
    }
}

impl Budget {
    /// Reads a stored budget the way the original module did: each field that
    /// is missing or wrongly typed takes its default.
    ///
    /// `enabled` is true only for the boolean `true`. A cap must be a finite,
    /// non-negative whole number no larger than
    /// [`MAX_TOKENS`](crate::MAX_TOKENS); anything else counts as wrongly
    /// typed. The period must be exactly `day`, `week` or `month`.
    ///
    /// # Example
    /// ```
    /// use ai_budget::{Budget, Period, RawBudget};
    ///
    /// let raw: RawBudget = serde_json::from_str(
    ///     r#"{"enabled": true, "softCapTokens": -5, "hardCapTokens": 9000, "period": "fortnight"}"#,
    /// ).unwrap();
    /// let budget = Budget::normalize(&raw);
    /// assert!(budget.enabled);
    /// assert_eq!(budget.soft_cap_tokens, 100_000); // negative: default
    /// assert_eq!(budget.hard_cap_tokens, 9_000);
    /// assert_eq!(budget.period, Period::Month); // unknown: default
    /// ```
    pub fn normalize(raw: &RawBudget) -> Budget {
        let defaults = Budget::default();
        let cap = |value: &Option<FieldValue>, default: u64| match value {
            Some(FieldValue::Number(n)) => tokens_from_f64(*n, "cap").unwrap_or(default),
            _ => default,
        };
        Budget {
            enabled: matches!(raw.enabled, Some(FieldValue::Bool(true))),
            soft_cap_tokens: cap(&raw.soft_cap_tokens, defaults.soft_cap_tokens),
            hard_cap_tokens: cap(&raw.hard_cap_tokens, defaults.hard_cap_tokens),
            period: match &raw.period {
                Some(FieldValue::Text(name)) => name.parse().unwrap_or(defaults.period),
                _ => defaults.period,
            },
        }
    }

    /// Applies a partial update over this budget: a field that is missing or
    /// `null` keeps its current value, as `input.x ?? existing.x` did.
    ///
    /// The result is checked the way the original module checked it (its two
    /// messages are kept word for word), and more strictly besides.
    ///
    /// # Errors
    /// In this order:
    /// - [`ErrorCode::InvalidType`]: the update is not an object, or a field
    ///   has the wrong type; [`ErrorCode::UnknownField`]: a field the budget
    ///   does not have; [`ErrorCode::InvalidNumber`]: a cap is NaN or infinite;
    /// - [`ErrorCode::NegativeTokens`]: `Token caps must be non-negative`;
    /// - [`ErrorCode::FractionalTokens`], [`ErrorCode::TooManyTokens`];
    /// - [`ErrorCode::UnknownPeriod`];
    /// - [`ErrorCode::SoftCapAboveHardCap`]:
    ///   `softCapTokens cannot exceed hardCapTokens`.
    ///
    /// # Example
    /// ```
    /// use ai_budget::{Budget, RawBudget};
    ///
    /// let update: RawBudget = serde_json::from_str(r#"{"hardCapTokens": 50000}"#).unwrap();
    /// // The default soft cap (100 000) is now above the hard cap.
    /// let err = Budget::default().merge(&update).unwrap_err();
    /// assert_eq!(err.message(), "softCapTokens cannot exceed hardCapTokens");
    /// ```
    pub fn merge(&self, update: &RawBudget) -> Result<Budget, Error> {
        let fields = BudgetFields::read(update, "a budget update")?;
        let merged = Budget {
            enabled: fields.enabled.unwrap_or(self.enabled),
            soft_cap_tokens: fields.soft_cap_tokens.unwrap_or(self.soft_cap_tokens),
            hard_cap_tokens: fields.hard_cap_tokens.unwrap_or(self.hard_cap_tokens),
            period: fields.period.unwrap_or(self.period),
        };
        if merged.soft_cap_tokens > merged.hard_cap_tokens {
            let field = if fields.soft_cap_tokens.is_some() {
                "softCapTokens"
            } else {
                "hardCapTokens"
            };
            return Err(Error::new(
                ErrorCode::SoftCapAboveHardCap,
                Some(field),
                "softCapTokens cannot exceed hardCapTokens",
            ));
        }
        Ok(merged)
    }

    /// Reads a complete budget strictly: every field present and valid, as
    /// [`Budget::merge`] checks them, no unknown field. Unlike `merge`, a
    /// soft cap above the hard cap is accepted: a stored budget can hold one
    /// ([`Budget::normalize`] keeps it, as the original did), and the gate
    /// judges it as it is (its soft cap then never shows). For callers that
    /// pass a budget to be judged rather than saved.
    ///
    /// # Errors
    /// [`ErrorCode::InvalidType`] for a missing or `null` field, then those
    /// of [`Budget::merge`] but the last.
    ///
    /// # Example
    /// ```
    /// use ai_budget::{Budget, ErrorCode, RawBudget};
    ///
    /// let raw: RawBudget = serde_json::from_str(
    ///     r#"{"enabled": true, "softCapTokens": 900, "hardCapTokens": 500, "period": "day"}"#,
    /// ).unwrap();
    /// assert_eq!(Budget::parse(&raw).unwrap().soft_cap_tokens, 900);
    ///
    /// let partial: RawBudget = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
    /// assert_eq!(Budget::parse(&partial).unwrap_err().code(), ErrorCode::InvalidType);
    /// ```
    pub fn parse(raw: &RawBudget) -> Result<Budget, Error> {
        let fields = BudgetFields::read(raw, "a budget")?;
        let missing = |name: &str| {
            Error::new(
                ErrorCode::InvalidType,
                Some(name),
                format!("a budget needs {name} (it has enabled, softCapTokens, hardCapTokens and period)"),
            )
        };
        Ok(Budget {
            enabled: fields.enabled.ok_or_else(|| missing("enabled"))?,
            soft_cap_tokens: fields
                .soft_cap_tokens
                .ok_or_else(|| missing("softCapTokens"))?,
            hard_cap_tokens: fields
                .hard_cap_tokens
                .ok_or_else(|| missing("hardCapTokens"))?,
            period: fields.period.ok_or_else(|| missing("period"))?,
        })
    }
}

/// The fields of untrusted budget input that are present (not missing, not
/// `null`), each checked on its own.
struct BudgetFields {
    enabled: Option<bool>,
    soft_cap_tokens: Option<u64>,
    hard_cap_tokens: Option<u64>,
    period: Option<Period>,
}

impl BudgetFields {
    /// Checks in the order [`Budget::merge`] documents; `what` names the
    /// input when it is not an object.
    fn read(raw: &RawBudget, what: &str) -> Result<BudgetFields, Error> {
        if raw.not_an_object {
            return Err(Error::new(
                ErrorCode::InvalidType,
                None,
                format!("{what} must be an object"),
            ));
        }
        if let Some(name) = raw.unknown_fields.first() {
            return Err(Error::new(
                ErrorCode::UnknownField,
                Some(name),
                format!(
                    "unknown field {name:?}: a budget has enabled, softCapTokens, hardCapTokens and period"
                ),
            ));
        }
        let enabled = match &raw.enabled {
            None | Some(FieldValue::Null) => None,
            Some(FieldValue::Bool(value)) => Some(*value),
            Some(_) => return Err(Error::invalid_type("enabled", "a boolean")),
        };
        let soft = cap_input(&raw.soft_cap_tokens, "softCapTokens")?;
        let hard = cap_input(&raw.hard_cap_tokens, "hardCapTokens")?;
        // Wrong types are reported before any value rule, the period's too.
        let period_name = match &raw.period {
            None | Some(FieldValue::Null) => None,
            Some(FieldValue::Text(name)) => Some(name),
            Some(_) => return Err(Error::invalid_type("period", "a string")),
        };
        // The original rejected negative caps before anything else.
        for (value, field) in [(soft, "softCapTokens"), (hard, "hardCapTokens")] {
            if let Some(n) = value.filter(|n| *n < 0.0) {
                return Err(tokens_from_f64(n, field).unwrap_err());
            }
        }
        Ok(BudgetFields {
            enabled,
            soft_cap_tokens: soft
                .map(|n| tokens_from_f64(n, "softCapTokens"))
                .transpose()?,
            hard_cap_tokens: hard
                .map(|n| tokens_from_f64(n, "hardCapTokens"))
                .transpose()?,
            period: period_name.map(|name| name.parse()).transpose()?,
        })
    }
}

/// A cap field of an update as a number, `None` when absent or `null`.
fn cap_input(value: &Option<FieldValue>, field: &str) -> Result<Option<f64>, Error> {
    match value {
        None | Some(FieldValue::Null) => Ok(None),
        Some(FieldValue::Number(n)) if n.is_finite() => Ok(Some(*n)),
        Some(FieldValue::Number(_)) => Err(Error::invalid_number(field)),
        Some(_) => Err(Error::invalid_type(field, "a number")),
    }
}

/// One field of untrusted input, with its JSON/JS type preserved so that the
/// rules can tell "wrongly typed" from "missing".
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// `null` (or `undefined` from JS).
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (JSON integers arrive as their `f64` value).
    Number(f64),
    /// A string.
    Text(String),
    /// An array, object or anything else.
    Other,
}

impl From<bool> for FieldValue {
    fn from(value: bool) -> FieldValue {
        FieldValue::Bool(value)
    }
}

impl From<f64> for FieldValue {
    fn from(value: f64) -> FieldValue {
        FieldValue::Number(value)
    }
}

impl From<u64> for FieldValue {
    fn from(value: u64) -> FieldValue {
        FieldValue::Number(value as f64)
    }
}

impl From<&str> for FieldValue {
    fn from(value: &str) -> FieldValue {
        FieldValue::Text(value.to_owned())
    }
}

impl From<Period> for FieldValue {
    fn from(value: Period) -> FieldValue {
        FieldValue::Text(value.as_str().to_owned())
    }
}

/// The budget fields exactly as found in untrusted input: a stored value or
/// an update. Deserializing never fails on types, only on syntax: a value
/// that is not an object sets [`RawBudget::not_an_object`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawBudget {
    /// `enabled`, if present.
    pub enabled: Option<FieldValue>,
    /// `softCapTokens`, if present.
    pub soft_cap_tokens: Option<FieldValue>,
    /// `hardCapTokens`, if present.
    pub hard_cap_tokens: Option<FieldValue>,
    /// `period`, if present.
    pub period: Option<FieldValue>,
    /// Names of any other fields, in input order.
    pub unknown_fields: Vec<String>,
    /// True when the input was not an object at all.
    pub not_an_object: bool,
}

impl RawBudget {
    /// True for an update that names no field at all (`{}`): it changes
    /// nothing.
    pub fn is_empty(&self) -> bool {
        !self.not_an_object
            && self.unknown_fields.is_empty()
            && self.enabled.is_none()
            && self.soft_cap_tokens.is_none()
            && self.hard_cap_tokens.is_none()
            && self.period.is_none()
    }

    /// The raw form of a valid budget (every field present).
    pub fn from_budget(budget: &Budget) -> RawBudget {
        RawBudget {
            enabled: Some(budget.enabled.into()),
            soft_cap_tokens: Some(budget.soft_cap_tokens.into()),
            hard_cap_tokens: Some(budget.hard_cap_tokens.into()),
            period: Some(budget.period.into()),
            ..RawBudget::default()
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FieldValue, D::Error> {
        deserializer.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::Text(v))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<FieldValue, D::Error> {
        FieldValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other)
    }
}

impl<'de> Deserialize<'de> for RawBudget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawBudget, D::Error> {
        deserializer.deserialize_any(RawBudgetVisitor)
    }
}

struct RawBudgetVisitor;

impl RawBudgetVisitor {
    fn not_an_object<E>() -> Result<RawBudget, E> {
        Ok(RawBudget {
            not_an_object: true,
            ..RawBudget::default()
        })
    }
}

impl<'de> Visitor<'de> for RawBudgetVisitor {
    type Value = RawBudget;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a budget object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawBudget, A::Error> {
        let mut raw = RawBudget::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "enabled" => &mut raw.enabled,
                "softCapTokens" => &mut raw.soft_cap_tokens,
                "hardCapTokens" => &mut raw.hard_cap_tokens,
                "period" => &mut raw.period,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    raw.unknown_fields.push(key);
                    continue;
                }
            };
            *slot = Some(map.next_value::<FieldValue>()?);
        }
        Ok(raw)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawBudget, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Self::not_an_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_none<E: de::Error>(self) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawBudget, E> {
        Self::not_an_object()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawBudget, D::Error> {
        RawBudget::deserialize(d)
    }
}
