//! Conversions at the JS boundary: untrusted JS values in, plain objects out.
//!
//! Every reader here returns the core's [`Error`] so that one function,
//! [`to_js_error`], decides what a JS caller sees.

use chrono::{DateTime, Utc};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::pricing::{usd_micros, usd_number};
use crate::{
    tokens_from_f64, Budget, Error, ErrorCode, FieldValue, Period, RawBudget, Unit, UsageRow,
};

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

#[wasm_bindgen]
extern "C" {
    // `Reflect.set` without js-sys's try/catch wrapper: on the plain
    // objects we build it cannot throw, and the wrapper costs more than the
    // call.
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> bool;
    // Caller objects may have getters that throw: caught, so an exception
    // never unwinds through wasm frames (which would leak their stack).
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
}

/// Every property name the binding reads or writes; the first eight are
/// the budget's fields (`raw_budget` matches them by position).
const KEY_NAMES: [&str; 34] = [
    "enabled",
    "softCapTokens",
    "hardCapTokens",
    "period",
    "unit",
    "softCapUsd",
    "hardCapUsd",
    "fallbackPrice",
    "ok",
    "remaining",
    "usedTokens",
    "softCap",
    "resetsAt",
    "reason",
    "capTokens",
    "state",
    "softPercent",
    "hardPercent",
    "periodStart",
    "calls",
    "byFeature",
    "breakdown",
    "feature",
    "tokens",
    "inputTokens",
    "outputTokens",
    "createdAt",
    "code",
    "field",
    "value",
    "enumerable",
    "writable",
    "configurable",
    "name",
];

thread_local! {
    // The names as JS strings, made once: a name copied from wasm memory on
    // every call was the main cost of the object API (measured with
    // bench/pkg/decisions.mjs).
    static KEYS: Vec<JsValue> = KEY_NAMES.iter().map(|name| JsValue::from_str(name)).collect();
}

/// Runs `f` with `name` as a JS string (a cached one for known names).
fn with_key<R>(name: &str, f: impl FnOnce(&JsValue) -> R) -> R {
    match KEY_NAMES.iter().position(|known| *known == name) {
        Some(index) => KEYS.with(|keys| f(&keys[index])),
        None => f(&JsValue::from_str(name)),
    }
}

/// Sets `key` on an object we created (a plain object never refuses).
pub(crate) fn set(target: &JsValue, key: &str, value: impl Into<JsValue>) {
    let value = value.into();
    with_key(key, |key| reflect_set(target, key, &value));
}

/// Reads `key` from an object (getters run; a missing key, or a getter that
/// throws, is `undefined`).
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    with_key(key, |key| {
        reflect_get(target, key).unwrap_or(JsValue::UNDEFINED)
    })
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
        return crate::time::parse_rfc3339(&text).ok_or_else(|| invalid("unreadable string"));
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

/// The own enumerable fields of an object as the core's [`RawBudget`]
/// (what JSON would carry). Anything but a plain object or class instance
/// (an array, a function, a primitive) is "not an object".
///
/// Read by hand rather than through serde: names are matched as JS strings,
/// and only unknown names are copied into Rust, which made the object API
/// several times faster.
pub(crate) fn raw_budget(value: &JsValue) -> RawBudget {
    let mut raw = RawBudget::default();
    if !value.is_object() || Array::is_array(value) {
        raw.not_an_object = true;
        return raw;
    }
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let field = KEYS.with(|keys| keys[..8].iter().position(|known| key == *known));
        let slot = match field {
            Some(0) => &mut raw.enabled,
            Some(1) => &mut raw.soft_cap_tokens,
            Some(2) => &mut raw.hard_cap_tokens,
            Some(3) => &mut raw.period,
            Some(4) => &mut raw.unit,
            Some(5) => &mut raw.soft_cap_usd,
            Some(6) => &mut raw.hard_cap_usd,
            Some(_) => {
                let price = reflect_get(value, &key).unwrap_or(JsValue::UNDEFINED);
                raw.fallback_price = Some(json_of(&price, 0));
                continue;
            }
            None => {
                let name = key.as_string().unwrap_or_default();
                let slot = match name.as_str() {
                    "timeZone" => &mut raw.time_zone,
                    "weekStart" => &mut raw.week_start,
                    "monthStartDay" => &mut raw.month_start_day,
                    "calendarChange" => {
                        let change = reflect_get(value, &key).unwrap_or(JsValue::UNDEFINED);
                        raw.calendar_change = Some(json_of(&change, 0));
                        continue;
                    }
                    _ => {
                        raw.unknown_fields.push(name);
                        continue;
                    }
                };
                *slot = Some(classify(
                    reflect_get(value, &key).unwrap_or(JsValue::UNDEFINED),
                ));
                continue;
            }
        };
        let field_value = reflect_get(value, &key).unwrap_or(JsValue::UNDEFINED);
        // Each probe is a call into JS: try the type the field should have
        // first, and classify fully only when it has another.
        let expected = match field {
            Some(0) => field_value.as_bool().map(FieldValue::Bool),
            Some(1 | 2 | 5 | 6) => field_value.as_f64().map(FieldValue::Number),
            _ => field_value.as_string().map(FieldValue::Text),
        };
        *slot = Some(expected.unwrap_or_else(|| classify(field_value)));
    }
    raw
}

/// One JS value, keeping its type, as the core's [`FieldValue`].
fn classify(value: JsValue) -> FieldValue {
    if value.is_undefined() || value.is_null() {
        FieldValue::Null
    } else if let Some(flag) = value.as_bool() {
        FieldValue::Bool(flag)
    } else if let Some(number) = value.as_f64() {
        FieldValue::Number(number)
    } else if let Some(text) = value.as_string() {
        FieldValue::Text(text)
    } else {
        FieldValue::Other
    }
}

/// A complete budget, read by the core's [`Budget::parse`]: nothing is
/// defaulted (a missing or wrong field is an error, so a caller's mistake
/// cannot silently become a default), and a soft cap above the hard cap is
/// judged as the gate judges it, so whatever `normalizeBudget` returns can
/// be evaluated.
pub(crate) fn strict_budget(value: &JsValue, what: &str) -> Result<Budget, Error> {
    let raw = raw_budget(value);
    if raw.not_an_object {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some(what),
            format!("{what} must be a budget object"),
        ));
    }
    Budget::parse(&raw)
}

/// A budget as a plain object with the seed's field names.
pub(crate) fn budget_object(budget: &Budget) -> JsValue {
    let out = object();
    set(&out, "enabled", budget.enabled);
    set(&out, "softCapTokens", budget.soft_cap_tokens as f64);
    set(&out, "hardCapTokens", budget.hard_cap_tokens as f64);
    set(&out, "period", budget.period.as_str());
    // A token budget keeps the original's shape.
    if budget.has_money_settings() {
        let dollars = |m: Option<u64>| m.map_or(JsValue::NULL, |m| usd_number(m).into());
        set(&out, "unit", budget.unit.as_str());
        set(&out, "softCapUsd", dollars(budget.soft_cap_usd));
        set(&out, "hardCapUsd", dollars(budget.hard_cap_usd));
        let price = budget.fallback_price.map_or(JsValue::NULL, |p| {
            let o = object();
            set(&o, "inputPerMTok", usd_number(p.input));
            set(&o, "cachedInputPerMTok", usd_number(p.cached_input));
            set(&o, "cacheWritePerMTok", usd_number(p.cache_write));
            set(&o, "outputPerMTok", usd_number(p.output));
            o
        });
        set(&out, "fallbackPrice", price);
    }
    let calendar = budget.calendar;
    if !calendar.is_default() {
        set(&out, "timeZone", calendar.zone.name());
        set(
            &out,
            "weekStart",
            crate::calendar::week_day_name(calendar.week_start),
        );
        set(&out, "monthStartDay", f64::from(calendar.month_start_day));
    }
    if let Some(change) = budget.calendar_change {
        let o = object();
        let previous = change.previous;
        set(&o, "timeZone", previous.zone.name());
        set(
            &o,
            "weekStart",
            crate::calendar::week_day_name(previous.week_start),
        );
        set(&o, "monthStartDay", f64::from(previous.month_start_day));
        // The JS Date writes the ISO form (chrono's formatting costs 2 KB).
        let until: js_sys::Date = date(change.until).unchecked_into();
        set(&o, "until", until.to_iso_string());
        set(&out, "calendarChange", o);
    }
    out
}

/// An amount in the budget's unit: a token count, or decimal dollars read
/// as whole micro-dollars (`tokens_field` or `usd_field` names it).
pub(crate) fn amount(
    value: &JsValue,
    unit: Unit,
    tokens_field: &str,
    usd_field: &str,
) -> Result<u64, Error> {
    match unit {
        Unit::Tokens => tokens(value, tokens_field),
        Unit::Usd => match value.as_f64() {
            Some(n) => usd_micros(n, usd_field),
            None => Err(Error::new(
                ErrorCode::InvalidType,
                Some(usd_field),
                format!("{usd_field} must be a number of dollars"),
            )),
        },
    }
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
        let get = |name: &str| get(&row, name);
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
        // The row's field names are only spelt out when there is an error
        // to report: on a long ledger that is most of the cost. (The second
        // reading fails as the first did; `err()` rather than `unwrap_err()`
        // keeps the value types' debug formatting out of the download.)
        let count = |name: &str| {
            let value = get(name);
            tokens(&value, name).map_err(|e| tokens(&value, &field(name)).err().unwrap_or(e))
        };
        rows.push(UsageRow {
            feature,
            input_tokens: count("inputTokens")?,
            output_tokens: count("outputTokens")?,
            created_at: instant(Some(&created), "createdAt").map_err(|e| {
                instant(Some(&created), &field("createdAt"))
                    .err()
                    .unwrap_or(e)
            })?,
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

/// A JS value as JSON, read field by field (no JSON text, so no JSON
/// parser in the download), for the core's readers of JSON input: what is
/// not JSON (a function, a symbol, a non-finite number) reads as `null`,
/// and so does nesting past 8 levels (caps are 3 deep).
pub(crate) fn json_of(value: &JsValue, depth: u8) -> serde_json::Value {
    use serde_json::Value;
    if let Some(b) = value.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = value.as_f64() {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    } else if let Some(s) = value.as_string() {
        Value::String(s)
    } else if depth > 8 || !value.is_object() || value.is_function() {
        Value::Null
    } else if js_sys::Array::is_array(value) {
        Value::Array(
            js_sys::Array::from(value)
                .iter()
                .map(|v| json_of(&v, depth + 1))
                .collect(),
        )
    } else {
        // Inserted one by one rather than collected: collecting into the
        // map sorts the pairs first, and that sort's code is kilobytes of
        // the download for keys that are already distinct.
        let object = js_sys::Object::from(value.clone());
        let mut fields = serde_json::Map::new();
        for key in js_sys::Object::keys(&object)
            .iter()
            .filter_map(|k| k.as_string())
        {
            let v = get(value, &key);
            fields.insert(key, json_of(&v, depth + 1));
        }
        Value::Object(fields)
    }
}
