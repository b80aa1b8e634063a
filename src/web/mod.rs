//! The JavaScript API of the npm package (feature `web`).
//!
//! Thin wrappers over the core: each export reads its JS arguments strictly
//! (see `convert`), calls the core, and returns plain objects with the
//! original module's field names. No budget rule lives here.
//!
//! Instants come in as a `Date`, epoch milliseconds or an RFC 3339 string
//! and go out as `Date`s; an omitted `now` is the current time, read in
//! exactly one place (`clock_now`). Errors are thrown as JS `Error`s named
//! `AiBudgetError`, with the core's message, `code` and `field`.

mod calendar;
mod caps;
mod convert;
mod fast;
mod forecast;
mod pricing;
mod room;

use chrono::{DateTime, Utc};
use wasm_bindgen::prelude::*;

/// The package's allocator (talc): kilobytes smaller in the download than
/// the standard library's dlmalloc. The module runs on one thread.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use crate::{cap_status, evaluate, Budget, Decision, Error, Unit};
pub use caps::evaluate_caps;
use convert::{
    amount, budget_object, date, instant, object, period, raw_budget, record, set, strict_budget,
    to_js_error, usage_rows,
};
pub use fast::{decide, decide_many, FastDecisionCode};
pub use forecast::forecast_js;
pub use pricing::{cost_usd, hold_usd};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A budget period: a UTC calendar window (a week starts Monday 00:00 UTC). */
export type Period = 'day' | 'week' | 'month';

/** An instant: a `Date`, epoch milliseconds, or an RFC 3339 string such as `2026-11-28T17:00:00Z`. */
export type Instant = Date | number | string;

/** What a budget's caps count: tokens (the default), or US dollars. */
export type Unit = 'tokens' | 'usd';

/** A port's budget settings, complete and valid. A budget in `usd` needs `hardCapUsd` and no token caps. */
export interface Budget {
  /** When false no cap is enforced; usage is still counted. */
  enabled: boolean;
  /** Above this many tokens in the period calls pass but are flagged. */
  softCapTokens: number;
  /** At this many tokens calls are refused until the period resets. */
  hardCapTokens: number;
  /** The window the caps count over. */
  period: Period;
  /** What the caps count; absent: `tokens`. */
  unit?: Unit;
  /** A `usd` budget's soft cap in dollars (at most 6 decimals); absent or `null`: the hard cap. */
  softCapUsd?: number | null;
  /** A `usd` budget's hard cap in dollars (at most 6 decimals). */
  hardCapUsd?: number | null;
  /** The price of models the price table does not know, for this port's calls. */
  fallbackPrice?: Price | null;
  /** The IANA time zone whose local days make the periods; absent: `UTC` (others need `loadTimeZones`). */
  timeZone?: string;
  /** The first day of a week; absent: `monday`. */
  weekStart?: WeekDay;
  /** The day a month starts on, 1 to 31 (a shorter month starts on its last day); absent: 1. */
  monthStartDay?: number;
  /** Read only: a calendar change in progress (the previous calendar, and when the new one takes over). */
  calendarChange?: { timeZone: string; weekStart: WeekDay; monthStartDay: number; until: string };
}

/** A week day, as `weekStart` names it. */
export type WeekDay = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday';

/** A partial update of a budget: a missing or `null` field keeps its value (`fallbackPrice: null` removes it). */
export interface BudgetUpdate {
  enabled?: boolean | null;
  softCapTokens?: number | null;
  hardCapTokens?: number | null;
  period?: Period | null;
  unit?: Unit | null;
  softCapUsd?: number | null;
  hardCapUsd?: number | null;
  fallbackPrice?: Price | null;
  timeZone?: string | null;
  weekStart?: WeekDay | null;
  monthStartDay?: number | null;
}

/** The call may proceed. */
export interface BudgetAllowed {
  ok: true;
  /** Tokens left under the hard cap before this call; `Infinity` when the budget is disabled. */
  remaining: number;
  /** Tokens used in the current period. */
  usedTokens: number;
  /** True when the period's usage is above the soft cap. */
  softCap: boolean;
  /** When the period ends and the budget resets. */
  resetsAt: Date;
}

/** Why a call was refused. */
export type RefusalReason = 'hard-cap-exceeded' | 'estimated-exceeds-cap';

/** The call must not proceed until `resetsAt`. */
export interface BudgetRefused {
  ok: false;
  reason: RefusalReason;
  usedTokens: number;
  /** The hard cap. */
  capTokens: number;
  resetsAt: Date;
}

/** A `usd` budget's call may proceed: the amounts are dollars. */
export interface BudgetAllowedUsd {
  ok: true;
  unit: 'usd';
  /** Dollars left under the hard cap before this call; `Infinity` when the budget is disabled. */
  remainingUsd: number;
  usedUsd: number;
  softCap: boolean;
  resetsAt: Date;
}

/** A `usd` budget's call must not proceed until `resetsAt`. */
export interface BudgetRefusedUsd {
  ok: false;
  unit: 'usd';
  reason: RefusalReason;
  usedUsd: number;
  /** The hard cap in dollars. */
  capUsd: number;
  resetsAt: Date;
}

/** The pre-flight answer, discriminated on `ok`. */
export type BudgetCheckResult = BudgetAllowed | BudgetRefused;

/** The pre-flight answer of a budget in dollars, discriminated on `ok`. */
export type BudgetCheckResultUsd = BudgetAllowedUsd | BudgetRefusedUsd;

/** A budget in US dollars: its caps are `softCapUsd` and `hardCapUsd` (the token caps are kept, unused). */
export interface BudgetUsd {
  enabled: boolean;
  period: Period;
  unit: 'usd';
  softCapUsd?: number | null;
  hardCapUsd: number;
  softCapTokens?: number;
  hardCapTokens?: number;
  fallbackPrice?: Price | null;
}

/** A budget in dollars judged on dollars: `usedUsd` (used plus held in the period) and the call's `estimatedUsd` (its money bound, as `holdUsd` gives). */
export function evaluateBudget(budget: BudgetUsd, usedUsd: number, estimatedUsd: number, now?: Instant): BudgetCheckResultUsd;

/** Where a budget in dollars stands after `usedUsd` in the period. */
export function capStatus(budget: BudgetUsd, usedUsd: number, now?: Instant): CapStatusUsd;

/** One ledger row. */
export interface UsageRow {
  feature: string;
  inputTokens: number;
  outputTokens: number;
  createdAt: Instant;
}

/** Tokens and calls of one feature in the period. */
export interface FeatureUsage {
  feature: string;
  tokens: number;
  calls: number;
}

/** Usage in the period containing `now`. */
export interface UsageSummary {
  periodStart: Date;
  resetsAt: Date;
  usedTokens: number;
  calls: number;
  /** Tokens per feature. */
  byFeature: Record<string, number>;
  /** Per feature, most tokens first (ties by name). */
  breakdown: FeatureUsage[];
}

/** Which band of its budget a port is in. */
export type CapState = 'disabled' | 'ok' | 'soft' | 'hard';

/** A budget in dollars' standing against its caps: amounts in dollars. */
export interface CapStatusUsd {
  state: CapState;
  unit: 'usd';
  usedUsd: number;
  softCapUsd: number;
  hardCapUsd: number;
  softPercent: number;
  hardPercent: number;
  /** Dollars left under the hard cap (0 once reached); `Infinity` when disabled. */
  remainingUsd: number;
  periodStart: Date;
  resetsAt: Date;
}

/** A port's standing against its caps, for banners and previews. */
export interface CapStatus {
  state: CapState;
  usedTokens: number;
  softCapTokens: number;
  hardCapTokens: number;
  /** Usage as a percentage of the soft cap (may pass 100). */
  softPercent: number;
  /** Usage as a percentage of the hard cap (may pass 100). */
  hardPercent: number;
  /** Tokens left under the hard cap (0 once reached); `Infinity` when disabled. */
  remaining: number;
  periodStart: Date;
  resetsAt: Date;
}

/** The stable classification of an `AiBudgetError`. */
export type AiBudgetErrorCode =
  | 'invalid-type'
  | 'invalid-number'
  | 'negative-tokens'
  | 'fractional-tokens'
  | 'too-many-tokens'
  | 'soft-cap-above-hard-cap'
  | 'unknown-period'
  | 'unknown-field'
  | 'invalid-instant'
  | 'invalid-value'
  | 'negative-amount'
  | 'too-many-decimals'
  | 'amount-too-large'
  | 'missing-field'
  | 'unknown-time-zone'
  | 'unknown-week-day';

/** Every error this package throws: a real `Error` with a stable `code`. */
export interface AiBudgetError extends Error {
  name: 'AiBudgetError';
  code: AiBudgetErrorCode;
  /** The input at fault (`softCapTokens`, `estimatedTokens`, `rows[3].createdAt`), when one is. */
  field?: string;
}
"#;

/// The current time: the one place the package reads the clock.
pub(crate) fn clock_now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

fn js<T>(result: Result<T, Error>) -> Result<T, JsValue> {
    result.map_err(to_js_error)
}

/// The instant the period containing `now` began (UTC).
///
/// # Errors
/// `unknown-period`, `invalid-instant`.
#[wasm_bindgen(js_name = periodStart, unchecked_return_type = "Date")]
pub fn period_start(
    #[wasm_bindgen(js_name = period, unchecked_param_type = "Period")] period_name: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let period = js(period(&period_name))?;
    Ok(date(period.start(js(instant(now.as_ref(), "now"))?)))
}

/// The instant the period containing `now` ends: the next reset (UTC).
///
/// # Errors
/// `unknown-period`, `invalid-instant`.
#[wasm_bindgen(js_name = periodEnd, unchecked_return_type = "Date")]
pub fn period_end(
    #[wasm_bindgen(js_name = period, unchecked_param_type = "Period")] period_name: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let period = js(period(&period_name))?;
    Ok(date(period.end(js(instant(now.as_ref(), "now"))?)))
}

/// Reads a stored budget tolerantly, like the original `readBudget`: a
/// missing or wrongly typed field takes its default. Never throws.
#[wasm_bindgen(js_name = normalizeBudget, unchecked_return_type = "Budget")]
pub fn normalize_budget(#[wasm_bindgen(unchecked_param_type = "unknown")] raw: JsValue) -> JsValue {
    budget_object(&Budget::normalize(&raw_budget(&raw)))
}

/// Applies a partial update over a budget, like the original `setAiBudget`,
/// and returns the new budget.
///
/// # Errors
/// `current` not a complete valid budget; in `input`: `invalid-type`,
/// `unknown-field`, `invalid-number`, `negative-tokens` ("Token caps must be
/// non-negative"), `fractional-tokens`, `too-many-tokens`, `unknown-period`,
/// `soft-cap-above-hard-cap` ("softCapTokens cannot exceed hardCapTokens").
#[wasm_bindgen(js_name = mergeBudget, unchecked_return_type = "Budget")]
pub fn merge_budget(
    #[wasm_bindgen(unchecked_param_type = "Budget")] current: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BudgetUpdate")] input: JsValue,
) -> Result<JsValue, JsValue> {
    let current = js(strict_budget(&current, "current"))?;
    Ok(budget_object(&js(current.merge(&raw_budget(&input)))?))
}

/// The pre-flight gate, like the original `checkBudget`: may a call
/// estimated at `estimatedTokens` proceed after `usedTokens` in the period?
/// For a budget in `usd` both amounts are dollars (the period's used plus
/// held, and the call's money bound, such as `holdUsd` gives), and the
/// answer's are too (`usedUsd`, `remainingUsd`, `capUsd`, with `unit`).
///
/// # Errors
/// An invalid budget; a token count that is not a non-negative whole number
/// up to 2^53 - 1 (for `usd`: a negative, non-finite, finer than a
/// micro-dollar or absurd amount); an invalid `now`.
#[wasm_bindgen(js_name = evaluateBudget, unchecked_return_type = "BudgetCheckResult")]
pub fn evaluate_budget(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(js_name = usedTokens, unchecked_param_type = "number")] used_tokens: JsValue,
    #[wasm_bindgen(js_name = estimatedTokens, unchecked_param_type = "number")]
    estimated_tokens: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let budget = js(strict_budget(&budget, "budget"))?;
    let unit = budget.unit;
    let used = js(amount(&used_tokens, unit, "usedTokens", "usedUsd"))?;
    let estimated = js(amount(
        &estimated_tokens,
        unit,
        "estimatedTokens",
        "estimatedUsd",
    ))?;
    let now = js(instant(now.as_ref(), "now"))?;
    let out = decision_object(&evaluate(&budget, used, estimated, now));
    if unit == Unit::Usd {
        in_dollars(&out, &["usedTokens", "remaining", "capTokens"]);
    }
    Ok(out)
}

/// Renames an answer's token amounts (`usedTokens`, `remaining`, ...) to
/// their dollar names (`usedUsd`, `remainingUsd`, ...), as dollars, and
/// marks the answer's `unit`.
pub(crate) fn in_dollars(out: &JsValue, fields: &[&str]) {
    for field in fields {
        let value = convert::get(out, field);
        let Some(micros) = value.as_f64() else {
            continue;
        };
        let name = match *field {
            "usedTokens" => "usedUsd",
            "capTokens" => "capUsd",
            "softCapTokens" => "softCapUsd",
            "hardCapTokens" => "hardCapUsd",
            "ratePerHourTokens" => "ratePerHourUsd",
            "projectedUsedTokens" => "projectedUsedUsd",
            _ => "remainingUsd",
        };
        let dollars = if micros.is_finite() {
            crate::pricing::usd_number(micros as u64)
        } else {
            micros
        };
        let _ = js_sys::Reflect::delete_property(
            out.unchecked_ref::<js_sys::Object>(),
            &JsValue::from_str(field),
        );
        set(out, name, dollars);
    }
    set(out, "unit", "usd");
}

/// The answer object of a decision, as `evaluateBudget` returns it.
pub(crate) fn decision_object(decision: &Decision) -> JsValue {
    let out = object();
    match *decision {
        Decision::Allowed {
            remaining,
            used,
            soft_cap,
            window,
        } => {
            set(&out, "ok", true);
            set(
                &out,
                "remaining",
                remaining.map_or(f64::INFINITY, |n| n as f64),
            );
            set(&out, "usedTokens", used as f64);
            set(&out, "softCap", soft_cap);
            set(&out, "resetsAt", date(window.end));
        }
        Decision::Refused {
            reason,
            used,
            cap,
            window,
        } => {
            set(&out, "ok", false);
            set(&out, "reason", reason.as_str());
            set(&out, "usedTokens", used as f64);
            set(&out, "capTokens", cap as f64);
            set(&out, "resetsAt", date(window.end));
        }
    }
    out
}

/// Sums ledger rows over the budget's period containing `now`: total
/// tokens and calls, tokens per feature, and the original
/// `periodBreakdown` (most tokens first).
///
/// # Errors
/// An invalid budget; a row with a wrong feature, token count or
/// `createdAt` (the error's `field` says which row); an invalid `now`.
#[wasm_bindgen(js_name = summarizeUsage, unchecked_return_type = "UsageSummary")]
pub fn summarize_usage_js(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(unchecked_param_type = "UsageRow[]")] rows: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let budget = js(strict_budget(&budget, "budget"))?;
    let rows = js(usage_rows(&rows))?;
    let now = js(instant(now.as_ref(), "now"))?;
    let summary = crate::usage::summarize_window(budget.window(now), &rows);
    let breakdown = js_sys::Array::new();
    for usage in &summary.breakdown {
        let item = object();
        set(&item, "feature", usage.feature.as_str());
        set(&item, "tokens", usage.tokens as f64);
        set(&item, "calls", usage.calls as f64);
        breakdown.push(&item);
    }
    let out = object();
    set(&out, "periodStart", date(summary.window.start));
    set(&out, "resetsAt", date(summary.window.end));
    set(&out, "usedTokens", summary.used_tokens as f64);
    set(&out, "calls", summary.calls as f64);
    set(
        &out,
        "byFeature",
        record(
            summary
                .breakdown
                .iter()
                .map(|usage| (usage.feature.as_str(), usage.tokens as f64)),
        ),
    );
    set(&out, "breakdown", breakdown);
    Ok(out)
}

/// Where a port stands against its caps after `usedTokens` in the period
/// containing `now`: `disabled`, `ok`, `soft` or `hard`, with percentages.
/// For a budget in `usd` the amount is dollars, and the answer's are too.
///
/// # Errors
/// An invalid budget or token count; an invalid `now`.
#[wasm_bindgen(js_name = capStatus, unchecked_return_type = "CapStatus")]
pub fn cap_status_js(
    #[wasm_bindgen(unchecked_param_type = "Budget")] budget: JsValue,
    #[wasm_bindgen(js_name = usedTokens, unchecked_param_type = "number")] used_tokens: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "Instant")] now: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let budget = js(strict_budget(&budget, "budget"))?;
    let used = js(amount(&used_tokens, budget.unit, "usedTokens", "usedUsd"))?;
    let status = cap_status(&budget, used, js(instant(now.as_ref(), "now"))?);
    let out = object();
    set(&out, "state", status.state.as_str());
    set(&out, "usedTokens", status.used as f64);
    set(&out, "softCapTokens", status.soft_cap as f64);
    set(&out, "hardCapTokens", status.hard_cap as f64);
    set(&out, "softPercent", status.soft_percent);
    set(&out, "hardPercent", status.hard_percent);
    set(
        &out,
        "remaining",
        status.remaining.map_or(f64::INFINITY, |n| n as f64),
    );
    set(&out, "periodStart", date(status.window.start));
    set(&out, "resetsAt", date(status.window.end));
    if budget.unit == Unit::Usd {
        in_dollars(
            &out,
            &["usedTokens", "softCapTokens", "hardCapTokens", "remaining"],
        );
    }
    Ok(out)
}

/// True when `value` is an error thrown by this package.
#[wasm_bindgen(js_name = isAiBudgetError, unchecked_return_type = "value is AiBudgetError")]
pub fn is_ai_budget_error(
    #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
) -> bool {
    value
        .dyn_ref::<js_sys::Error>()
        .is_some_and(|err| err.name() == convert::ERROR_NAME)
}
