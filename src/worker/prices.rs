//! The price table the Worker prices calls with: the shipped table
//! ([`default_prices`]) with the deployment's changes, kept in KV one key
//! per changed model (`price:v1:{model}`: its price, or `{"removed": true}`
//! for a shipped model deleted). One key per model, so two admins changing
//! two models at once never lose either change.
//!
//! KV reaches other locations within about a minute: a price change binds
//! calls settled after it within that delay. Rows keep the cost they were
//! priced at, so a later change never rewrites the ledger.

use serde_json::{json, Value};

use super::d1::StoreError;
use super::settings::Settings;
use crate::pricing::billing::{bound_as_billed, cost_as_billed, Billing};
use crate::pricing::{base_model, default_prices, Price, PriceTable};

const PREFIX: &str = "price:v1:";

/// A model's entry in KV: its price, or `None` when it was removed.
fn entry_of(value: &Value) -> Option<Option<Price>> {
    if value.get("removed") == Some(&Value::Bool(true)) {
        return Some(None);
    }
    Price::from_json(value).ok().map(Some)
}

/// Applies one model's KV entry to `table`.
fn apply(table: &mut PriceTable, model: &str, entry: Option<Price>) {
    match entry {
        Some(price) => table.set(model, price),
        None => {
            table.remove(model);
        }
    }
}

impl Settings {
    async fn price_entry(&self, model: &str) -> Result<Option<Option<Price>>, StoreError> {
        Ok(self
            .read(&format!("{PREFIX}{model}"))
            .await?
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| entry_of(&v)))
    }

    /// The whole table in force: the shipped one with every change.
    ///
    /// # Errors
    /// KV's.
    pub async fn prices(&self) -> Result<PriceTable, StoreError> {
        let mut table = default_prices();
        for (key, metadata) in self.list_listed(PREFIX).await? {
            let Some(model) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let entry = match metadata.as_ref().and_then(entry_of) {
                Some(entry) => Some(entry),
                // Metadata lost: read the value itself.
                None => self.price_entry(model).await?,
            };
            if let Some(entry) = entry {
                apply(&mut table, model, entry);
            }
        }
        Ok(table)
    }

    /// The table as far as `model` needs it (its own entry and its base
    /// model's): at most two reads, for a call's path.
    ///
    /// # Errors
    /// KV's.
    pub async fn prices_for(&self, model: &str) -> Result<PriceTable, StoreError> {
        let mut table = default_prices();
        let mut models = vec![model];
        models.extend(base_model(model));
        for m in models {
            if let Some(entry) = self.price_entry(m).await? {
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
    ) -> Result<Option<u64>, StoreError> {
        self.cost_billed_now(model, tokens, &Billing::default())
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
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .prices_for(model)
            .await?
            .billed_of(model)
            .map(|price| cost_as_billed(tokens, billing, &price)))
    }

    /// The money hold of a call of `model` estimated at `input` and
    /// `output` tokens ([`bound_as_billed`] at the entry in force: whatever
    /// tier serves it, whatever size tier its input reaches),
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
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .prices_for(model)
            .await?
            .billed_of(model)
            .map(|price| bound_as_billed(input, output, &price)))
    }

    /// Sets `model`'s price.
    ///
    /// # Errors
    /// KV's.
    pub async fn set_price(&self, model: &str, price: &Price) -> Result<(), StoreError> {
        self.write_listed(&format!("{PREFIX}{model}"), &price.json())
            .await
    }

    /// Removes `model`'s price from the table in force; false when it had
    /// none.
    ///
    /// # Errors
    /// KV's.
    pub async fn remove_price(&self, model: &str) -> Result<bool, StoreError> {
        let table = self.prices_for(model).await?;
        let own = table.iter().any(|(m, _)| m == model);
        if !own {
            return Ok(false);
        }
        if default_prices().iter().any(|(m, _)| m == model) {
            // A shipped model stays removed until set again.
            self.write_listed(&format!("{PREFIX}{model}"), &json!({"removed": true}))
                .await?;
        } else {
            self.delete(&format!("{PREFIX}{model}")).await?;
        }
        Ok(true)
    }
}

/// Whether `price` is the shipped figure of `model`: `default` or `custom`.
pub fn source_of(model: &str, price: &Price) -> &'static str {
    match default_prices().iter().find(|(m, _)| *m == model) {
        Some((_, shipped)) if shipped == price => "default",
        _ => "custom",
    }
}

/// One row of the price list: the model, its price per million tokens of
/// each kind, and its source.
pub fn price_row(model: &str, price: &Price) -> Value {
    let mut row = price.json();
    row["model"] = model.into();
    row["source"] = source_of(model, price).into();
    row
}
