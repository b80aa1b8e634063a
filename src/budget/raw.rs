//! Untrusted budget input as found: each field with its JSON/JS type kept,
//! so the rules can tell "wrongly typed" from "missing".

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Budget;
use crate::Period;

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
    /// `unit`, if present.
    pub unit: Option<FieldValue>,
    /// `softCapUsd`, if present.
    pub soft_cap_usd: Option<FieldValue>,
    /// `hardCapUsd`, if present.
    pub hard_cap_usd: Option<FieldValue>,
    /// `fallbackPrice`, if present, as given (an object of dollars per
    /// million tokens, or `null`).
    pub fallback_price: Option<serde_json::Value>,
    /// `timeZone`, if present.
    pub time_zone: Option<FieldValue>,
    /// `weekStart`, if present.
    pub week_start: Option<FieldValue>,
    /// `monthStartDay`, if present.
    pub month_start_day: Option<FieldValue>,
    /// `calendarChange`, if present (stored budgets only; read only).
    pub calendar_change: Option<serde_json::Value>,
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
            && self.unit.is_none()
            && self.soft_cap_usd.is_none()
            && self.hard_cap_usd.is_none()
            && self.fallback_price.is_none()
            && self.time_zone.is_none()
            && self.week_start.is_none()
            && self.month_start_day.is_none()
            && self.calendar_change.is_none()
    }

    /// The raw form of a valid budget (every field present).
    pub fn from_budget(budget: &Budget) -> RawBudget {
        RawBudget {
            enabled: Some(budget.enabled.into()),
            soft_cap_tokens: Some(budget.soft_cap_tokens.into()),
            hard_cap_tokens: Some(budget.hard_cap_tokens.into()),
            period: Some(budget.period.into()),
            unit: Some(FieldValue::Text(budget.unit.as_str().to_owned())),
            soft_cap_usd: budget
                .soft_cap_usd
                .map(|m| FieldValue::Number(crate::pricing::usd_number(m))),
            hard_cap_usd: budget
                .hard_cap_usd
                .map(|m| FieldValue::Number(crate::pricing::usd_number(m))),
            fallback_price: budget.fallback_price.map(|p| p.json()),
            time_zone: Some(FieldValue::Text(budget.calendar.zone.name().to_owned())),
            week_start: Some(FieldValue::Text(
                crate::calendar::week_day_name(budget.calendar.week_start).to_owned(),
            )),
            month_start_day: Some(u64::from(budget.calendar.month_start_day).into()),
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
                "unit" => &mut raw.unit,
                "softCapUsd" => &mut raw.soft_cap_usd,
                "hardCapUsd" => &mut raw.hard_cap_usd,
                "timeZone" => &mut raw.time_zone,
                "weekStart" => &mut raw.week_start,
                "monthStartDay" => &mut raw.month_start_day,
                "fallbackPrice" => {
                    raw.fallback_price = Some(map.next_value::<serde_json::Value>()?);
                    continue;
                }
                "calendarChange" => {
                    raw.calendar_change = Some(map.next_value::<serde_json::Value>()?);
                    continue;
                }
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
