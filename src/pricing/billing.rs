//! Prices as providers bill them, beyond one price per kind of token:
//!
//! - **input-size tiers**: above a token count of input, the whole request
//!   is priced at the tier's rates (Gemini 2.5 Pro above 200k prompt
//!   tokens, Claude's long context): a cliff, not just the tokens past it;
//! - **1-hour cache writes** at their own price beside the 5-minute ones
//!   (Anthropic's `cache_creation.ephemeral_1h_input_tokens`);
//! - **service tiers** (`batch`, `flex`, `priority`) at their own rates,
//!   applied by the tier the provider says it served, not the one asked for.
//!
//! Reasoning tokens are part of the output and priced there once. Pure:
//! the Worker, the package and the page call the same functions.

use serde_json::Value;

use super::{micros_of, usd_micros, usd_number, Price, PRICE_FIELDS};
use crate::{Error, ErrorCode, TokenCounts};

/// The service tier a provider served a call at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceTier {
    /// The provider's standard (or default) processing.
    #[default]
    Standard,
    /// Asynchronous batch processing.
    Batch,
    /// Slower, interruptible processing at a lower price.
    Flex,
    /// Faster processing at a higher price.
    Priority,
}

/// The service tiers a price entry may price on their own, by name.
pub const SERVICE_TIERS: [(&str, ServiceTier); 3] = [
    ("batch", ServiceTier::Batch),
    ("flex", ServiceTier::Flex),
    ("priority", ServiceTier::Priority),
];

impl ServiceTier {
    /// The tier a provider's answer names (OpenAI's `service_tier`,
    /// Anthropic's `usage.service_tier`), or a request asks for:
    /// `batch`, `flex` or `priority`; anything else (`default`,
    /// `standard`, `auto`, none) is standard.
    pub fn from_answer(name: Option<&str>) -> ServiceTier {
        SERVICE_TIERS
            .iter()
            .find(|(n, _)| Some(*n) == name)
            .map_or(ServiceTier::Standard, |(_, tier)| *tier)
    }
}

/// How a provider billed a call, beyond its token counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Billing {
    /// The tier that served the call.
    pub service_tier: ServiceTier,
    /// The part of the cache writes kept for an hour, priced at the 1-hour
    /// write price; the rest are 5-minute writes.
    pub cache_write_1h_tokens: u64,
}

/// One set of rates: micro-dollars per million tokens of each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    /// Uncached input, cached reads, 5-minute cache writes and output.
    pub price: Price,
    /// 1-hour cache writes (the 5-minute price when none is published).
    pub cache_write_1h: u64,
}

impl Rates {
    /// Rates with 1-hour writes at the 5-minute price.
    pub fn flat(price: Price) -> Rates {
        Rates {
            price,
            cache_write_1h: price.cache_write,
        }
    }

    fn highest_input(&self) -> u64 {
        self.price.highest_input().max(self.cache_write_1h)
    }
}

/// Rates by the request's input size: the base, and the rates of requests
/// whose input is above a token count (ascending by count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiered {
    /// Up to the first tier's count.
    pub base: Rates,
    /// `(above, rates)`: a request with more input tokens than `above` is
    /// priced wholly at `rates`.
    pub above: Vec<(u64, Rates)>,
}

impl Tiered {
    /// The rates of a request with `input_tokens` of input (of every kind).
    pub fn rates_for(&self, input_tokens: u64) -> &Rates {
        self.above
            .iter()
            .rev()
            .find(|(above, _)| input_tokens > *above)
            .map_or(&self.base, |(_, rates)| rates)
    }

    /// The rates a request of at most `input_tokens` of input may get.
    fn rates_up_to(&self, input_tokens: u64) -> impl Iterator<Item = &Rates> {
        std::iter::once(&self.base).chain(
            self.above
                .iter()
                .filter(move |(above, _)| input_tokens > *above)
                .map(|(_, rates)| rates),
        )
    }
}

/// A model's price as its provider bills it: standard rates, and the
/// rates of each service tier priced on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BilledPrice {
    /// Standard processing.
    pub standard: Tiered,
    /// Batch, flex, priority: the tiers the entry prices, each once.
    pub service: Vec<(ServiceTier, Tiered)>,
}

/// The fields of a price entry beyond a flat price's.
const ENTRY_FIELDS: [&str; 3] = ["cacheWrite1hPerMTok", "tiers", "serviceTiers"];

/// A price entry as its reader sees it: JSON in the Worker and the
/// shipped table, a JS object in the package. One reading rule
/// ([`BilledPrice::read`]) for both, and no text parsed in the package.
pub trait EntrySource: Sized {
    /// The names of its fields (none when it is not an object).
    fn keys(&self) -> Vec<String>;
    /// The field `name`; `None` when absent or null.
    fn field(&self, name: &str) -> Option<Self>;
    /// Its value when it is a number.
    fn number(&self) -> Option<f64>;
    /// Its items when it is an array.
    fn items(&self) -> Option<Vec<Self>>;
    /// True when it is an object (not an array).
    fn is_object(&self) -> bool;
}

impl EntrySource for &Value {
    fn keys(&self) -> Vec<String> {
        self.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
    fn field(&self, name: &str) -> Option<Self> {
        self.get(name).filter(|v| !v.is_null())
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().map(|items| items.iter().collect())
    }
    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
}

fn unknown(name: &str, known: &str) -> Error {
    Error::new(
        ErrorCode::UnknownField,
        Some(name),
        format!("unknown field \"{name}\": {known}"),
    )
}

/// A price in dollars per million tokens at `name`.
fn dollars<S: EntrySource>(fields: &S, name: &str, required: bool) -> Result<Option<f64>, Error> {
    match fields.field(name) {
        None if !required => Ok(None),
        Some(v) if v.number().is_some() => Ok(v.number()),
        _ => Err(Error::invalid_type(
            name,
            "a number of dollars per million tokens",
        )),
    }
}

/// One set of rates: a flat price's fields plus `cacheWrite1hPerMTok`, and
/// `extra` fields the caller reads itself.
fn read_rates<S: EntrySource>(fields: &S, extra: &[&str]) -> Result<Rates, Error> {
    if !fields.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidType,
            None,
            "a price must be an object of dollars per million tokens",
        ));
    }
    if let Some(name) = fields.keys().into_iter().find(|k| {
        !PRICE_FIELDS.contains(&k.as_str())
            && k.as_str() != "cacheWrite1hPerMTok"
            && !extra.contains(&k.as_str())
    }) {
        return Err(unknown(
            &name,
            "a price has inputPerMTok, cachedInputPerMTok, cacheWritePerMTok, \
             cacheWrite1hPerMTok, outputPerMTok, tiers and serviceTiers",
        ));
    }
    let price = Price::per_mtok(
        dollars(fields, "inputPerMTok", true)?.unwrap_or(0.0),
        dollars(fields, "cachedInputPerMTok", false)?,
        dollars(fields, "cacheWritePerMTok", false)?,
        dollars(fields, "outputPerMTok", true)?.unwrap_or(0.0),
    )?;
    let cache_write_1h = match dollars(fields, "cacheWrite1hPerMTok", false)? {
        Some(n) => usd_micros(n, "cacheWrite1hPerMTok")?,
        None => price.cache_write,
    };
    Ok(Rates {
        price,
        cache_write_1h,
    })
}

/// Rates and their input-size `tiers`.
fn read_tiered<S: EntrySource>(fields: &S, extra: &[&str]) -> Result<Tiered, Error> {
    let mut own = vec!["tiers"];
    own.extend_from_slice(extra);
    let base = read_rates(fields, &own)?;
    let shape = || Error::invalid_type("tiers", "an array of {above, inputPerMTok, ...}");
    let tiers = match fields.field("tiers") {
        None => Vec::new(),
        Some(tiers) => tiers.items().ok_or_else(shape)?,
    };
    let mut above: Vec<(u64, Rates)> = Vec::new();
    for tier in tiers {
        if !tier.is_object() {
            return Err(shape());
        }
        let count = tier
            .field("above")
            .and_then(|v| v.number())
            .and_then(crate::token_count)
            .ok_or_else(|| Error::invalid_type("above", "a whole number of input tokens"))?;
        if above.last().is_some_and(|(last, _)| *last >= count) {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                Some("tiers"),
                "tiers must be in ascending order of `above`, each count once",
            ));
        }
        above.push((count, read_rates(&tier, &["above"])?));
    }
    Ok(Tiered { base, above })
}

impl Rates {
    /// The rates as an entry shows them: a flat price's fields (every one
    /// present) and `cacheWrite1hPerMTok`.
    fn json(&self) -> Value {
        let mut out = self.price.json();
        out["cacheWrite1hPerMTok"] = usd_number(self.cache_write_1h).into();
        out
    }
}

impl Tiered {
    /// The base rates with their `tiers` (left out when there are none).
    fn json(&self) -> Value {
        let mut out = self.base.json();
        if !self.above.is_empty() {
            out["tiers"] = self
                .above
                .iter()
                .map(|(above, rates)| {
                    let mut tier = rates.json();
                    tier["above"] = (*above).into();
                    tier
                })
                .collect::<Vec<Value>>()
                .into();
        }
        out
    }
}

impl BilledPrice {
    /// The entry as the API shows it and [`BilledPrice::from_json`] reads
    /// it back: the standard rates, their `tiers`, and `serviceTiers`
    /// (the last two left out when empty).
    pub fn json(&self) -> Value {
        let mut out = self.standard.json();
        if !self.service.is_empty() {
            let mut tiers = serde_json::Map::new();
            for (tier, tiered) in &self.service {
                if let Some((name, _)) = SERVICE_TIERS.iter().find(|(_, t)| t == tier) {
                    tiers.insert((*name).to_owned(), tiered.json());
                }
            }
            out["serviceTiers"] = tiers.into();
        }
        out
    }

    /// A flat price: the same rates at every size and tier.
    pub fn flat(price: Price) -> BilledPrice {
        BilledPrice {
            standard: Tiered {
                base: Rates::flat(price),
                above: Vec::new(),
            },
            service: Vec::new(),
        }
    }

    /// True when it is no more than a flat price.
    pub fn is_flat(&self) -> bool {
        self.service.is_empty()
            && self.standard.above.is_empty()
            && self.standard.base.cache_write_1h == self.standard.base.price.cache_write
    }

    /// Reads a price entry: a flat price's fields (see
    /// [`Price::from_json`]), plus `cacheWrite1hPerMTok`, `tiers` (an
    /// array of `{ "above": <input tokens>, <rates> }`, ascending) and
    /// `serviceTiers` (`{ "batch" | "flex" | "priority": { <rates>,
    /// "tiers"? } }`).
    ///
    /// # Errors
    /// `invalid-type`, `unknown-field`, `invalid-value` (tiers out of
    /// order), then those of [`Price::per_mtok`].
    ///
    /// # Example
    /// ```
    /// use ai_budget::pricing::billing::BilledPrice;
    ///
    /// let v = serde_json::json!({ "inputPerMTok": 1.25, "outputPerMTok": 10,
    ///     "tiers": [{ "above": 200000, "inputPerMTok": 2.5, "outputPerMTok": 15 }] });
    /// let price = BilledPrice::from_json(&v).unwrap();
    /// assert_eq!(price.standard.rates_for(200_001).price.input, 2_500_000);
    /// ```
    pub fn from_json(value: &Value) -> Result<BilledPrice, Error> {
        BilledPrice::read(&value)
    }

    /// Reads a price entry from any [`EntrySource`], by the rule of
    /// [`BilledPrice::from_json`].
    ///
    /// # Errors
    /// Those of [`BilledPrice::from_json`].
    pub fn read<S: EntrySource>(fields: &S) -> Result<BilledPrice, Error> {
        let standard = read_tiered(fields, &["serviceTiers"])?;
        let mut service = Vec::new();
        if let Some(tiers) = fields.field("serviceTiers") {
            if !tiers.is_object() {
                return Err(Error::invalid_type(
                    "serviceTiers",
                    "an object of batch, flex, priority rates",
                ));
            }
            for name in tiers.keys() {
                let Some((_, tier)) = SERVICE_TIERS.iter().find(|(n, _)| *n == name) else {
                    return Err(unknown(&name, "service tiers are batch, flex and priority"));
                };
                match tiers.field(&name) {
                    Some(entry) if entry.is_object() => {
                        service.push((*tier, read_tiered(&entry, &[])?));
                    }
                    _ => return Err(Error::invalid_type(&name, "an object of rates")),
                }
            }
        }
        Ok(BilledPrice { standard, service })
    }

    /// The flat price it starts from: standard rates for small requests.
    pub fn base(&self) -> Price {
        self.standard.base.price
    }

    /// The rates of a call served at `tier` with `input_tokens` of input:
    /// the tier's own (standard when the entry prices the tier not), at
    /// the input size's tier.
    pub fn rates(&self, tier: ServiceTier, input_tokens: u64) -> &Rates {
        self.service
            .iter()
            .find(|(t, _)| *t == tier)
            .map_or(&self.standard, |(_, tiered)| tiered)
            .rates_for(input_tokens)
    }
}

/// True for a field of a price entry beyond a flat price's.
pub fn is_entry_field(name: &str) -> bool {
    ENTRY_FIELDS.contains(&name)
}

/// What a call costs as billed, in micro-dollars rounded up: the rates of
/// the tier that served it at the request's input size (every kind of
/// input counted), the uncached input, cached reads, 5-minute and 1-hour
/// cache writes and the output (reasoning inside it, priced once) each at
/// its rate.
///
/// # Example
/// ```
/// use ai_budget::TokenCounts;
/// use ai_budget::pricing::{billing::{cost_as_billed, BilledPrice, Billing, ServiceTier}, Price};
///
/// let price = BilledPrice::flat(Price::per_mtok(2.0, Some(0.5), None, 8.0).unwrap());
/// let tokens = TokenCounts { input_tokens: 1_000, output_tokens: 200, ..Default::default() };
/// assert_eq!(cost_as_billed(&tokens, &Billing::default(), &price), 3_600);
/// ```
pub fn cost_as_billed(tokens: &TokenCounts, billing: &Billing, price: &BilledPrice) -> u64 {
    let rates = price.rates(billing.service_tier, tokens.input_tokens);
    let writes_1h = billing.cache_write_1h_tokens.min(tokens.cache_write_tokens);
    let writes_5m = tokens.cache_write_tokens - writes_1h;
    let uncached = tokens
        .input_tokens
        .saturating_sub(tokens.cached_input_tokens)
        .saturating_sub(tokens.cache_write_tokens);
    let p = &rates.price;
    let nano = u128::from(uncached) * u128::from(p.input)
        + u128::from(tokens.cached_input_tokens) * u128::from(p.cached_input)
        + u128::from(writes_5m) * u128::from(p.cache_write)
        + u128::from(writes_1h) * u128::from(rates.cache_write_1h)
        + u128::from(tokens.output_tokens) * u128::from(p.output);
    micros_of(nano)
}

/// The most a call can cost if it uses at most `input_tokens` of input (of
/// any kind) and `output_tokens` of output, served at the standard tier or
/// the one it `asked` for (a provider serves the tier asked for, or
/// standard), whatever size tier its input reaches: what a hold in money
/// holds.
pub fn bound_as_billed(
    input_tokens: u64,
    output_tokens: u64,
    price: &BilledPrice,
    asked: ServiceTier,
) -> u64 {
    std::iter::once(&price.standard)
        .chain(
            price
                .service
                .iter()
                .filter(|(tier, _)| *tier == asked)
                .map(|(_, tiered)| tiered),
        )
        .flat_map(|tiered| tiered.rates_up_to(input_tokens))
        .map(|rates| {
            micros_of(
                u128::from(input_tokens) * u128::from(rates.highest_input())
                    + u128::from(output_tokens) * u128::from(rates.price.output),
            )
        })
        .max()
        .unwrap_or(0)
}
