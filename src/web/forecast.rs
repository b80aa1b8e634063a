//! Where a period is heading, for the browser and Node: the core's
//! [`crate::forecast`] behind `forecast`.

use wasm_bindgen::prelude::*;

use super::convert::{amount, date, instant, object, set, strict_budget, to_js_error};
use super::in_dollars;
use crate::forecast::forecast_of;
use crate::{Error, Unit};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/**
 * Where a period is heading at its average rate so far (used / time elapsed since the period began),
 * carried to the reset; or at a given rate. No rate is taken in a period's first hour (`too-early`).
 * Amounts are in the budget's unit: tokens (`...Tokens`), or dollars (`...Usd`) for a usd budget.
 */
export interface Forecast {
  basis: 'period-average' | 'given-rate' | 'too-early';
  unit: Unit;
  /** The rate projected with, per hour (tokens budgets). */
  ratePerHourTokens?: number;
  /** The usage the period would end with at that rate (tokens budgets). */
  projectedUsedTokens?: number;
  /** The rate projected with, per hour, in dollars (usd budgets). */
  ratePerHourUsd?: number;
  /** The usage the period would end with, in dollars (usd budgets). */
  projectedUsedUsd?: number;
  /** When the hard cap would be reached at that rate; `null` when not before the reset; `now` when already reached. */
  runOutAt: Date | null;
  runsOutBeforeReset: boolean;
  periodStart: Date;
  resetsAt: Date;
}
"#;

/// Where the period of `budget` containing `now` is heading, after `used`
/// (tokens, or dollars for a usd budget) in it: the projected usage at the
/// reset and when the hard cap would be reached, at the period's average
/// rate so far or at `ratePerHour` (same unit) when given. `null` for a
/// disabled budget. The same function answers the Worker's status.
///
/// # Errors
/// An invalid budget, amount, rate or `now`.
#[wasm_bindgen(js_name = forecast, unchecked_return_type = "Forecast | null")]
pub fn forecast_js(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] used: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
    #[wasm_bindgen(js_name = ratePerHour, unchecked_optional_param_type = "number")]
    rate_per_hour: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let read = || -> Result<_, Error> {
        let budget = strict_budget(&budget, "budget")?;
        let used = amount(&used, budget.unit, "used", "used")?;
        let now = instant(now.as_ref(), "now")?;
        let rate = match rate_per_hour.filter(|r| !r.is_undefined() && !r.is_null()) {
            Some(r) => Some(amount(&r, budget.unit, "ratePerHour", "ratePerHour")?),
            None => None,
        };
        Ok((budget, used, now, rate))
    };
    let (budget, used, now, rate) = read().map_err(to_js_error)?;
    let Some(f) = forecast_of(&budget, used, now, rate) else {
        return Ok(JsValue::NULL);
    };
    let window = budget.period.window(now);
    let out = object();
    set(&out, "basis", f.basis.as_str());
    set(&out, "unit", budget.unit.as_str());
    set(&out, "ratePerHourTokens", f.rate_per_hour as f64);
    set(&out, "projectedUsedTokens", f.projected_used as f64);
    set(&out, "runOutAt", f.run_out_at.map_or(JsValue::NULL, date));
    set(&out, "runsOutBeforeReset", f.runs_out_before_reset());
    set(&out, "periodStart", date(window.start));
    set(&out, "resetsAt", date(window.end));
    if budget.unit == Unit::Usd {
        in_dollars(&out, &["ratePerHourTokens", "projectedUsedTokens"]);
    }
    Ok(out)
}
