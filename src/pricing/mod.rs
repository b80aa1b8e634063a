//! Money: amounts in whole micro-dollars (so sums are exact), prices per
//! million tokens of each kind, and what a call costs, as pure functions the
//! Worker, the npm package and the admin page share.
//!
//! A call's cost is computed from its tokens by kind ([`TokenCounts`]):
//! the uncached input (`input - cached - cache writes`) at the input price,
//! cached reads and cache writes at their own prices, output at the output
//! price (reasoning is part of the output), summed exactly in
//! nano-dollars and rounded **up** to the micro-dollar, so no call is ever
//! priced below what it cost. [`bound`] is an upper bound of any call that
//! uses at most the given input and output, whatever its split of input
//! into kinds: what a hold in money holds.
//!
//! The price table the project ships ([`default_prices`], from
//! `src/pricing/prices.json`) carries the date and the source of its
//! figures; a deployment changes prices through its own table.

pub mod billing;
pub mod versions;

use std::collections::BTreeMap;

use crate::TokenCounts;
use crate::{Error, ErrorCode, MAX_TOKENS};
use billing::BilledPrice;

/// The fields of a price, as the API and the package name them.
pub const PRICE_FIELDS: [&str; 4] = [
    "inputPerMTok",
    "cachedInputPerMTok",
    "cacheWritePerMTok",
    "outputPerMTok",
];

/// Micro-dollars in a dollar.
pub const MICROS_PER_USD: u64 = 1_000_000;
/// The largest amount accepted: $1 000 000 000, in micro-dollars (far
/// below 2^53, so every amount survives JSON and JavaScript exactly).
pub const MAX_MICROS: u64 = 1_000_000_000 * MICROS_PER_USD;

/// Reads an amount of dollars as JSON carries it (`12.5`, `0.000001`) into
/// whole micro-dollars.
///
/// # Errors
/// `invalid-number` (NaN, infinite), `negative-amount`,
/// `too-many-decimals` (below a micro-dollar), `amount-too-large` (above
/// $10^9); each naming `field`.
///
/// # Example
/// ```
/// use ai_budget::pricing::usd_micros;
///
/// assert_eq!(usd_micros(12.5, "hardCapUsd"), Ok(12_500_000));
/// assert_eq!(usd_micros(0.1, "hardCapUsd"), Ok(100_000));
/// assert!(usd_micros(0.0000001, "hardCapUsd").is_err());
/// // Finer than a micro-dollar is refused however small the excess.
/// assert!(usd_micros(4.0000000001, "hardCapUsd").is_err());
/// assert!(usd_micros(1e-12, "hardCapUsd").is_err());
/// assert!(usd_micros(5e-324, "hardCapUsd").is_err());
/// ```
pub fn usd_micros(value: f64, field: &str) -> Result<u64, Error> {
    if !value.is_finite() {
        return Err(Error::new(
            ErrorCode::InvalidNumber,
            Some(field),
            format!("{field} must be a finite number"),
        ));
    }
    if value < 0.0 {
        return Err(Error::new(
            ErrorCode::NegativeAmount,
            Some(field),
            format!("{field} must not be negative"),
        ));
    }
    if value > (MAX_MICROS / MICROS_PER_USD) as f64 {
        return Err(Error::new(
            ErrorCode::AmountTooLarge,
            Some(field),
            format!("{field} must be at most 1000000000 dollars"),
        ));
    }
    // One rule for every amount: the number's own decimal form (the
    // shortest that reads back as it, as JSON and JavaScript print it) has
    // at most 6 decimals, that is, the number is the one a decimal of whole
    // micro-dollars reads as. The candidate is the nearest whole number of
    // micro-dollars (exact: below $10^9 the product's error is under 0.3),
    // and the division of two exact doubles rounds once, to the double
    // nearest the decimal, as a JSON reader does. So `5e-324`, `1e-12` and
    // `4.0000000001` are refused like `0.0000001`, never rounded away, and
    // no float formatting is needed (it would weigh on the package).
    let micros = (value * MICROS_PER_USD as f64).round();
    if micros / MICROS_PER_USD as f64 != value {
        return Err(Error::new(
            ErrorCode::TooManyDecimals,
            Some(field),
            format!("{field} must have at most 6 decimals (whole micro-dollars)"),
        ));
    }
    Ok(micros as u64)
}

/// Micro-dollars as decimal dollars, exactly (`12.5`, `0.000001`).
pub fn usd_string(micros: u64) -> String {
    let whole = micros / MICROS_PER_USD;
    let frac = micros % MICROS_PER_USD;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Micro-dollars as a JSON number of dollars: exact to the micro-dollar up
/// to 2^33 dollars ($8 589 934 592), where a double still tells every
/// micro-dollar apart; above that the nearest double (documented in the
/// API's amount limits; exact micro-dollars are given beside it where a
/// total can pass it).
pub fn usd_number(micros: u64) -> f64 {
    // Division of two exact doubles rounds once, to the double nearest
    // the exact quotient: the same number the decimal text reads as.
    micros as f64 / MICROS_PER_USD as f64
}

/// A model's price: micro-dollars per million tokens of each kind (the
/// dollars per million tokens providers publish, times a million).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Price {
    /// Uncached input.
    pub input: u64,
    /// Input read from the provider's cache.
    pub cached_input: u64,
    /// Input written to the provider's cache.
    pub cache_write: u64,
    /// Output (reasoning included).
    pub output: u64,
}

impl Price {
    /// A price from dollars per million tokens; cached input and cache
    /// writes default to the input price.
    ///
    /// # Errors
    /// Those of [`usd_micros`], naming `inputPerMTok`, `cachedInputPerMTok`,
    /// `cacheWritePerMTok` or `outputPerMTok`.
    pub fn per_mtok(
        input: f64,
        cached_input: Option<f64>,
        cache_write: Option<f64>,
        output: f64,
    ) -> Result<Price, Error> {
        let input = usd_micros(input, "inputPerMTok")?;
        Ok(Price {
            input,
            cached_input: cached_input
                .map(|v| usd_micros(v, "cachedInputPerMTok"))
                .transpose()?
                .unwrap_or(input),
            cache_write: cache_write
                .map(|v| usd_micros(v, "cacheWritePerMTok"))
                .transpose()?
                .unwrap_or(input),
            output: usd_micros(output, "outputPerMTok")?,
        })
    }

    /// Reads a price as the API and the budget's `fallbackPrice` carry it:
    /// `{ "inputPerMTok", "cachedInputPerMTok"?, "cacheWritePerMTok"?,
    /// "outputPerMTok" }`, dollars per million tokens.
    ///
    /// # Errors
    /// `invalid-type` (not an object, a field not a number, a required
    /// field missing), `unknown-field`, then those of [`Price::per_mtok`].
    ///
    /// # Example
    /// ```
    /// use ai_budget::pricing::Price;
    ///
    /// let v = serde_json::json!({ "inputPerMTok": 2, "outputPerMTok": 8 });
    /// let price = Price::from_json(&v).unwrap();
    /// assert_eq!((price.input, price.cached_input, price.output), (2_000_000, 2_000_000, 8_000_000));
    /// ```
    pub fn from_json(value: &serde_json::Value) -> Result<Price, Error> {
        let Some(fields) = value.as_object() else {
            return Err(Error::new(
                ErrorCode::InvalidType,
                None,
                "a price must be an object of dollars per million tokens",
            ));
        };
        if let Some(name) = fields.keys().find(|k| !PRICE_FIELDS.contains(&k.as_str())) {
            return Err(Error::new(
                ErrorCode::UnknownField,
                Some(name),
                format!(
                    "unknown field {name:?}: a price has inputPerMTok, cachedInputPerMTok, cacheWritePerMTok and outputPerMTok"
                ),
            ));
        }
        let number = |name: &str, required: bool| -> Result<Option<f64>, Error> {
            match fields.get(name) {
                None | Some(serde_json::Value::Null) if !required => Ok(None),
                Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
                _ => Err(Error::invalid_type(
                    name,
                    "a number of dollars per million tokens",
                )),
            }
        };
        Price::per_mtok(
            number("inputPerMTok", true)?.unwrap_or(0.0),
            number("cachedInputPerMTok", false)?,
            number("cacheWritePerMTok", false)?,
            number("outputPerMTok", true)?.unwrap_or(0.0),
        )
    }

    /// The price as the API shows it: dollars per million tokens of each
    /// kind, every field present.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "inputPerMTok": usd_number(self.input),
            "cachedInputPerMTok": usd_number(self.cached_input),
            "cacheWritePerMTok": usd_number(self.cache_write),
            "outputPerMTok": usd_number(self.output),
        })
    }

    /// The highest price of any kind of input token.
    pub fn highest_input(&self) -> u64 {
        self.input.max(self.cached_input).max(self.cache_write)
    }
}

fn micros_of(nano: u128) -> u64 {
    // Rounded up: never below what the call cost. Not clamped into the
    // exact range: an amount past it stays past it (u64::MAX stands for
    // anything larger still), so the gate refuses the write that would
    // count it (409 `total-too-large`, unit `usd`) instead of counting a
    // smaller cost than the call's.
    let micros = nano.div_ceil(u128::from(MICROS_PER_USD));
    u64::try_from(micros).unwrap_or(u64::MAX)
}

/// `micros` when it is an amount kept exactly (at most 2^53 - 1
/// micro-dollars), else the error: how a cost or bound past that range is
/// refused where it would be shown rather than counted (the gate refuses
/// counting it on its own, as `total-too-large`).
///
/// # Errors
/// `amount-too-large`, naming no field.
///
/// # Example
/// ```
/// use ai_budget::pricing::exact_amount;
///
/// assert_eq!(exact_amount(9_007_199_254_740_991), Ok(9_007_199_254_740_991));
/// assert!(exact_amount(9_007_199_254_740_992).is_err());
/// ```
pub fn exact_amount(micros: u64) -> Result<u64, Error> {
    if micros <= MAX_TOKENS {
        return Ok(micros);
    }
    Err(Error::new(
        ErrorCode::AmountTooLarge,
        None,
        format!(
            "the amount passes ${}, the largest kept exactly (2^53 - 1 micro-dollars)",
            usd_string(MAX_TOKENS)
        ),
    ))
}

/// What a call with `tokens` costs at `price`, in micro-dollars (rounded up).
/// A cost past 2^53 - 1 micro-dollars (an absurd price on a huge call) is
/// returned as it is, never clamped: see [`exact_amount`].
///
/// # Example
/// ```
/// use ai_budget::TokenCounts;
/// use ai_budget::pricing::{cost, Price};
///
/// // gpt-4.1: $2 input, $0.50 cached, $8 output per million tokens.
/// let price = Price::per_mtok(2.0, Some(0.5), None, 8.0).unwrap();
/// let tokens = TokenCounts { input_tokens: 1_000, cached_input_tokens: 400, output_tokens: 200, ..Default::default() };
/// // 600 x $2 + 400 x $0.50 + 200 x $8, per million: $0.003
/// assert_eq!(cost(&tokens, &price), 3_000);
/// ```
pub fn cost(tokens: &TokenCounts, price: &Price) -> u64 {
    let uncached = tokens
        .input_tokens
        .saturating_sub(tokens.cached_input_tokens)
        .saturating_sub(tokens.cache_write_tokens);
    let nano = u128::from(uncached) * u128::from(price.input)
        + u128::from(tokens.cached_input_tokens) * u128::from(price.cached_input)
        + u128::from(tokens.cache_write_tokens) * u128::from(price.cache_write)
        + u128::from(tokens.output_tokens) * u128::from(price.output);
    micros_of(nano)
}

/// The most a call can cost at `price` if it uses at most `input_tokens`
/// of input (of any kind) and `output_tokens` of output: what a hold in
/// money holds for it. Like [`cost`], never clamped into the exact range.
pub fn bound(input_tokens: u64, output_tokens: u64, price: &Price) -> u64 {
    let nano = u128::from(input_tokens) * u128::from(price.highest_input())
        + u128::from(output_tokens) * u128::from(price.output);
    micros_of(nano)
}

/// The model a dated id is a version of (`gpt-4.1-2025-04-14` is
/// `gpt-4.1`, `claude-sonnet-4-5-20250929` is `claude-sonnet-4-5`), or
/// `None` when it carries no date.
pub fn base_model(model: &str) -> Option<&str> {
    let bytes = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    // -YYYY-MM-DD
    if bytes.len() > 11 {
        let (head, tail) = bytes.split_at(bytes.len() - 11);
        if tail[0] == b'-'
            && digits(&tail[1..5])
            && tail[5] == b'-'
            && digits(&tail[6..8])
            && tail[8] == b'-'
            && digits(&tail[9..11])
            && !head.is_empty()
        {
            return Some(&model[..model.len() - 11]);
        }
    }
    // -YYYYMMDD
    if bytes.len() > 9 {
        let (head, tail) = bytes.split_at(bytes.len() - 9);
        if tail[0] == b'-' && digits(&tail[1..]) && tail[1] == b'2' && !head.is_empty() {
            return Some(&model[..model.len() - 9]);
        }
    }
    None
}

/// Prices by model: each model's flat price, and for the models billed
/// beyond one price per kind (input-size tiers, 1-hour cache writes,
/// service tiers) the whole entry ([`BilledPrice`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
    billed: BTreeMap<String, BilledPrice>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    /// Sets `model`'s price (a flat one: it replaces any tiers the model
    /// had).
    pub fn set(&mut self, model: &str, price: Price) {
        self.billed.remove(model);
        self.prices.insert(model.to_owned(), price);
    }

    /// Sets `model`'s whole entry as billed.
    pub fn set_billed(&mut self, model: &str, price: BilledPrice) {
        self.prices.insert(model.to_owned(), price.base());
        if price.is_flat() {
            self.billed.remove(model);
        } else {
            self.billed.insert(model.to_owned(), price);
        }
    }

    /// Removes `model`'s price; true when it had one.
    pub fn remove(&mut self, model: &str) -> bool {
        self.billed.remove(model);
        self.prices.remove(model).is_some()
    }

    /// `model`'s price as billed (found as [`PriceTable::price_of`] finds
    /// it): its whole entry, or its flat price at every size and tier.
    pub fn billed_of(&self, model: &str) -> Option<BilledPrice> {
        let (id, price) = self.priced_as(model)?;
        Some(
            self.billed
                .get(id)
                .cloned()
                .unwrap_or_else(|| BilledPrice::flat(*price)),
        )
    }

    /// True when `model` has a price of its own (not its base model's).
    pub fn has_own(&self, model: &str) -> bool {
        self.prices.contains_key(model)
    }

    /// The entries of `models` only (their own, as billed): a table that
    /// prices those models as this one does when it holds each model's
    /// base model too.
    pub fn only(&self, models: &[&str]) -> PriceTable {
        let mut table = PriceTable::new();
        for model in models {
            if let Some(price) = self.prices.get(*model) {
                table.prices.insert((*model).to_owned(), *price);
            }
            if let Some(billed) = self.billed.get(*model) {
                table.billed.insert((*model).to_owned(), billed.clone());
            }
        }
        table
    }

    /// Every model and its price, by model.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.prices.iter().map(|(m, p)| (m.as_str(), p))
    }

    /// `model`'s price: its own, else its base model's when the id is
    /// dated (`...-2025-04-14`), else none.
    pub fn price_of(&self, model: &str) -> Option<&Price> {
        self.prices
            .get(model)
            .or_else(|| base_model(model).and_then(|base| self.prices.get(base)))
    }
}

impl PriceTable {
    /// Reads a table kept as JSON, `{"models": {"<model>": <entry>}}`
    /// (the shipped data file's shape, and the deployment's copy in KV),
    /// each entry a price as billed ([`BilledPrice::from_json`]),
    /// tolerantly: a model whose price does not read is left out.
    pub fn from_json(data: &serde_json::Value) -> PriceTable {
        let mut table = PriceTable::new();
        for (model, p) in data["models"].as_object().into_iter().flatten() {
            if let Ok(price) = BilledPrice::from_json(p) {
                table.set_billed(model, price);
            }
        }
        table
    }

    /// The table as [`PriceTable::from_json`] reads it.
    pub fn json(&self) -> serde_json::Value {
        let models: serde_json::Map<String, serde_json::Value> = self
            .iter()
            .map(|(model, price)| (model.to_owned(), price.json()))
            .collect();
        serde_json::json!({ "models": models })
    }

    /// `model`'s price and the id it is priced as (itself, or its base
    /// model for a dated id).
    pub fn priced_as<'m>(&self, model: &'m str) -> Option<(&'m str, &Price)> {
        match self.prices.get(model) {
            Some(price) => Some((model, price)),
            None => {
                let base = base_model(model)?;
                self.prices.get(base).map(|price| (base, price))
            }
        }
    }
}

/// The shipped table's date (its `asOf`): the version of its figures.
pub fn shipped_as_of() -> String {
    let data: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap_or_default();
    data["asOf"].as_str().unwrap_or_default().to_owned()
}

/// The shipped table's data file: `asOf`, `sources` and `models`.
pub const DEFAULT_PRICES_JSON: &str = include_str!("prices.json");

/// The price table the project ships, as of the date in its data file: a
/// copy to change.
pub fn default_prices() -> PriceTable {
    shipped_prices().clone()
}

/// The price table the project ships, read once per process (an isolate,
/// in the Worker): what a call's path reads, without copying it.
pub fn shipped_prices() -> &'static PriceTable {
    static SHIPPED: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        let data: serde_json::Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap_or_default();
        PriceTable::from_json(&data)
    })
}
