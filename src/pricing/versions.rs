//! Price versions: a price change is a new version in force from an
//! instant, so a change never rewrites what a past call cost, and a call
//! is priced by the version in force when it happened (its hold's instant),
//! not when it settled. A change may be scheduled for a later instant:
//! it is then a version from that instant, and the version in force until
//! then stays in force.
//!
//! A model's stored entry (the Worker keeps one per changed model) is its
//! newest version's price (`{"removed": true}` for a removal) with
//! `effectiveFrom`, and `earlier`: the versions before it, newest first
//! (an entry written before scheduling keeps one version there, an
//! object). [`schedule`] writes it, keeping every version still to come,
//! the one in force and the one before that (for the calls in flight
//! across the last change); [`in_force`] reads the version in force.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

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
    /// The version as stored and shown: its price as billed (or
    /// `{"removed": true}`) with `effectiveFrom` (absent: from the start).
    pub fn json(&self) -> Value {
        let mut value = match &self.price {
            Some(price) => price.json(),
            None => json!({"removed": true}),
        };
        if let Some(from) = self.effective_from {
            value["effectiveFrom"] = crate::time::iso(from).into();
        }
        value
    }

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

/// The fields of a stored entry beside its price.
const VERSION_FIELDS: [&str; 2] = ["effectiveFrom", "earlier"];

/// One stored version: its price (`None`: removed) and instant (`None`:
/// from the start); `None` when it cannot be read.
fn stored_version(value: &Value) -> Option<PriceVersion> {
    let effective_from = value
        .get("effectiveFrom")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<DateTime<Utc>>().ok());
    let price = if value.get("removed") == Some(&Value::Bool(true)) {
        None
    } else {
        let mut price = value.clone();
        if let Some(fields) = price.as_object_mut() {
            fields.retain(|k, _| !VERSION_FIELDS.contains(&k.as_str()));
        }
        Some(BilledPrice::from_json(&price).ok()?)
    };
    Some(PriceVersion {
        effective_from,
        source: PriceSource::Admin,
        price,
    })
}

/// Every version a stored entry holds (the deployment's own), oldest first.
pub fn stored_versions(entry: &Value) -> Vec<PriceVersion> {
    let earlier = match entry.get("earlier") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let mut history = PriceHistory::default();
    for value in earlier.into_iter().chain([entry]) {
        if let Some(version) = stored_version(value) {
            history.add(version);
        }
    }
    history.versions
}

/// The version of a stored entry in force at `at`: `Some(None)` when it
/// removes the price, `None` when none of the entry's versions is in force
/// yet (the shipped price, if any, is).
pub fn in_force(entry: &Value, at: DateTime<Utc>) -> Option<Option<BilledPrice>> {
    stored_versions(entry)
        .into_iter()
        .rev()
        .find(|v| v.effective_from.is_none_or(|from| from <= at))
        .map(|v| v.price)
}

/// The versions of a stored entry still to come at `now`, soonest first.
pub fn scheduled(entry: &Value, now: DateTime<Utc>) -> Vec<PriceVersion> {
    stored_versions(entry)
        .into_iter()
        .filter(|v| v.effective_from.is_some_and(|from| from > now))
        .collect()
}

/// The stored entry after a change to `price` (`None`: the price removed)
/// in force from `from`, made at `now` over the entry `before`: a version
/// from `from` (replacing one from the same instant), the versions still
/// to come kept, and of the past ones the version in force at `now` and
/// the one before it.
pub fn schedule(
    before: Option<&Value>,
    price: Option<BilledPrice>,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Value {
    let mut history = PriceHistory {
        versions: before.map(stored_versions).unwrap_or_default(),
    };
    history.add(PriceVersion {
        effective_from: Some(from),
        source: PriceSource::Admin,
        price,
    });
    let in_force = history
        .versions
        .iter()
        .rposition(|v| v.effective_from.is_none_or(|f| f <= now));
    let keep_from = in_force.map_or(0, |at| at.saturating_sub(1));
    let mut kept: Vec<Value> = history.versions[keep_from..]
        .iter()
        .map(PriceVersion::json)
        .collect();
    let mut entry = kept.pop().unwrap_or(Value::Null);
    if !kept.is_empty() {
        kept.reverse();
        entry["earlier"] = Value::Array(kept);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::instant;

    fn price(input: f64) -> BilledPrice {
        BilledPrice::from_json(&json!({"inputPerMTok": input, "outputPerMTok": 1})).unwrap()
    }

    fn input_of(version: Option<Option<BilledPrice>>) -> Option<Option<String>> {
        version.map(|p| p.map(|p| p.json()["inputPerMTok"].to_string()))
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_change_scheduled_later_is_in_force_only_from_its_instant() {
        let now = instant(1_800_000_000_000);
        let entry = schedule(None, Some(price(2.0)), now, now);
        let later = now + chrono::Duration::milliseconds(DAY);
        let entry = schedule(Some(&entry), Some(price(3.0)), later, now);
        let before = now - chrono::Duration::milliseconds(1);
        assert_eq!(
            input_of(in_force(&entry, before)),
            None,
            "the shipped price, if any"
        );
        assert_eq!(input_of(in_force(&entry, now)), Some(Some("2.0".into())));
        let last = later - chrono::Duration::milliseconds(1);
        assert_eq!(input_of(in_force(&entry, last)), Some(Some("2.0".into())));
        assert_eq!(input_of(in_force(&entry, later)), Some(Some("3.0".into())));
        assert_eq!(scheduled(&entry, now).len(), 1);
        assert!(scheduled(&entry, later).is_empty());
        // A removal scheduled after it, and a change now: all kept.
        let removal = later + chrono::Duration::milliseconds(DAY);
        let entry = schedule(Some(&entry), None, removal, now);
        let soon = now + chrono::Duration::milliseconds(5);
        let entry = schedule(Some(&entry), Some(price(4.0)), soon, soon);
        assert_eq!(input_of(in_force(&entry, now)), Some(Some("2.0".into())));
        assert_eq!(input_of(in_force(&entry, soon)), Some(Some("4.0".into())));
        assert_eq!(input_of(in_force(&entry, later)), Some(Some("3.0".into())));
        assert_eq!(input_of(in_force(&entry, removal)), Some(None));
        // The stored form reads back version for version.
        let versions = stored_versions(&entry);
        assert_eq!(
            versions
                .iter()
                .map(|v| v.effective_from)
                .collect::<Vec<_>>(),
            vec![Some(now), Some(soon), Some(later), Some(removal)]
        );
    }

    #[test]
    fn a_change_keeps_the_versions_to_come_and_the_two_last_in_force() {
        let t = |d: i64| instant(1_800_000_000_000 + d * DAY);
        let mut entry = Value::Null;
        for d in 0..4 {
            entry = schedule(
                (d > 0).then_some(&entry),
                Some(price(1.0 + d as f64)),
                t(d),
                t(d),
            );
        }
        // At day 3: day 2's (the one before) and day 3's; day 0 and 1 gone.
        let kept: Vec<_> = stored_versions(&entry)
            .iter()
            .map(|v| v.effective_from)
            .collect();
        assert_eq!(kept, vec![Some(t(2)), Some(t(3))]);
        // The same instant replaces its version.
        let entry = schedule(Some(&entry), Some(price(9.0)), t(3), t(3));
        assert_eq!(input_of(in_force(&entry, t(3))), Some(Some("9.0".into())));
        assert_eq!(stored_versions(&entry).len(), 2);
    }

    #[test]
    fn an_entry_from_before_schedules_reads_as_it_was_written() {
        let from = "2026-11-01T00:00:00.000Z";
        let entry = json!({
            "inputPerMTok": 5, "outputPerMTok": 1, "effectiveFrom": from,
            "earlier": {"inputPerMTok": 4, "outputPerMTok": 1}
        });
        let at = from.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(input_of(in_force(&entry, at)), Some(Some("5.0".into())));
        let before = at - chrono::Duration::milliseconds(1);
        assert_eq!(
            input_of(in_force(&entry, before)),
            Some(Some("4.0".into())),
            "the earlier version is in force from the start"
        );
        let old = json!({"inputPerMTok": 3, "outputPerMTok": 1});
        assert_eq!(input_of(in_force(&old, at)), Some(Some("3.0".into())));
        assert_eq!(
            input_of(in_force(&json!({"removed": true}), at)),
            Some(None)
        );
    }
}
