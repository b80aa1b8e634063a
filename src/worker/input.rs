//! Reading request bodies and path parts strictly: every bad input gets a
//! specific 400 code, and token counts go through the core's
//! [`crate::tokens_from_f64`].

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::http::ApiError;
use crate::tokens_from_f64;

/// A JSON object body, with its fields checked against `allowed`.
///
/// # Errors
/// `invalid-type` when the body is not an object; `unknown-field` for a
/// field not in `allowed` (most often a typo).
pub fn object<'a>(value: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::new(
            400,
            "invalid-type",
            "the request body must be a JSON object",
        ));
    };
    if let Some(name) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_field(
            "unknown-field",
            name,
            format!(
                "unknown field {name:?}: expected one of {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

fn missing(name: &str) -> ApiError {
    ApiError::bad_field("missing-field", name, format!("{name} is required"))
}

/// A token count field (`None` when absent or null and not `required`).
///
/// # Errors
/// `missing-field`, `invalid-type`, and the core's `invalid-number`,
/// `negative-tokens`, `fractional-tokens`, `too-many-tokens`.
pub fn tokens(
    map: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<u64>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) if required => Err(missing(name)),
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            // JSON integers beyond f64's exact range arrive rounded: still
            // above MAX_TOKENS, so still refused.
            let value = n.as_f64().unwrap_or(f64::INFINITY);
            Ok(Some(tokens_from_f64(value, name)?))
        }
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a number"),
        )),
    }
}

/// A short text field: 1 to `max` characters, none of them a control or
/// an invisible formatting character (the core's
/// [`shown_as_written`](crate::text::shown_as_written)).
///
/// # Errors
/// `missing-field`, `invalid-type`, `invalid-value`.
pub fn text(
    map: &Map<String, Value>,
    name: &str,
    required: bool,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) if required => Err(missing(name)),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => text_value(s, name, max).map(Some),
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a string"),
        )),
    }
}

/// Checks one text value by the rule of [`text`].
///
/// # Errors
/// `invalid-value`.
pub fn text_value(s: &str, name: &str, max: usize) -> Result<String, ApiError> {
    if !crate::text::valid_id(s, max) {
        Err(ApiError::bad_field(
            "invalid-value",
            name,
            format!(
                "{name} must be 1 to {max} characters without control, bidirectional or \
                 zero-width characters"
            ),
        ))
    } else {
        Ok(s.to_owned())
    }
}

/// A whole number in `range`: any JSON number whose value is whole (`60`,
/// `60.0` and `6e1` alike), the one rule for whole numbers that token counts
/// follow too. `None` when absent or null.
///
/// # Errors
/// `invalid-type` for a non-number; `invalid-value` for a fraction, a
/// non-finite number or one outside `range`.
pub fn whole(
    map: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ApiError> {
    let out_of_range = || {
        ApiError::bad_field(
            "invalid-value",
            name,
            format!(
                "{name} must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    };
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let value = n.as_f64().unwrap_or(f64::NAN);
            crate::token_count(value)
                .filter(|v| range.contains(v))
                .map(Some)
                .ok_or_else(out_of_range)
        }
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a number"),
        )),
    }
}

/// A request header's value as the client wrote it, in UTF-8 (the core's
/// [`header_value`](crate::text::header_value)). `None` when absent.
///
/// # Errors
/// 400 `invalid-value` when its bytes are not UTF-8.
pub fn header_text(raw: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    crate::text::header_value(&raw).map(Some).ok_or_else(|| {
        ApiError::bad_field(
            "invalid-value",
            name,
            format!("the {name} header must be UTF-8 text"),
        )
    })
}
/// A request id: 1 to 128 visible ASCII characters.
///
/// # Errors
/// `invalid-type`, `invalid-request-id`.
pub fn request_id(map: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if valid_request_id(s) => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ApiError::bad_field(
            "invalid-request-id",
            name,
            format!("{name} must be 1 to 128 visible ASCII characters"),
        )),
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a string"),
        )),
    }
}

fn valid_request_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// An instant field: an ISO 8601 / RFC 3339 string or epoch milliseconds.
///
/// # Errors
/// `invalid-instant`, `invalid-type`.
pub fn instant(map: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let bad = || {
        ApiError::bad_field(
            "invalid-instant",
            name,
            format!("{name} must be an ISO 8601 date-time with a time zone, or epoch milliseconds"),
        )
    };
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => crate::time::parse_rfc3339(s).map(Some).ok_or_else(bad),
        Some(Value::Number(n)) => {
            let ms = n.as_f64().filter(|v| v.is_finite() && v.fract() == 0.0);
            ms.and_then(|v| Utc.timestamp_millis_opt(v as i64).single())
                .map(Some)
                .ok_or_else(bad)
        }
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a string or a number"),
        )),
    }
}

/// Checks a port id from the path: `[A-Za-z0-9._-]{1,64}`.
///
/// # Errors
/// 400 `invalid-port`.
pub fn port(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "invalid-port",
            "a port id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
        ))
    }
}
