//! Price versions: a price change is a new version in force from an
//! instant, so a change never rewrites what a past call cost, and a call
//! is priced by the version in force when it happened (its hold's instant),
//! not when it settled.

use chrono::{DateTime, Utc};

use super::billing::BilledPrice;

/// Where a version of a price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    /// The table the project ships (`src/pricing/prices.json`).
    Shipped,
    /// The deployment's own change (`PUT /v1/prices/{model}`).
    Admin,
}

impl PriceSource {
    /// `shipped` or `admin`, as a ledger row records it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PriceSource::Shipped => "shipped",
            PriceSource::Admin => "admin",
        }
    }
}

/// One version of a model's price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceVersion {
    /// In force from this instant; `None` from the start (the shipped
    /// table's figures).
    pub effective_from: Option<DateTime<Utc>>,
    /// Where it comes from.
    pub source: PriceSource,
    /// The price; `None` when the version removes the model's price.
    pub price: Option<BilledPrice>,
}

impl PriceVersion {
    /// The version as a ledger row names it: its `effectiveFrom` instant
    /// (RFC 3339 to the millisecond), or for the shipped figures the
    /// table's `asOf` date.
    pub fn label(&self, shipped_as_of: &str) -> String {
        match self.effective_from {
            Some(from) => crate::time::iso(from),
            None => shipped_as_of.to_owned(),
        }
    }
}

/// A model's price versions, in order of the instant they take effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriceHistory {
    versions: Vec<PriceVersion>,
}

impl PriceHistory {
    /// A history that starts with the shipped price, when the model has
    /// one.
    pub fn shipped(price: Option<BilledPrice>) -> PriceHistory {
        PriceHistory {
            versions: price
                .map(|price| PriceVersion {
                    effective_from: None,
                    source: PriceSource::Shipped,
                    price: Some(price),
                })
                .into_iter()
                .collect(),
        }
    }

    /// Adds a version; one taking effect at the same instant as another
    /// replaces it.
    pub fn add(&mut self, version: PriceVersion) {
        match self
            .versions
            .binary_search_by(|v| v.effective_from.cmp(&version.effective_from))
        {
            Ok(at) => self.versions[at] = version,
            Err(at) => self.versions.insert(at, version),
        }
    }

    /// The version in force at `at`: the last one taking effect at or
    /// before it.
    pub fn at(&self, at: DateTime<Utc>) -> Option<&PriceVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.effective_from.is_none_or(|from| from <= at))
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[PriceVersion] {
        &self.versions
    }
}
