//! The HTTP API's JSON shapes of the gate's values.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use worker::Response;

use crate::forecast::forecast_of;
use crate::gate::{Entry, Hold, PortLoad, ScopeLoad, StoredBudget};
use crate::pricing::usd_number;
use crate::time::instant;
use crate::time::iso;
use crate::worker::http::{json_response, set};
use crate::{cap_status, Budget, Decision, PeriodWindow, Unit};

/// What is left under the hard cap (`null` when the budget is disabled),
/// by the core's cap status, in the budget's unit: tokens, or dollars.
pub fn remaining(budget: &Budget, l: &PortLoad, now: DateTime<Utc>) -> Value {
    let left = cap_status(budget, l.gate_amount(budget.unit), now).remaining;
    match budget.unit {
        Unit::Tokens => left.into(),
        Unit::Usd => left.map(usd_number).into(),
    }
}

/// Micro-dollars, when known, as a JSON number of dollars (else `null`).
pub fn usd(micros: Option<u64>) -> Value {
    micros.map(usd_number).into()
}

/// A reservation as the API shows it (`Reservation` in the OpenAPI
/// document).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reservation<'a> {
    id: &'a str,
    port: &'a str,
    request_id: &'a str,
    feature: &'a str,
    user_id: Option<&'a str>,
    estimated_tokens: u64,
    estimated_usd: Option<f64>,
    state: &'static str,
    actual_tokens: Option<u64>,
    created_at: String,
    expires_at: String,
    settled_at: Option<String>,
}

/// A ledger row as the API shows it (`Entry` in the OpenAPI document).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerRow<'a> {
    id: u64,
    port_id: &'a str,
    user_id: Option<&'a str>,
    feature: &'a str,
    provider: &'a str,
    model: &'a str,
    input_tokens: u64,
    cached_input_tokens: u64,
    cache_write_tokens: u64,
    output_tokens: u64,
    reasoning_tokens: u64,
    total_tokens: u64,
    cost_usd: Option<f64>,
    price_version: Option<&'a str>,
    price_source: Option<&'a str>,
    request_id: &'a str,
    reservation_id: Option<&'a str>,
    estimated: bool,
    created_at: String,
    /// What funded it: `cap`, or each source and its amount in the
    /// budget's unit (`cap:70,cr_…:30`).
    funded_by: &'a str,
}

/// A port's load as the API shows it (`Load` in the OpenAPI document).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Load {
    used_tokens: u64,
    calls: u64,
    held_tokens: u64,
    expired_hold_tokens: u64,
    gate_tokens: u64,
    used_usd: f64,
    held_usd: f64,
    gate_usd: f64,
}

fn value_of<T: Serialize>(typed: &T) -> Value {
    serde_json::to_value(typed).unwrap_or_default()
}

/// A hold (a reservation).
pub fn hold(port: &str, h: &Hold) -> Value {
    value_of(&Reservation {
        id: &h.id,
        port,
        request_id: &h.request_id,
        feature: &h.feature,
        user_id: h.user_id.as_deref(),
        estimated_tokens: h.estimated_tokens,
        estimated_usd: h.estimated_usd.map(usd_number),
        state: h.state.as_str(),
        actual_tokens: h.actual_tokens,
        created_at: iso(instant(h.created_at)),
        expires_at: iso(instant(h.expires_at)),
        settled_at: h.settled_at.map(|at| iso(instant(at))),
    })
}

/// A ledger entry.
pub fn entry(port: &str, e: &Entry) -> Value {
    value_of(&LedgerRow {
        id: e.seq,
        port_id: port,
        user_id: e.user_id.as_deref(),
        feature: &e.feature,
        provider: &e.provider,
        model: &e.model,
        input_tokens: e.tokens.input_tokens,
        cached_input_tokens: e.tokens.cached_input_tokens,
        cache_write_tokens: e.tokens.cache_write_tokens,
        output_tokens: e.tokens.output_tokens,
        reasoning_tokens: e.tokens.reasoning_tokens,
        total_tokens: e.total_tokens(),
        cost_usd: e.cost_usd.map(usd_number),
        price_version: e.price_version.as_deref(),
        price_source: e.price_source.as_deref(),
        request_id: &e.request_id,
        reservation_id: e.reservation_id.as_deref(),
        estimated: e.estimated,
        created_at: iso(instant(e.created_at)),
        funded_by: e.funded_by.as_deref().unwrap_or("cap"),
    })
}

/// A load.
pub fn load(l: &PortLoad) -> Value {
    value_of(&Load {
        used_tokens: l.used_tokens,
        calls: l.calls,
        held_tokens: l.held_tokens,
        expired_hold_tokens: l.expired_tokens,
        gate_tokens: l.gate_tokens(),
        used_usd: usd_number(l.used_usd),
        held_usd: usd_number(l.held_usd),
        gate_usd: usd_number(l.gate_usd()),
    })
}

/// A load with the window it was counted over.
pub fn period_load(l: &PortLoad, window: &PeriodWindow) -> Value {
    let mut body = load(l);
    body["periodStart"] = iso(window.start).into();
    body["resetsAt"] = iso(window.end).into();
    body
}

/// The core's answer to a check, its amounts in `unit` (a `usd`
/// budget's in dollars: `usedUsd`, `capUsd`, `remainingUsd`).
pub fn decision(d: &Decision, unit: Unit) -> Value {
    let mut body = token_decision(d);
    if unit == Unit::Usd {
        if let Value::Object(m) = &mut body {
            for (from, to) in [
                ("usedTokens", "usedUsd"),
                ("capTokens", "capUsd"),
                ("remaining", "remainingUsd"),
            ] {
                if let Some(v) = m.remove(from) {
                    m.insert(to.into(), usd(v.as_u64()));
                }
            }
        }
    }
    body["unit"] = unit.as_str().into();
    body
}

fn token_decision(d: &Decision) -> Value {
    match d {
        Decision::Allowed {
            remaining,
            used,
            soft_cap,
            window,
        } => json!({
            "ok": true,
            "remaining": remaining,
            "usedTokens": used,
            "softCap": soft_cap,
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
        }),
        Decision::Refused {
            reason,
            used,
            cap,
            window,
        } => json!({
            "ok": false,
            "reason": reason.as_str(),
            "usedTokens": used,
            "capTokens": cap,
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
        }),
    }
}

/// The core's cap status of what the gate counts (`amount`: used plus
/// held in the budget's unit), a `usd` budget's in dollars.
pub fn cap(budget: &Budget, amount: u64, now: DateTime<Utc>) -> Value {
    let status = cap_status(budget, amount, now);
    let mut body = json!({
        "state": status.state.as_str(),
        "unit": status.unit.as_str(),
        "softPercent": status.soft_percent,
        "hardPercent": status.hard_percent,
        "periodStart": iso(status.window.start),
        "resetsAt": iso(status.window.end),
    });
    match status.unit {
        Unit::Tokens => {
            body["usedTokens"] = status.used.into();
            body["softCapTokens"] = status.soft_cap.into();
            body["hardCapTokens"] = status.hard_cap.into();
            body["remaining"] = status.remaining.into();
        }
        Unit::Usd => {
            body["usedUsd"] = usd_number(status.used).into();
            body["softCapUsd"] = usd_number(status.soft_cap).into();
            body["hardCapUsd"] = usd_number(status.hard_cap).into();
            body["remainingUsd"] = usd(status.remaining);
        }
    }
    body
}

/// The cap status of a port's load, in its budget's unit.
pub fn cap_of(budget: &Budget, l: &PortLoad, now: DateTime<Utc>) -> Value {
    cap(budget, l.gate_amount(budget.unit), now)
}

/// Where the port's period is heading at its average rate so far
/// (`crate::forecast`): `null` for a disabled budget. Amounts are in the
/// budget's unit (`projectedUsed` and `ratePerHour` in tokens, or dollars).
pub fn forecast(budget: &Budget, l: &PortLoad, now: DateTime<Utc>) -> Value {
    let Some(f) = forecast_of(budget, l.used_amount(budget.unit), now, None) else {
        return Value::Null;
    };
    let amount = |n: u64| match budget.unit {
        Unit::Tokens => Value::from(n),
        Unit::Usd => Value::from(usd_number(n)),
    };
    json!({
        "basis": f.basis.as_str(),
        "unit": budget.unit.as_str(),
        "ratePerHour": amount(f.rate_per_hour),
        "projectedUsed": amount(f.projected_used),
        "runOutAt": f.run_out_at.map(iso),
        "runsOutBeforeReset": f.runs_out_before_reset(),
    })
}

/// Where a cap inside the port stands: `key` names its id (`feature` or
/// `userId`); `capStatus` is the core's status of the cap, on the port's
/// period and switch.
pub fn scope_load(key: &str, l: &ScopeLoad, budget: &Budget, now: DateTime<Utc>) -> Value {
    json!({
        key: l.id,
        "softCap": l.soft_cap,
        "hardCap": l.hard_cap,
        "usedTokens": l.used_tokens,
        "heldTokens": l.held_tokens,
        "calls": l.calls,
        "overridden": l.overridden,
        "capStatus": cap(&l.cap().as_budget(budget), l.gate_tokens(), now),
    })
}

/// A budget answer, with its `updatedAt` as the `ETag` (for `If-Match`).
pub fn budget_response(port: &str, stored: &StoredBudget) -> Response {
    let mut body = stored.json();
    body["port"] = port.into();
    let mut response = json_response(200, &body);
    if let Some(at) = &stored.updated_at {
        set(&mut response, "ETag", &format!("\"{at}\""));
    }
    response
}

/// Marks a write an earlier request already did.
pub fn replayed(mut response: Response, replayed: bool) -> Response {
    if replayed {
        set(&mut response, "Idempotent-Replayed", "true");
    }
    response
}

/// The JSON of an instant (epoch ms), or null.
pub fn instant_or_null(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| iso(instant(t)).into())
}

/// Where a port's room comes from, with when the period's rollover was
/// recorded (status, check).
pub fn room_view_json(view: &crate::gate::credits::RoomView, unit: Unit) -> Value {
    let mut body = room_json(&view.room, unit);
    body["rolloverRecordedAt"] = instant_or_null(view.rollover_recorded_at);
    body
}

/// Where a port's room comes from, as every answer about it says.
pub fn room_json(room: &crate::room::Room, unit: Unit) -> Value {
    let a = |n: u64| unit.amount_json(n);
    json!({
        "unit": unit.as_str(),
        "cap": a(room.cap),
        "raises": a(room.raises),
        "rollover": a(room.rollover),
        "effectiveCap": a(room.effective_cap),
        "effectiveSoftCap": a(room.effective_soft_cap),
        "creditsLeft": a(room.credits_left),
        "nextCreditExpiry": instant_or_null(room.next_credit_expiry),
    })
}
