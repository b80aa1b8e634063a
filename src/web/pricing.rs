//! What a call costs, for the browser and Node: the core's pricing
//! ([`crate::pricing`]) behind `costUsd`.

use wasm_bindgen::prelude::*;

use super::convert::{get, object, set, to_js_error, tokens};
use crate::pricing::billing::{
    bound_as_billed, cost_as_billed, is_entry_field, BilledPrice, Billing, EntrySource,
    SERVICE_TIERS,
};
use crate::pricing::{usd_number, PRICE_FIELDS};
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

/** A price's rates with its 1-hour cache writes (the 5-minute price when left out). */
export interface Rates extends Price {
  cacheWrite1hPerMTok?: number;
}

/** Rates of requests with more than `above` input tokens: the whole request is priced at them. */
export interface PriceTier extends Rates {
  above: number;
}

/** A service tier's own rates, with their input-size tiers. */
export interface TieredRates extends Rates {
  tiers?: PriceTier[];
}

/** A model's price as its provider bills it: its rates, input-size tiers (ascending `above`), and the rates of the batch, flex and priority tiers. A plain `Price` is one too. */
export interface PriceAsBilled extends TieredRates {
  serviceTiers?: { batch?: TieredRates; flex?: TieredRates; priority?: TieredRates };
}

/** A call's tokens by kind: the cached and cache-write parts are within `inputTokens` (the 1-hour writes within `cacheWriteTokens`), reasoning within `outputTokens`. `serviceTier` is the tier the provider says served the call (standard when left out). */
export interface TokenUsage {
  inputTokens: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
  cacheWrite1hTokens?: number;
  outputTokens: number;
  reasoningTokens?: number;
  serviceTier?: "standard" | "batch" | "flex" | "priority";
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

/// A price as billed: its rates, and the tiers, 1-hour writes or service
/// tiers it carries ([`BilledPrice::read`], the Worker's rule), read from
/// the object field by field; other fields (a price row of the API carries
/// its model and source) are left alone.
fn read_billed(value: &JsValue) -> Result<BilledPrice, Error> {
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidType,
            Some("price"),
            "price must be an object",
        ));
    }
    BilledPrice::read(&JsEntry {
        value: value.clone(),
        top: true,
    })
}

/// A price entry as a JS object, read field by field (no text parsed,
/// no JSON built). At the top, only a price's own fields are seen: a price
/// row of the API carries its model and source beside them.
struct JsEntry {
    value: JsValue,
    top: bool,
}

impl EntrySource for JsEntry {
    fn keys(&self) -> Vec<String> {
        if !self.value.is_object() {
            return Vec::new();
        }
        js_sys::Object::keys(self.value.unchecked_ref::<js_sys::Object>())
            .iter()
            .filter_map(|k| k.as_string())
            .filter(|k| !self.top || PRICE_FIELDS.contains(&k.as_str()) || is_entry_field(k))
            .collect()
    }
    fn field(&self, name: &str) -> Option<JsEntry> {
        let value = get(&self.value, name);
        (!value.is_undefined() && !value.is_null()).then_some(JsEntry { value, top: false })
    }
    fn number(&self) -> Option<f64> {
        self.value.as_f64()
    }
    fn items(&self) -> Option<Vec<JsEntry>> {
        js_sys::Array::is_array(&self.value).then(|| {
            js_sys::Array::from(&self.value)
                .iter()
                .map(|value| JsEntry { value, top: false })
                .collect()
        })
    }
    fn is_object(&self) -> bool {
        self.value.is_object() && !js_sys::Array::is_array(&self.value)
    }
}

/// How the call was billed: `serviceTier` and `cacheWrite1hTokens` (a part
/// of `cacheWriteTokens`).
fn read_billing(value: &JsValue, usage: &TokenCounts) -> Result<Billing, Error> {
    let tier = get(value, "serviceTier");
    let service_tier = if tier.is_undefined() || tier.is_null() {
        Default::default()
    } else {
        match tier.as_string().as_deref() {
            Some("standard") => Default::default(),
            Some(name) if SERVICE_TIERS.iter().any(|(n, _)| *n == name) => {
                crate::pricing::billing::ServiceTier::from_answer(Some(name))
            }
            _ => {
                return Err(Error::new(
                    ErrorCode::InvalidValue,
                    Some("serviceTier"),
                    "serviceTier must be standard, batch, flex or priority",
                ))
            }
        }
    };
    let cache_write_1h_tokens = optional_tokens(value, "cacheWrite1hTokens")?;
    if cache_write_1h_tokens > usage.cache_write_tokens {
        return Err(Error::new(
            ErrorCode::InvalidNumber,
            Some("cacheWrite1hTokens"),
            "cacheWrite1hTokens is a part of cacheWriteTokens and cannot exceed it",
        ));
    }
    Ok(Billing {
        service_tier,
        cache_write_1h_tokens,
    })
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

/// What a call with `usage` costs at `price`: the Worker's own rule
/// ([`cost_as_billed`]: the rates of the tier that served it at the
/// request's input size, the uncached input, cached reads, 5-minute and
/// 1-hour cache writes and output each at their rate, rounded up to the
/// micro-dollar).
///
/// # Errors
/// A token count that is not a whole number up to 2^53 - 1; a price that is
/// negative (`negative-amount`), finer than a micro-dollar
/// (`too-many-decimals`) or above $10^9 (`amount-too-large`); parts larger
/// than their whole; a cost past 2^53 - 1 micro-dollars (`amount-too-large`).
#[wasm_bindgen(js_name = costUsd, unchecked_return_type = "Cost")]
pub fn cost_usd(
    #[wasm_bindgen(unchecked_param_type = "TokenUsage")] usage: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PriceAsBilled")] price: JsValue,
) -> Result<JsValue, JsValue> {
    let counts = read_usage(&usage).map_err(to_js_error)?;
    let billing = read_billing(&usage, &counts).map_err(to_js_error)?;
    let price = read_billed(&price).map_err(to_js_error)?;
    cost_object(cost_as_billed(&counts, &billing, &price))
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
/// input at the highest input price plus the output at the output price,
/// at the dearest rates any tier and input size up to it may get),
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
    #[wasm_bindgen(unchecked_param_type = "PriceAsBilled")] price: JsValue,
) -> Result<JsValue, JsValue> {
    let input = tokens(&input_tokens, "inputTokens").map_err(to_js_error)?;
    let output = tokens(&output_tokens, "outputTokens").map_err(to_js_error)?;
    let price = read_billed(&price).map_err(to_js_error)?;
    cost_object(bound_as_billed(
        input,
        output,
        &price,
        crate::pricing::billing::ServiceTier::Standard,
    ))
}
