//! A port's room beyond its cap, for the browser and Node: the core's rule
//! ([`crate::room::room`]) behind `budgetRoom`, so a page previews a
//! new credit or raise exactly as the port's gate will count it.

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{amount, date, get, instant, object, set, strict_budget, to_js_error};
use crate::room::{room, Credit, Raise};
use crate::{Error, ErrorCode, Unit};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A grant of credits as the API lists it (amounts in the budget's unit: tokens, or dollars). */
export interface CreditGrant {
  id?: string;
  amount: number;
  /** Drawn so far (0 for a new grant). */
  spent?: number;
  expiresAt?: Instant | null;
  voidedAt?: Instant | null;
  createdAt?: Instant;
}

/** A temporary raise as the API lists it. */
export interface CapRaise {
  extra: number;
  /** Added to the soft cap (defaults to `extra`). */
  softExtra?: number;
  startsAt: Instant;
  endsAt: Instant;
}

/** What a port has beyond its budget's caps. */
export interface RoomSources {
  raises?: CapRaise[];
  /** The rollover brought into the current period. */
  rollover?: number;
  credits?: CreditGrant[];
}

/** Where a port's room comes from at an instant, in the budget's unit. */
export interface Room {
  unit: Unit;
  cap: number;
  raises: number;
  rollover: number;
  /** Cap plus raises in force plus rollover. */
  effectiveCap: number;
  effectiveSoftCap: number;
  creditsLeft: number;
  nextCreditExpiry: Date | null;
}
"#;

fn list(value: &JsValue, field: &str) -> Result<Vec<JsValue>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    let array = value.dyn_ref::<Array>().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be an array"),
        )
    })?;
    Ok(array.iter().collect())
}

fn optional_ms(value: &JsValue, field: &str) -> Result<Option<i64>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    Ok(Some(instant(Some(value), field)?.timestamp_millis()))
}

fn sources(value: &JsValue, unit: Unit) -> Result<(Vec<Raise>, u64, Vec<Credit>), Error> {
    let amount_of = |item: &JsValue, key: &str, field: &str, default: Option<u64>| {
        let v = get(item, key);
        match default {
            Some(d) if v.is_undefined() || v.is_null() => Ok(d),
            _ => amount(&v, unit, field, field),
        }
    };
    let mut raises = Vec::new();
    for (i, item) in list(&get(value, "raises"), "raises")?.iter().enumerate() {
        let field = |k: &str| format!("raises[{i}].{k}");
        let extra = amount_of(item, "extra", &field("extra"), None)?;
        let soft = get(item, "softExtra");
        raises.push(Raise {
            extra,
            soft_extra: if soft.is_undefined() || soft.is_null() {
                None
            } else {
                Some(amount(
                    &soft,
                    unit,
                    &field("softExtra"),
                    &field("softExtra"),
                )?)
            },
            starts_at: instant(Some(&get(item, "startsAt")), &field("startsAt"))?
                .timestamp_millis(),
            ends_at: instant(Some(&get(item, "endsAt")), &field("endsAt"))?.timestamp_millis(),
            ..Raise::default()
        });
    }
    let rollover = amount_of(value, "rollover", "rollover", Some(0))?;
    let mut credits = Vec::new();
    for (i, item) in list(&get(value, "credits"), "credits")?.iter().enumerate() {
        let field = |k: &str| format!("credits[{i}].{k}");
        credits.push(Credit {
            id: get(item, "id").as_string().unwrap_or_default(),
            amount: amount_of(item, "amount", &field("amount"), None)?,
            spent: amount_of(item, "spent", &field("spent"), Some(0))?,
            expires_at: optional_ms(&get(item, "expiresAt"), &field("expiresAt"))?,
            created_at: optional_ms(&get(item, "createdAt"), &field("createdAt"))?.unwrap_or(0),
            voided_at: optional_ms(&get(item, "voidedAt"), &field("voidedAt"))?,
        });
    }
    Ok((raises, rollover, credits))
}

/// Where a port's room comes from at `now`: its budget's hard cap, the
/// raises in force, the rollover brought in (their sum is the effective
/// cap the gate judges the period's use against) and the credits left once
/// it is used up, soonest expiry first. The port's gate computes it with
/// the same function.
///
/// # Errors
/// An invalid budget; an amount that is not a valid amount of the
/// budget's unit (the field at fault, such as `credits[0].amount`); an
/// invalid instant.
#[wasm_bindgen(js_name = budgetRoom, unchecked_return_type = "Room")]
pub fn budget_room(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(unchecked_param_type = "RoomSources")] extras: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<JsValue, Error> {
        let budget = strict_budget(&budget, "budget")?;
        let (raises, rollover, credits) = sources(&extras, budget.unit)?;
        let at = instant(now.as_ref(), "now")?.timestamp_millis();
        let r = room(&budget, &raises, rollover, &credits, at);
        let out = object();
        let put = |key: &str, n: u64| match budget.unit {
            Unit::Tokens => set(&out, key, n as f64),
            Unit::Usd => set(&out, key, crate::pricing::usd_number(n)),
        };
        set(&out, "unit", budget.unit.as_str());
        put("cap", r.cap);
        put("raises", r.raises);
        put("rollover", r.rollover);
        put("effectiveCap", r.effective_cap);
        put("effectiveSoftCap", r.effective_soft_cap);
        put("creditsLeft", r.credits_left);
        let expiry = r
            .next_credit_expiry
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or(JsValue::NULL, date);
        set(&out, "nextCreditExpiry", expiry);
        Ok(out)
    };
    run().map_err(to_js_error)
}
