//! Budget settings: reading a stored value tolerantly, merging an update
//! strictly. A budget counts in tokens (the default) or in dollars
//! ([`Unit::Usd`], caps kept as whole micro-dollars).

mod calendar_fields;
mod raw;
mod unit;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

pub use raw::{FieldValue, RawBudget};
pub use unit::Unit;

use crate::pricing::{usd_micros, usd_number, Price};
use crate::tokens::tokens_from_f64;
use crate::{Calendar, CalendarChange, Error, ErrorCode, Period};

/// The soft cap of a port with no stored budget.
pub const DEFAULT_SOFT_CAP_TOKENS: u64 = 100_000;
/// The hard cap of a port with no stored budget.
pub const DEFAULT_HARD_CAP_TOKENS: u64 = 500_000;

/// A port's budget settings.
///
/// Serializes with the field names JS callers use (`enabled`,
/// `softCapTokens`, `hardCapTokens`, `period`; then `unit`, `softCapUsd`,
/// `hardCapUsd` in decimal dollars and `fallbackPrice` when the budget has
/// any money setting: a token budget keeps the original's shape). There is
/// deliberately no `Deserialize`: untrusted input goes through
/// [`RawBudget`], then [`Budget::normalize`] (stored values) or
/// [`Budget::merge`] (updates).
///
/// The gate's rules ([`decide`](crate::decide)) judge amounts in the
/// budget's [`unit`](Budget::unit): tokens, or micro-dollars against
/// [`Budget::hard_cap`] and [`Budget::soft_cap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// What the caps count.
    pub unit: Unit,
    /// The soft cap of a `usd` budget, in micro-dollars (`None`: the hard
    /// cap, so no call is flagged before it).
    pub soft_cap_usd: Option<u64>,
    /// The hard cap of a `usd` budget, in micro-dollars (a `usd` budget
    /// always has one; `None` on a token budget that never had one).
    pub hard_cap_usd: Option<u64>,
    /// The price of a model the price table does not know, for this port's
    /// calls: without it, a `usd` budget refuses such calls
    /// (`unpriced-model`).
    pub fallback_price: Option<Price>,
    /// The calendar the periods follow (time zone, week start, month
    /// start day); UTC by default.
    pub calendar: Calendar,
    /// A calendar change in progress, if any (set by the gate on a save
    /// that changes the calendar, [`Budget::calendar_changed`]).
    pub calendar_change: Option<CalendarChange>,
}

impl Default for Budget {
    /// Disabled, in tokens, soft cap 100 000, hard cap 500 000, monthly.
    fn default() -> Budget {
        Budget {
            enabled: false,
            soft_cap_tokens: DEFAULT_SOFT_CAP_TOKENS,
            hard_cap_tokens: DEFAULT_HARD_CAP_TOKENS,
            period: Period::Month,
            unit: Unit::Tokens,
            soft_cap_usd: None,
            hard_cap_usd: None,
            fallback_price: None,
            calendar: Calendar::UTC,
            calendar_change: None,
        }
    }
}

impl Serialize for Budget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let money = self.has_money_settings();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("enabled", &self.enabled)?;
        map.serialize_entry("softCapTokens", &self.soft_cap_tokens)?;
        map.serialize_entry("hardCapTokens", &self.hard_cap_tokens)?;
        map.serialize_entry("period", &self.period)?;
        if money {
            map.serialize_entry("unit", self.unit.as_str())?;
            map.serialize_entry("softCapUsd", &self.soft_cap_usd.map(usd_number))?;
            map.serialize_entry("hardCapUsd", &self.hard_cap_usd.map(usd_number))?;
            map.serialize_entry("fallbackPrice", &self.fallback_price.map(|p| p.json()))?;
        }
        calendar_fields::write(&mut map, &self.calendar)?;
        calendar_fields::write_change(&mut map, &self.calendar_change)?;
        map.end()
    }
}

impl Budget {
    /// True when any money setting is set (a `usd` unit, a cap in dollars or
    /// a fallback price): a budget without one has the original's shape.
    pub fn has_money_settings(&self) -> bool {
        self.unit == Unit::Usd
            || self.soft_cap_usd.is_some()
            || self.hard_cap_usd.is_some()
            || self.fallback_price.is_some()
    }

    /// A call's money hold: the one priced by the price table, else its
    /// input and output estimates at the port's fallback price
    /// ([`crate::pricing::bound`]), else none.
    pub fn money_bound(&self, priced: Option<u64>, unpriced: Option<(u64, u64)>) -> Option<u64> {
        priced.or_else(|| {
            let (input, output) = unpriced?;
            Some(crate::pricing::bound(input, output, &self.fallback_price?))
        })
    }

    /// A call's cost: the one priced by the price table, else its tokens at
    /// the port's fallback price ([`crate::pricing::cost`]), else none.
    pub fn money_cost(&self, priced: Option<u64>, tokens: &crate::TokenCounts) -> Option<u64> {
        priced.or_else(|| Some(crate::pricing::cost(tokens, &self.fallback_price?)))
    }

    /// The hard cap in the budget's unit: tokens, or micro-dollars.
    #[inline]
    pub fn hard_cap(&self) -> u64 {
        match self.unit {
            Unit::Tokens => self.hard_cap_tokens,
            Unit::Usd => self.hard_cap_usd.unwrap_or(0),
        }
    }

    /// The soft cap in the budget's unit: tokens, or micro-dollars (a
    /// `usd` budget without one uses its hard cap).
    #[inline]
    pub fn soft_cap(&self) -> u64 {
        match self.unit {
            Unit::Tokens => self.soft_cap_tokens,
            Unit::Usd => self.soft_cap_usd.unwrap_or_else(|| self.hard_cap()),
        }
    }

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
            unit: match &raw.unit {
                Some(FieldValue::Text(name)) => name.parse().unwrap_or(Unit::Tokens),
                _ => Unit::Tokens,
            },
            soft_cap_usd: usd_value(&raw.soft_cap_usd),
            hard_cap_usd: usd_value(&raw.hard_cap_usd),
            fallback_price: raw
                .fallback_price
                .as_ref()
                .and_then(|v| Price::from_json(v).ok()),
            calendar: calendar_fields::normalize(raw),
            calendar_change: calendar_fields::change(raw),
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
    /// - [`ErrorCode::InvalidValue`] (`unit`), then those of
    ///   [`usd_micros`] for `softCapUsd` / `hardCapUsd` and of
    ///   [`Price::from_json`] for `fallbackPrice` (`null` removes it);
    /// - [`ErrorCode::InvalidValue`]: a `usd` budget without `hardCapUsd`;
    ///   [`ErrorCode::SoftCapAboveHardCap`]: `softCapUsd` above `hardCapUsd`;
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
        if update.calendar_change.is_some() && !update.not_an_object {
            return Err(Error::new(
                ErrorCode::UnknownField,
                Some("calendarChange"),
                "calendarChange is read only: it follows from saving another calendar",
            ));
        }
        let fields = BudgetFields::read(update, "a budget update")?;
        let merged = Budget {
            enabled: fields.enabled.unwrap_or(self.enabled),
            soft_cap_tokens: fields.soft_cap_tokens.unwrap_or(self.soft_cap_tokens),
            hard_cap_tokens: fields.hard_cap_tokens.unwrap_or(self.hard_cap_tokens),
            period: fields.period.unwrap_or(self.period),
            unit: fields.unit.unwrap_or(self.unit),
            soft_cap_usd: fields.soft_cap_usd.or(self.soft_cap_usd),
            hard_cap_usd: fields.hard_cap_usd.or(self.hard_cap_usd),
            fallback_price: fields.fallback_price.unwrap_or(self.fallback_price),
            calendar: fields.calendar.over(self.calendar),
            calendar_change: self.calendar_change,
        };
        merged.check_money(fields.soft_cap_usd.is_some())?;
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
        let unit = fields.unit.unwrap_or(Unit::Tokens);
        // A budget in dollars needs no token caps (they keep their defaults).
        let token_cap = |value: Option<u64>, name: &str, default: u64| match (value, unit) {
            (Some(n), _) => Ok(n),
            (None, Unit::Usd) => Ok(default),
            (None, Unit::Tokens) => Err(missing(name)),
        };
        let budget = Budget {
            enabled: fields.enabled.ok_or_else(|| missing("enabled"))?,
            soft_cap_tokens: token_cap(
                fields.soft_cap_tokens,
                "softCapTokens",
                DEFAULT_SOFT_CAP_TOKENS,
            )?,
            hard_cap_tokens: token_cap(
                fields.hard_cap_tokens,
                "hardCapTokens",
                DEFAULT_HARD_CAP_TOKENS,
            )?,
            period: fields.period.ok_or_else(|| missing("period"))?,
            unit,
            soft_cap_usd: fields.soft_cap_usd,
            hard_cap_usd: fields.hard_cap_usd,
            fallback_price: fields.fallback_price.flatten(),
            calendar: fields.calendar.over(Calendar::UTC),
            calendar_change: calendar_fields::change(raw),
        };
        if unit == Unit::Usd && budget.hard_cap_usd.is_none() {
            return Err(missing("hardCapUsd"));
        }
        Ok(budget)
    }

    /// The rules of the money settings of a merged budget: a `usd` budget
    /// has a hard cap in dollars, and its soft cap is not above it.
    fn check_money(&self, soft_given: bool) -> Result<(), Error> {
        if self.unit == Unit::Usd && self.hard_cap_usd.is_none() {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                Some("hardCapUsd"),
                "a budget in usd needs hardCapUsd (decimal dollars)",
            ));
        }
        if let (Some(soft), Some(hard)) = (self.soft_cap_usd, self.hard_cap_usd) {
            if soft > hard {
                return Err(Error::new(
                    ErrorCode::SoftCapAboveHardCap,
                    Some(if soft_given {
                        "softCapUsd"
                    } else {
                        "hardCapUsd"
                    }),
                    "softCapUsd cannot exceed hardCapUsd",
                ));
            }
        }
        Ok(())
    }
}

/// The fields of untrusted budget input that are present (not missing, not
/// `null`), each checked on its own.
struct BudgetFields {
    enabled: Option<bool>,
    soft_cap_tokens: Option<u64>,
    hard_cap_tokens: Option<u64>,
    period: Option<Period>,
    unit: Option<Unit>,
    soft_cap_usd: Option<u64>,
    hard_cap_usd: Option<u64>,
    /// `Some(None)`: `fallbackPrice: null`, which removes it.
    fallback_price: Option<Option<Price>>,
    calendar: calendar_fields::CalendarFields,
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
                    "unknown field {name:?}: a budget has enabled, softCapTokens, hardCapTokens, period, unit, softCapUsd, hardCapUsd, fallbackPrice, timeZone, weekStart and monthStartDay"
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
                tokens_from_f64(n, field)?; // an error: no count is negative
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
            unit: match &raw.unit {
                None | Some(FieldValue::Null) => None,
                Some(FieldValue::Text(name)) => Some(name.parse()?),
                Some(_) => return Err(Error::invalid_type("unit", "a string")),
            },
            soft_cap_usd: usd_input(&raw.soft_cap_usd, "softCapUsd")?,
            hard_cap_usd: usd_input(&raw.hard_cap_usd, "hardCapUsd")?,
            fallback_price: match &raw.fallback_price {
                None => None,
                Some(serde_json::Value::Null) => Some(None),
                Some(v) => Some(Some(Price::from_json(v).map_err(|e| {
                    let field = e
                        .field()
                        .map_or("fallbackPrice".to_owned(), |f| format!("fallbackPrice.{f}"));
                    Error::new(e.code(), Some(&field), e.message())
                })?)),
            },
            calendar: calendar_fields::CalendarFields::read(raw)?,
        })
    }
}

/// A cap in dollars of an update, as whole micro-dollars; `None` when
/// absent or `null`.
fn usd_input(value: &Option<FieldValue>, field: &str) -> Result<Option<u64>, Error> {
    match value {
        None | Some(FieldValue::Null) => Ok(None),
        Some(FieldValue::Number(n)) => usd_micros(*n, field).map(Some),
        Some(_) => Err(Error::invalid_type(field, "a number of dollars")),
    }
}

/// A stored cap in dollars, read tolerantly: `None` unless valid.
fn usd_value(value: &Option<FieldValue>) -> Option<u64> {
    match value {
        Some(FieldValue::Number(n)) => usd_micros(*n, "cap").ok(),
        _ => None,
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
