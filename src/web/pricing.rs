//! What a call costs, for the browser and Node: the core's pricing
//! ([`crate::pricing`]) behind `costUsd`.

use wasm_bindgen::prelude::*;

use super::convert::{get, object, set, to_js_error, tokens};
use crate::pricing::{bound, cost, usd_micros, usd_number, Price};
use crate::TokenCounts;
use crate::{Error, ErrorCode};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A model's price, in dollars per million tokens of each kind (as providers publish them). Cached input and cache writes default to the input price. */
export interface Price {
  inputPerMTok: number;
  cachedInputPerMTok?: number;
  cacheWritePerMTok?: number;
  outputPerMTok: number;
}

/** A call's tokens by kind: the cached and cache-write parts are within `inputTokens`, reasoning within `outputTokens`. */
export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
  outputTokens: number;
  reasoningTokens?: number;
}

/** What a call costs: dollars exact to the micro-dollar (rounded up, never below the cost), and the same in whole micro-dollars. */
export interface Cost {
  usd: number;
  micros: number;
}
"#;

fn optional_tokens(value: &JsValue, field: &str) -> Result<u64, Error> {
    let v = get(value, field);
    if v.is_undefined() || v.is_null() {
        Ok(0)
    } else {
        tokens(&v, field)
    }
}

fn dollars(value: &JsValue, field: &str, required: bool) -> Result<Option<f64>, Error> {
    let v = get(value, field);
    if (v.is_undefined() || v.is_null()) && !required {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) => usd_micros(n, field).map(|_| Some(n)),
        None => Err(Error::new(
            ErrorCode::InvalidType,
            Some(field),
            format!("{field} must be a number of dollars per million tokens"),
        )),
    }
}

fn read_price(value: &JsValue) -> Result<Price, Error> {
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("price"),
            "price must be an object",
        ));
    }
    Price::per_mtok(
        dollars(value, "inputPerMTok", true)?.unwrap_or(0.0),
        dollars(value, "cachedInputPerMTok", false)?,
        dollars(value, "cacheWritePerMTok", false)?,
        dollars(value, "outputPerMTok", true)?.unwrap_or(0.0),
    )
}

fn read_usage(value: &JsValue) -> Result<TokenCounts, Error> {
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("usage"),
            "usage must be an object",
        ));
    }
    let usage = TokenCounts {
        input_tokens: tokens(&get(value, "inputTokens"), "inputTokens")?,
        cached_input_tokens: optional_tokens(value, "cachedInputTokens")?,
        cache_write_tokens: optional_tokens(value, "cacheWriteTokens")?,
        output_tokens: tokens(&get(value, "outputTokens"), "outputTokens")?,
        reasoning_tokens: optional_tokens(value, "reasoningTokens")?,
    };
    if usage
        .cached_input_tokens
        .saturating_add(usage.cache_write_tokens)
        > usage.input_tokens
    {
        return Err(Error::new(
            ErrorCode::InvalidNumber,
            Some("cachedInputTokens"),
            "cachedInputTokens + cacheWriteTokens are parts of inputTokens and cannot exceed it",
        ));
    }
    Ok(usage)
}

/// What a call with `usage` costs at `price`: the Worker's own rule (the
/// uncached input, cached reads, cache writes and output each at their
/// price, rounded up to the micro-dollar).
///
/// # Errors
/// A token count that is not a whole number up to 2^53 - 1; a price that is
/// negative (`negative-amount`), finer than a micro-dollar
/// (`too-many-decimals`) or above $10^9 (`amount-too-large`); parts larger
/// than their whole; a cost past 2^53 - 1 micro-dollars (`amount-too-large`).
#[wasm_bindgen(js_name = costUsd, unchecked_return_type = "Cost")]
pub fn cost_usd(
    #[wasm_bindgen(unchecked_param_type = "TokenUsage")] usage: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Price")] price: JsValue,
) -> Result<JsValue, JsValue> {
    let usage = read_usage(&usage).map_err(to_js_error)?;
    let price = read_price(&price).map_err(to_js_error)?;
    cost_object(cost(&usage, &price))
}

/// The cost as the package returns it; past 2^53 - 1 micro-dollars, where
/// a JS number is no longer exact, `amount-too-large` instead.
fn cost_object(micros: u64) -> Result<JsValue, JsValue> {
    let micros = crate::pricing::exact_amount(micros).map_err(to_js_error)?;
    let out = object();
    set(&out, "usd", usd_number(micros));
    set(&out, "micros", micros as f64);
    Ok(out)
}

/// The most a call can cost at `price` with at most `inputTokens` of input
/// (of any kind) and `outputTokens` of output: the Worker's money hold (the
/// input at the highest input price plus the output at the output price),
/// rounded up to the micro-dollar. What `evaluateBudget` takes as the
/// estimate of a budget in `usd`.
///
/// # Errors
/// A token count that is not a whole number up to 2^53 - 1; a bad price;
/// a bound past 2^53 - 1 micro-dollars (`amount-too-large`).
#[wasm_bindgen(js_name = holdUsd, unchecked_return_type = "Cost")]
pub fn hold_usd(
    #[wasm_bindgen(js_name = inputTokens, unchecked_param_type = "number")] input_tokens: JsValue,
    #[wasm_bindgen(js_name = outputTokens, unchecked_param_type = "number")] output_tokens: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Price")] price: JsValue,
) -> Result<JsValue, JsValue> {
    let input = tokens(&input_tokens, "inputTokens").map_err(to_js_error)?;
    let output = tokens(&output_tokens, "outputTokens").map_err(to_js_error)?;
    let price = read_price(&price).map_err(to_js_error)?;
    cost_object(bound(input, output, &price))
}
