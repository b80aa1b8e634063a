//! Caps inside a port, for the browser and Node: the core's rule
//! ([`crate::caps`]) behind `evaluateCaps`, so a page previews a call
//! exactly as the port's gate would judge it.

use wasm_bindgen::prelude::*;

use super::convert::amount;
use super::convert::{
    date, get, instant, json_of, object, set, strict_budget, to_js_error, tokens,
};
use super::{decision_object, in_dollars};
use crate::caps::{Scope, SubCaps};
use crate::{evaluate, Decision, Error, ErrorCode};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A cap inside a port, in the budget's unit over its period. */
export interface SubCap {
  /** Above this much calls of the scope pass but are flagged (defaults to `hardCap`). */
  softCap?: number;
  /** At this much, calls of the scope are refused until the period resets. */
  hardCap: number;
}

/** The caps inside a port, as the budget's fields name them. */
export interface PortCaps {
  featureCaps?: Record<string, SubCap>;
  /** Every end user's cap. */
  userCap?: SubCap;
  /** Named end users' caps, overriding `userCap`. */
  userCaps?: Record<string, SubCap>;
}

/** What each scope counts so far in the period (used plus held); a budget in dollars counts the port's in `usedUsd`. */
export interface ScopedUsage {
  usedTokens: number;
  usedUsd?: number;
  features?: Record<string, number>;
  users?: Record<string, number>;
}

/** A call to judge. */
export interface ScopedCall {
  estimatedTokens: number;
  /** The call's money bound: what a budget in dollars judges the port on. */
  estimatedUsd?: number;
  /** Defaults to `default`, as the Worker's. */
  feature?: string;
  userId?: string;
}

/** Which cap decided: the port's, a feature's or an end user's. */
export type Scope = 'port' | 'feature' | 'user';

/** The answer of `evaluateCaps`: the port's answer (`evaluateBudget`'s) when every cap allows the call, else the refusing cap's. */
export type CapsCheckResult =
  | (BudgetAllowed & { scope: 'port'; scopeId: null })
  | (BudgetRefused & { scope: Scope; scopeId: string | null; remaining: number });

/** The answer of `evaluateCaps` for a budget in dollars: the port's in dollars, a cap inside it in tokens. */
export type CapsCheckResultUsd =
  | (BudgetAllowedUsd & { scope: 'port'; scopeId: null })
  | (BudgetRefusedUsd & { scope: 'port'; scopeId: null; remainingUsd: number })
  | (BudgetRefused & { scope: 'feature' | 'user'; scopeId: string; remaining: number });

/** A budget in dollars: the port judged on `usage.usedUsd` and `call.estimatedUsd`, its caps on tokens. */
export function evaluateCaps(budget: BudgetUsd, caps: PortCaps, usage: ScopedUsage & { usedUsd: number }, call: ScopedCall & { estimatedUsd: number }, now?: Instant): CapsCheckResultUsd;
"#;

fn caps_of(value: &JsValue) -> Result<SubCaps, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(SubCaps::default());
    }
    let parsed = json_of(value, 0);
    let Some(fields) = parsed.as_object().filter(|_| value.is_object()) else {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("caps"),
            "caps must be an object of featureCaps, userCap and userCaps",
        ));
    };
    if let Some(name) = fields
        .keys()
        .find(|k| !crate::caps::FIELDS.contains(&k.as_str()))
    {
        return Err(Error::new(
            ErrorCode::UnknownField,
            Some(name),
            format!("unknown field \"{name}\": caps are featureCaps, userCap and userCaps"),
        ));
    }
    SubCaps::default().merge(fields)
}

fn optional_text(value: &JsValue, field: &str) -> Result<Option<String>, Error> {
    let v = get(value, field);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_string() {
        Some(s) if !s.is_empty() => Ok(Some(s)),
        _ => Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be a non-empty string"),
        )),
    }
}

/// What `usage` says a scope counts: 0 when it names none.
fn scope_usage(usage: &JsValue, scope: &Scope) -> Result<u64, Error> {
    let (map, id) = match scope {
        Scope::Feature(id) => ("features", id),
        Scope::User(id) => ("users", id),
        Scope::Port => return tokens(&get(usage, "usedTokens"), "usedTokens"),
    };
    let counts = get(usage, map);
    if counts.is_undefined() || counts.is_null() {
        return Ok(0);
    }
    let v = get(&counts, id);
    if v.is_undefined() {
        return Ok(0);
    }
    tokens(&v, &format!("{map}.{id}"))
}

/// The pre-flight gate over every cap that concerns a call, as the port's
/// gate decides it: the port's budget first, then the call's feature cap,
/// then its end user's (their override, else `userCap`); the first that
/// refuses names itself in `scope` and `scopeId`.
///
/// # Errors
/// An invalid budget or caps (the budget's codes, with the field at fault
/// such as `featureCaps.chat.hardCap`); a count that is not a non-negative
/// whole number up to 2^53 - 1; an invalid `now`.
#[wasm_bindgen(js_name = evaluateCaps, unchecked_return_type = "CapsCheckResult")]
pub fn evaluate_caps(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PortCaps")] caps: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ScopedUsage")] usage: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ScopedCall")] call: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, Error> {
        let budget = strict_budget(&budget, "budget")?;
        let usd = budget.unit == crate::Unit::Usd;
        let caps = caps_of(&caps)?;
        let estimate = tokens(&get(&call, "estimatedTokens"), "estimatedTokens")?;
        // The port's own cap is judged in its unit (a budget in dollars on
        // `usedUsd` and `estimatedUsd`); the caps inside it count tokens.
        let (port_used, port_estimate) = if usd {
            (
                amount(&get(&usage, "usedUsd"), budget.unit, "usedUsd", "usedUsd")?,
                amount(
                    &get(&call, "estimatedUsd"),
                    budget.unit,
                    "estimatedUsd",
                    "estimatedUsd",
                )?,
            )
        } else {
            (scope_usage(&usage, &Scope::Port)?, estimate)
        };
        let feature = optional_text(&call, "feature")?.unwrap_or_else(|| "default".into());
        let user = optional_text(&call, "userId")?;
        let now = instant(now.as_ref(), "now")?;
        let decision = evaluate(&budget, port_used, port_estimate, now);
        // The port first; only a call it allows meets the caps inside it.
        let refusal = match &decision {
            Decision::Refused {
                reason, used, cap, ..
            } => Some((Scope::Port, *reason, *used, *cap)),
            Decision::Allowed { .. } => caps
                .decide(&budget, &feature, user.as_deref(), estimate, |s| {
                    scope_usage(&usage, s)
                })?
                .err(),
        };
        Ok(match refusal {
            Some((scope, reason, used, cap)) => {
                let out = object();
                refused(&out, reason.as_str(), &scope, used, cap);
                set(&out, "resetsAt", date(budget.window(now).end));
                if usd && scope == Scope::Port {
                    in_dollars(&out, &["usedTokens", "capTokens", "remaining"]);
                }
                out
            }
            None => {
                let out = decision_object(&decision);
                set(&out, "scope", "port");
                set(&out, "scopeId", JsValue::NULL);
                if usd {
                    in_dollars(&out, &["usedTokens", "remaining"]);
                }
                out
            }
        })
    };
    run().map_err(to_js_error)
}

fn refused(out: &JsValue, reason: &str, scope: &Scope, used: u64, cap: u64) {
    set(out, "ok", false);
    set(out, "reason", reason);
    set(out, "usedTokens", used as f64);
    set(out, "capTokens", cap as f64);
    set(out, "remaining", cap.saturating_sub(used) as f64);
    set(out, "scope", scope.kind());
    set(
        out,
        "scopeId",
        scope.id().map_or(JsValue::NULL, JsValue::from_str),
    );
}
