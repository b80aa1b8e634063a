//! Conversions at the JS boundary: untrusted JS values in, plain objects out.
//!
//! Every reader here returns the core's [`Error`] so that one function,
//! [`to_js_error`], decides what a JS caller sees.

use chrono::{DateTime, Utc};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::{tokens_from_f64, Budget, Error, ErrorCode, FieldValue, Period, RawBudget, UsageRow};

/// The `name` of every error the package throws.
pub(crate) const ERROR_NAME: &str = "AiBudgetError";

/// The largest distance from the epoch a JS `Date` can hold, in milliseconds.
const MAX_DATE_MS: f64 = 8.64e15;

/// Turns a core error into a thrown JS `Error` with `name`, `code`, `field`.
pub(crate) fn to_js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(err.message());
    js.set_name(ERROR_NAME);
    set(&js, "code", err.code().as_str());
    if let Some(field) = err.field() {
        set(&js, "field", field);
    }
    js.into()
}

/// Sets `key` on an object we created (a plain object never refuses).
pub(crate) fn set(target: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &JsValue::from_str(key), &value.into());
}

/// A new plain object.
pub(crate) fn object() -> JsValue {
    Object::new().into()
}

/// A token count: a non-negative whole JS number no larger than 2^53 - 1.
pub(crate) fn tokens(value: &JsValue, field: &str) -> Result<u64, Error> {
    match value.as_f64() {
        Some(n) => tokens_from_f64(n, field),
        None if value.is_undefined() => Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} is missing: it must be a number of tokens"),
        )),
        None => Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be a number of tokens"),
        )),
    }
}

/// A period name: exactly `day`, `week` or `month`.
pub(crate) fn period(value: &JsValue) -> Result<Period, Error> {
    match value.as_string() {
        Some(name) => name.parse(),
        None => Err(Error::new(
            ErrorCode::UnknownPeriod,
            Some("period"),
            "period must be one of \"day\", \"week\", \"month\"",
        )),
    }
}

/// An instant: a valid `Date`, epoch milliseconds, or an RFC 3339 string
/// (`2026-11-28T17:00:00Z`, `...+01:00`). `None` means "now".
pub(crate) fn instant(value: Option<&JsValue>, field: &str) -> Result<DateTime<Utc>, Error> {
    let Some(value) = value.filter(|v| !v.is_undefined() && !v.is_null()) else {
        return Ok(crate::web::clock_now());
    };
    let invalid = |what: &str| {
        Error::new(
            ErrorCode::InvalidInstant,
            Some(field),
            format!(
                "{field} must be a valid Date, epoch milliseconds or an RFC 3339 string ({what})"
            ),
        )
    };
    let millis = if let Some(date) = value.dyn_ref::<js_sys::Date>() {
        date.get_time()
    } else if let Some(n) = value.as_f64() {
        n
    } else if let Some(text) = value.as_string() {
        let parsed =
            DateTime::parse_from_rfc3339(&text).map_err(|_| invalid("unreadable string"))?;
        return Ok(parsed.with_timezone(&Utc));
    } else {
        return Err(invalid("wrong type"));
    };
    if !millis.is_finite() || millis.abs() > MAX_DATE_MS {
        return Err(invalid("out of range"));
    }
    // JS `Date` drops fractional milliseconds the same way (TimeClip).
    DateTime::from_timestamp_millis(millis.trunc() as i64).ok_or_else(|| invalid("out of range"))
}

/// An instant as a JS `Date`.
pub(crate) fn date(at: DateTime<Utc>) -> JsValue {
    js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64)).into()
}

/// The fields of an object as the core's [`RawBudget`]. Values serde cannot
/// read (a symbol, a function) count as "not an object".
pub(crate) fn raw_budget(value: &JsValue) -> RawBudget {
    serde_wasm_bindgen::from_value(value.clone()).unwrap_or(RawBudget {
        not_an_object: true,
        ..RawBudget::default()
    })
}

/// A complete, valid budget (as `normalizeBudget` or `mergeBudget` return).
/// Unlike `normalizeBudget`, nothing is defaulted: a missing or wrong field
/// is an error, so a caller's mistake cannot silently become a default.
pub(crate) fn strict_budget(value: &JsValue, what: &str) -> Result<Budget, Error> {
    let raw = raw_budget(value);
    if raw.not_an_object {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some(what),
            format!("{what} must be a budget object"),
        ));
    }
    let fields = [
        (&raw.enabled, "enabled"),
        (&raw.soft_cap_tokens, "softCapTokens"),
        (&raw.hard_cap_tokens, "hardCapTokens"),
        (&raw.period, "period"),
    ];
    for (slot, name) in fields {
        if matches!(slot, None | Some(FieldValue::Null)) {
            return Err(Error::new(
                ErrorCode::InvalidType,
                Some(name),
                format!("{what} has no {name}: a budget needs enabled, softCapTokens, hardCapTokens and period"),
            ));
        }
    }
    // Every field is present, so the merge over the default takes none of
    // the default's values: it only applies the core's validation.
    Budget::default().merge(&raw)
}

/// A budget as a plain object with the seed's field names.
pub(crate) fn budget_object(budget: &Budget) -> JsValue {
    let out = object();
    set(&out, "enabled", budget.enabled);
    set(&out, "softCapTokens", budget.soft_cap_tokens as f64);
    set(&out, "hardCapTokens", budget.hard_cap_tokens as f64);
    set(&out, "period", budget.period.as_str());
    out
}

/// Ledger rows: an array of `{feature, inputTokens, outputTokens, createdAt}`.
pub(crate) fn usage_rows(value: &JsValue) -> Result<Vec<UsageRow>, Error> {
    if !Array::is_array(value) {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("rows"),
            "rows must be an array of usage rows",
        ));
    }
    let array: &Array = value.unchecked_ref();
    let mut rows = Vec::with_capacity(array.length() as usize);
    for (index, row) in array.iter().enumerate() {
        let field = |name: &str| format!("rows[{index}].{name}");
        if !row.is_object() {
            return Err(Error::new(
                ErrorCode::InvalidType,
                Some(&format!("rows[{index}]")),
                format!("rows[{index}] must be an object"),
            ));
        }
        let get = |name: &str| Reflect::get(&row, &JsValue::from_str(name)).unwrap_or_default();
        let feature = get("feature").as_string().ok_or_else(|| {
            let name = field("feature");
            Error::new(
                ErrorCode::InvalidType,
                Some(&name),
                format!("{name} must be a string"),
            )
        })?;
        let created = get("createdAt");
        if created.is_undefined() || created.is_null() {
            // Missing here is an error, never "now".
            return Err(Error::new(
                ErrorCode::InvalidInstant,
                Some(&field("createdAt")),
                format!("{} is missing", field("createdAt")),
            ));
        }
        rows.push(UsageRow {
            feature,
            input_tokens: tokens(&get("inputTokens"), &field("inputTokens"))?,
            output_tokens: tokens(&get("outputTokens"), &field("outputTokens"))?,
            created_at: instant(Some(&created), &field("createdAt"))?,
        });
    }
    Ok(rows)
}

/// A `Record<string, number>` safe for any key, `__proto__` included:
/// keys are defined as own data properties, never assigned.
pub(crate) fn record<'a>(entries: impl IntoIterator<Item = (&'a str, f64)>) -> JsValue {
    let out = Object::new();
    for (key, value) in entries {
        let descriptor = object();
        set(&descriptor, "value", value);
        set(&descriptor, "enumerable", true);
        set(&descriptor, "writable", true);
        set(&descriptor, "configurable", true);
        let _ = Reflect::define_property(&out, &JsValue::from_str(key), descriptor.unchecked_ref());
    }
    out.into()
}
