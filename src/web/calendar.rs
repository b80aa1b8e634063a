//! Port calendars in the package: the time-zone part (loaded on demand,
//! the same database the Worker carries) and a budget's current window.

use js_sys::{Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;

use super::convert::{
    budget_object, date, instant, object, raw_budget, set, strict_budget, to_js_error,
};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** The package's time-zone part (`ai-budget/timezones`): the IANA database the Worker carries, as TZif bytes. */
export interface TimeZoneData {
  version: string;
  /** Zone names, one a line. */
  names: string;
  /** Each zone's start and end in `data`. */
  ranges: Uint32Array;
  data: Uint8Array;
}
/** A budget's current period in its calendar. */
export interface BudgetWindow {
  periodStart: Date;
  resetsAt: Date;
}
"#;

/// Installs the time-zone part, so budgets may name any IANA zone:
/// `loadTimeZones(await import('ai-budget/timezones'))`. Without it only
/// `UTC` is known. Loading the same version twice is a no-op.
///
/// # Errors
/// `invalid-value` (field `timeZones`) when the part is malformed.
#[wasm_bindgen(js_name = loadTimeZones)]
pub fn load_time_zones(
    #[wasm_bindgen(unchecked_param_type = "TimeZoneData")] part: JsValue,
) -> Result<(), JsValue> {
    let get = |k: &str| Reflect::get(&part, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let text = |k: &str| get(k).as_string().unwrap_or_default();
    let ranges = get("ranges")
        .dyn_into::<Uint32Array>()
        .map(|a| a.to_vec())
        .unwrap_or_default();
    let data = get("data")
        .dyn_into::<Uint8Array>()
        .map(|a| a.to_vec())
        .unwrap_or_default();
    crate::calendar::load_database(text("version"), text("names"), ranges, data)
        .map_err(to_js_error)
}

/// The version of the time-zone database loaded (`2026f`), or `undefined`
/// before [`loadTimeZones`](load_time_zones).
#[wasm_bindgen(js_name = timeZoneDatabase)]
pub fn time_zone_database() -> Option<String> {
    crate::calendar::database_version()
}

/// The budget the gate would save: `update` merged over `current` (as
/// `mergeBudget` does), then the rule of a calendar change at `now`: a
/// port that had a budget (`savedBefore`) keeps its period in progress to
/// the end it had, shown as `calendarChange`.
///
/// # Errors
/// Those of `mergeBudget`, `invalid-instant`.
#[wasm_bindgen(js_name = previewSave, unchecked_return_type = "Budget")]
pub fn preview_save(
    #[wasm_bindgen(unchecked_param_type = "Budget")] current: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BudgetUpdate")] update: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Instant")] now: JsValue,
    #[wasm_bindgen(js_name = savedBefore)] saved_before: bool,
) -> Result<JsValue, JsValue> {
    let current = strict_budget(&current, "current").map_err(to_js_error)?;
    let now = instant(Some(&now), "now").map_err(to_js_error)?;
    let merged = current.merge(&raw_budget(&update)).map_err(to_js_error)?;
    Ok(budget_object(&merged.calendar_changed(
        &current,
        saved_before,
        now,
    )))
}

/// The current period of `budget` (its calendar's) at `now`: when it
/// started and when it resets.
///
/// # Errors
/// Those of a budget (`unknown-time-zone` when its zone is not loaded),
/// `invalid-instant`.
#[wasm_bindgen(js_name = budgetWindow, unchecked_return_type = "BudgetWindow")]
pub fn budget_window(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let budget = strict_budget(&budget, "budget").map_err(to_js_error)?;
    let now = instant(now.as_ref(), "now").map_err(to_js_error)?;
    let window = budget.window(now);
    let out = object();
    set(&out, "periodStart", date(window.start));
    set(&out, "resetsAt", date(window.end));
    Ok(out)
}
