//! The HTTP API's JSON shapes of the gate's values.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use worker::Response;

use crate::gate::{Entry, Hold, PortLoad, ScopeLoad, StoredBudget};
use crate::time::instant;
use crate::time::iso;
use crate::worker::http::{json_response, set};
use crate::worker::refusals::usd_number;
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

/// A hold (a reservation).
pub fn hold(port: &str, h: &Hold) -> Value {
    json!({
        "id": h.id,
        "port": port,
        "requestId": h.request_id,
        "feature": h.feature,
        "userId": h.user_id,
        "estimatedTokens": h.estimated_tokens,
        "estimatedUsd": usd(h.estimated_usd),
        "state": h.state.as_str(),
        "actualTokens": h.actual_tokens,
        "createdAt": iso(instant(h.created_at)),
        "expiresAt": iso(instant(h.expires_at)),
        "settledAt": h.settled_at.map(|at| iso(instant(at))),
    })
}

/// A ledger entry.
pub fn entry(port: &str, e: &Entry) -> Value {
    json!({
        "id": e.seq,
        "portId": port,
        "userId": e.user_id,
        "feature": e.feature,
        "provider": e.provider,
        "model": e.model,
        "inputTokens": e.tokens.input_tokens,
        "cachedInputTokens": e.tokens.cached_input_tokens,
        "cacheWriteTokens": e.tokens.cache_write_tokens,
        "outputTokens": e.tokens.output_tokens,
        "reasoningTokens": e.tokens.reasoning_tokens,
        "totalTokens": e.total_tokens(),
        "costUsd": usd(e.cost_usd),
        "requestId": e.request_id,
        "reservationId": e.reservation_id,
        "estimated": e.estimated,
        "createdAt": iso(instant(e.created_at)),
    })
}

/// A load.
pub fn load(l: &PortLoad) -> Value {
    json!({
        "usedTokens": l.used_tokens,
        "calls": l.calls,
        "heldTokens": l.held_tokens,
        "expiredHoldTokens": l.expired_tokens,
        "gateTokens": l.gate_tokens(),
        "usedUsd": usd_number(l.used_usd),
        "heldUsd": usd_number(l.held_usd),
        "gateUsd": usd_number(l.gate_usd()),
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
