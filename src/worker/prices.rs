//! The price table the Worker prices calls with: the shipped table
//! ([`default_prices`]) with the deployment's changes, kept in KV one key
//! per changed model (`price:v1:{model}`: its price, or `{"removed": true}`
//! for a shipped model deleted). One key per model, so two admins changing
//! two models at once never lose either change.
//!
//! An entry is a price as billed ([`BilledPrice::from_json`], the rule
//! the shipped table is read by): input-size tiers, 1-hour cache writes
//! and service tiers included.
//!
//! KV reaches other locations within about a minute, and an isolate uses
//! what it read for 10 s more (`cache::PRICE_TTL_MS`): a price
//! change binds calls settled after it within that delay (in the isolate
//! that saved it, at once). Rows keep the cost they were
//! priced at, so a later change never rewrites the ledger.
//!
//! A change is a version in force from the instant it was saved, or a
//! later one it names (`effectiveFrom`): the entry keeps the versions to
//! come and those before it (`earlier`, [`versions::schedule`]), so the
//! table in force is read at an instant ([`versions::in_force`]) and a
//! call in flight across a change is priced by the version in force when
//! it was held ([`crate::pricing::versions`]).

use serde_json::Value;

use super::d1::StoreError;
use super::settings::Settings;
use chrono::{DateTime, Utc};

use crate::pricing::billing::{bound_as_billed, cost_as_billed, BilledPrice, Billing, ServiceTier};
use crate::pricing::versions::{self, PriceHistory, PriceVersion};
use crate::pricing::{base_model, default_prices, shipped_prices, PriceTable};

const PREFIX: &str = "price:v1:";

/// Applies one model's KV entry to `table`.
fn apply(table: &mut PriceTable, model: &str, entry: Option<BilledPrice>) {
    match entry {
        Some(price) => table.set_billed(model, price),
        None => {
            table.remove(model);
        }
    }
}

impl Settings {
    /// `model`'s KV entry, read now (for a change, which keeps it as the
    /// version before).
    async fn raw_entry(&self, model: &str) -> Result<Option<Value>, StoreError> {
        Ok(self
            .read(&format!("{PREFIX}{model}"))
            .await?
            .and_then(|text| serde_json::from_str::<Value>(&text).ok()))
    }

    /// `model`'s KV entry as the isolate remembers it (for pricing a call:
    /// see `cache` for how stale it may be).
    async fn remembered_entry(&self, model: &str) -> Result<Option<Value>, StoreError> {
        Ok(self
            .read_price(&format!("{PREFIX}{model}"))
            .await?
            .and_then(|text| serde_json::from_str::<Value>(&text).ok()))
    }

    /// `model`'s own version in force at `at` (`None`: none of its
    /// own, the shipped price stands).
    async fn price_entry(
        &self,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Option<BilledPrice>>, StoreError> {
        Ok(self
            .remembered_entry(model)
            .await?
            .and_then(|v| versions::in_force(&v, at)))
    }

    /// `model`'s own changes still to come at `now`, soonest first.
    ///
    /// # Errors
    /// KV's.
    pub async fn scheduled_prices(
        &self,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<PriceVersion>, StoreError> {
        Ok(self
            .remembered_entry(model)
            .await?
            .map(|v| versions::scheduled(&v, now))
            .unwrap_or_default())
    }

    /// The versions of `model`'s price: the shipped one, then the
    /// deployment's (the one before the last change, and the last).
    async fn history_of(&self, model: &str) -> Result<Option<PriceHistory>, StoreError> {
        let entry = self.remembered_entry(model).await?;
        let shipped = shipped_prices();
        let own = shipped.has_own(model);
        if entry.is_none() && !own {
            return Ok(None);
        }
        let mut history = PriceHistory::shipped(own.then(|| shipped.billed_of(model)).flatten());
        for version in entry.iter().flat_map(versions::stored_versions) {
            history.add(version);
        }
        Ok(Some(history))
    }

    /// The version of `model`'s price in force at `at` (a dated id's base
    /// model's when it has none of its own), `None` when there is none:
    /// how the gateway prices a call by the instant it was held.
    ///
    /// # Errors
    /// KV's.
    pub async fn price_at(
        &self,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<PriceVersion>, StoreError> {
        let history = match self.history_of(model).await? {
            Some(history) => Some(history),
            None => match base_model(model) {
                Some(base) => self.history_of(base).await?,
                None => None,
            },
        };
        Ok(history.and_then(|h| h.at(at).cloned()))
    }

    /// What a call of `model` with `tokens`, billed as `billing` says,
    /// costs by the version of its price in force at `at`, with that
    /// version's label and source (`shipped` or `admin`); `None` when
    /// there is none.
    ///
    /// # Errors
    /// KV's.
    pub async fn cost_billed_at(
        &self,
        model: &str,
        tokens: &crate::TokenCounts,
        billing: &Billing,
        at: DateTime<Utc>,
    ) -> Result<Option<(u64, String, &'static str)>, StoreError> {
        let Some(version) = self.price_at(model, at).await? else {
            return Ok(None);
        };
        let label = version.label(&crate::pricing::shipped_as_of());
        Ok(version.price.map(|price| {
            (
                cost_as_billed(tokens, billing, &price),
                label,
                version.source.as_str(),
            )
        }))
    }

    /// The whole table in force at `now`: the shipped one with every
    /// change in force by then.
    ///
    /// # Errors
    /// KV's.
    pub async fn prices(&self, now: DateTime<Utc>) -> Result<PriceTable, StoreError> {
        let mut table = default_prices();
        for (key, metadata) in self.list_listed(PREFIX).await? {
            let Some(model) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let entry = match metadata.as_ref() {
                Some(metadata) => versions::in_force(metadata, now),
                // Metadata lost (or too large to keep): read the value itself.
                None => self.price_entry(model, now).await?,
            };
            if let Some(entry) = entry {
                apply(&mut table, model, entry);
            }
        }
        Ok(table)
    }

    /// Every model's price changes still to come after `now`, soonest
    /// first (models without any left out): what the price list shows
    /// beside the prices in force.
    ///
    /// # Errors
    /// KV's.
    pub async fn scheduled_all(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Vec<PriceVersion>)>, StoreError> {
        let mut out = Vec::new();
        for (key, metadata) in self.list_listed(PREFIX).await? {
            let Some(model) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let scheduled = match metadata.as_ref() {
                Some(metadata) => versions::scheduled(metadata, now),
                None => self.scheduled_prices(model, now).await?,
            };
            if !scheduled.is_empty() {
                out.push((model.to_owned(), scheduled));
            }
        }
        Ok(out)
    }

    /// The table in force at `now` as far as `model` needs it (its own
    /// entry and its base model's): at most two reads, for a call's path.
    ///
    /// # Errors
    /// KV's.
    pub async fn prices_for(
        &self,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<PriceTable, StoreError> {
        let mut models = vec![model];
        models.extend(base_model(model));
        // The shipped entries of the model and its base model are all that
        // price it: no copy of the whole table on a call's path.
        let mut table = shipped_prices().only(&models);
        for m in models {
            if let Some(entry) = self.price_entry(m, now).await? {
                apply(&mut table, m, entry);
            }
        }
        Ok(table)
    }

    /// What a call of `model` with `tokens` costs now, in micro-dollars
    /// ([`crate::pricing::cost`] at the price in force), `None` when the
    /// table has no price for it: how the API and the gateway price a call
    /// at settlement.
    ///
    /// # Errors
    /// KV's.
    pub async fn cost_now(
        &self,
        model: &str,
        tokens: &crate::TokenCounts,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        self.cost_billed_now(model, tokens, &Billing::default(), now)
            .await
    }

    /// What a call of `model` with `tokens`, billed as `billing` says (the
    /// service tier that served it, its 1-hour cache writes), costs now:
    /// [`cost_as_billed`] at the entry in force (its input-size tiers
    /// included), `None` when the table has no price for it.
    ///
    /// # Errors
    /// KV's.
    pub async fn cost_billed_now(
        &self,
        model: &str,
        tokens: &crate::TokenCounts,
        billing: &Billing,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .prices_for(model, now)
            .await?
            .billed_of(model)
            .map(|price| cost_as_billed(tokens, billing, &price)))
    }

    /// The money hold of a call of `model` estimated at `input` and
    /// `output` tokens ([`bound_as_billed`] at the entry in force: at the
    /// standard tier or the one `asked` for, whatever size tier its input
    /// reaches),
    /// `None` when the table has no price for it: how the API and the
    /// gateway hold a call.
    ///
    /// # Errors
    /// KV's.
    pub async fn bound_now(
        &self,
        model: &str,
        input: u64,
        output: u64,
        asked: ServiceTier,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .prices_for(model, now)
            .await?
            .billed_of(model)
            .map(|price| bound_as_billed(input, output, &price, asked)))
    }

    /// Sets `model`'s price (its whole entry as billed), in force from
    /// `from` (`now` or later), changed at `now` (the version in force
    /// until then kept, and the one before it for the calls in flight).
    ///
    /// # Errors
    /// KV's.
    pub async fn set_price(
        &self,
        model: &str,
        price: &BilledPrice,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let before = self.raw_entry(model).await?;
        self.write_listed(
            &format!("{PREFIX}{model}"),
            &versions::schedule(before.as_ref(), Some(price.clone()), from, now),
        )
        .await
    }

    /// Removes `model`'s price from the table in force; false when it had
    /// none.
    ///
    /// # Errors
    /// KV's.
    pub async fn remove_price(&self, model: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let table = self.prices_for(model, now).await?;
        if !table.has_own(model) {
            return Ok(false);
        }
        // Removed from `now`, until set again; the version before stays
        // for the calls in flight, the changes to come stay scheduled.
        let before = self.raw_entry(model).await?;
        self.write_listed(
            &format!("{PREFIX}{model}"),
            &versions::schedule(before.as_ref(), None, now, now),
        )
        .await?;
        Ok(true)
    }
}

/// Whether `price` is the shipped entry of `model`: `default` or `custom`.
pub fn source_of(model: &str, price: &BilledPrice) -> &'static str {
    let shipped = shipped_prices();
    let own = shipped.has_own(model);
    if own && shipped.billed_of(model).as_ref() == Some(price) {
        "default"
    } else {
        "custom"
    }
}

/// One row of the price list: the model, its entry as billed (per million
/// tokens of each kind, its tiers and service tiers) and its source.
pub fn price_row(model: &str, price: &BilledPrice) -> Value {
    let mut row = price.json();
    row["model"] = model.into();
    row["source"] = source_of(model, price).into();
    row
}
