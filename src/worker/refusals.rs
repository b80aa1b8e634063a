//! The answers of the gate's refusals: a budget that refuses a call (429),
//! a call with no price in a `usd` budget (400), and a total past the
//! exact range (409).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::http::ApiError;
use crate::amount::TotalTooLarge;
use crate::gate::Refusal;
use crate::pricing::usd_number;
use crate::time::iso;

/// What a refusal by the gate says (the 429's body members and a
/// refused check's answer): reason, the cap that refused (`scope`,
/// `scopeId`), its numbers, the period and its reset.
pub fn refusal_body(r: &Refusal) -> Value {
    let left = r.cap.saturating_sub(r.used);
    let mut body = json!({
        "ok": false,
        "reason": r.reason,
        "scope": r.scope,
        "scopeId": r.scope_id,
        "unit": r.unit.as_str(),
        "periodStart": iso(crate::time::instant(r.period_start)),
        "resetsAt": iso(crate::time::instant(r.resets_at)),
    });
    match r.unit {
        crate::Unit::Tokens => {
            body["usedTokens"] = r.used.into();
            body["capTokens"] = r.cap.into();
            body["remaining"] = left.into();
        }
        crate::Unit::Usd => {
            body["usedUsd"] = usd_number(r.used).into();
            body["capUsd"] = usd_number(r.cap).into();
            body["remainingUsd"] = usd_number(left).into();
        }
    }
    if let Some(room) = &r.room {
        body["room"] = crate::worker::api::json::room_json(room, r.unit);
    }
    body
}

/// The 400 for a call with no price in a `usd` budget: `unpriced-model`
/// naming `model`, or `missing-field` when the call named none.
pub fn unpriced(model: Option<&str>) -> ApiError {
    match model {
        Some(model) => ApiError::bad_field(
                "unpriced-model",
                "model",
                format!(
                    "the port's budget is in usd and model {model:?} has no price (set one with PUT /v1/prices/{{model}} or the budget's fallbackPrice); nothing was held or counted"
                ),
            ).with_extra(json!({ "model": model })),
        None => ApiError::bad_field(
            "missing-field",
            "estimatedUsd",
            "the port's budget is in usd: give estimatedUsd, or model with estimatedInputTokens and estimatedOutputTokens",
        ),
    }
}

/// The 429 answer for a refusal by the gate (the core's rule, on the
/// numbers the gate read).
pub fn refusal(r: &Refusal, now: DateTime<Utc>) -> ApiError {
    let resets_at = crate::time::instant(r.resets_at);
    let retry_after = crate::period::seconds_until(resets_at, now);
    let whose = match (&r.scope_id, r.unit) {
        (Some(id), _) => format!("the {} {id:?}'s token cap", r.scope),
        (None, crate::Unit::Tokens) => "the port's token budget".to_owned(),
        (None, crate::Unit::Usd) => "the port's budget in usd".to_owned(),
    };
    let amounts = match r.unit {
        crate::Unit::Tokens => format!("{} of {} tokens", r.used, r.cap),
        crate::Unit::Usd => format!(
            "${} of ${}",
            crate::pricing::usd_string(r.used),
            crate::pricing::usd_string(r.cap)
        ),
    };
    let mut extra = refusal_body(r);
    extra["retryAfterSeconds"] = retry_after.into();
    let mut error = ApiError::new(
        429,
        "budget-exceeded",
        format!(
            "{whose} refuses this call ({}): {amounts} used; it resets at {}",
            r.reason,
            iso(resets_at)
        ),
    )
    .with_extra(extra)
    .with_retry_after(retry_after);
    let headers = error.headers_mut();
    headers.push(("X-Budget-Scope", r.scope.clone()));
    if let Some(id) = &r.scope_id {
        headers.push(("X-Budget-Scope-Id", id.clone()));
    }
    error
}

/// The 409 answer for a write that would take a total past 2^53 - 1:
/// `unit` says which (`tokens`, or `usd` with `wouldBe` and `max` in
/// micro-dollars).
pub fn total_too_large(r: &TotalTooLarge) -> ApiError {
    let what = match r.unit {
        crate::Unit::Tokens => format!("{} tokens", r.would_be),
        crate::Unit::Usd => format!(
            "{} micro-dollars (${})",
            r.would_be,
            crate::pricing::usd_string(r.would_be)
        ),
    };
    ApiError::conflict(
            "total-too-large",
            format!(
                "this write would take the port's total for a period to {what}, past {} (the largest amount kept exactly); nothing was written",
                r.max
            ),
        ).with_extra(json!({ "wouldBe": r.would_be, "max": r.max, "unit": r.unit.as_str() }))
}

/// The 503 for a reservation whose group could not be asked for the
/// allowance it needs (its object unreachable): nothing was held.
pub fn group_unavailable(group: &str) -> ApiError {
    ApiError::new(
            503,
            "group-unavailable",
            format!("the port's group {group:?} could not be reached for an allowance; nothing was held, try again"),
        ).with_retry_after(1)
}
