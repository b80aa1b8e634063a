//! Saving a port's budget: a partial update merged and validated by the
//! core, over the version `If-Match` names.

use chrono::{DateTime, Utc};

use super::*;
use crate::time::iso;
use crate::RawBudget;

/// True when a save may go ahead over the version `current` (its
/// `updatedAt`, `None` when never saved): no `If-Match`, `*`, or the
/// version, quoted or not.
pub fn if_match_allows(if_match: Option<&str>, current: Option<&str>) -> bool {
    match if_match.map(str::trim) {
        None => true,
        Some(expected) => {
            expected == "*" || current.is_some_and(|at| expected.trim_matches('"') == at)
        }
    }
}

impl<S: Sql> Gate<'_, S> {
    /// Saves a partial update of the budget, merged and validated by the
    /// core, only over the version `if_match` names (`*` matches any).
    /// Binds every operation after it. `updatedAt` is unique per save (at
    /// least a millisecond after the previous one), so it serves as the
    /// budget's version.
    /// The update is the API's JSON: the budget's fields, merged by
    /// [`Budget::merge`](crate::Budget::merge), and the caps inside the
    /// port, by [`SubCaps::merge`](crate::caps::SubCaps::merge).
    pub fn save_budget(
        &self,
        update: &serde_json::Value,
        if_match: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SaveOutcome, GateError> {
        let current = self.budget()?;
        if !if_match_allows(if_match, current.updated_at.as_deref()) {
            return Ok(SaveOutcome::PreconditionFailed { budget: current });
        }
        if update.as_object().is_some_and(|m| m.is_empty()) {
            return Ok(SaveOutcome::Unchanged { budget: current });
        }
        let invalid = |e: crate::Error| SaveOutcome::Invalid {
            code: e.code().as_str().to_owned(),
            field: e.field().map(str::to_owned),
            message: e.message().to_owned(),
        };
        // The parent group, read on its own (its chain is the caller's to
        // check: the groups live in other objects).
        let parent = match crate::allowance::parent_update(update) {
            Ok(Some(parent)) => parent,
            Ok(None) => current.parent.clone(),
            Err(e) => return Ok(invalid(e)),
        };
        let shards = match crate::allowance::shards::shards_update(update) {
            Ok(shards) => shards.unwrap_or(current.shards),
            Err(e) => return Ok(invalid(e)),
        };
        // The caps inside the port are merged on their own; the rest is the
        // budget's, merged by the core as it always was.
        let mut rest = update.clone();
        if let Some(fields) = rest.as_object_mut() {
            fields.remove("parent");
            fields.remove("shards");
        }
        let caps = match rest.as_object_mut() {
            Some(fields) => {
                let caps_update: serde_json::Map<String, serde_json::Value> = crate::caps::FIELDS
                    .iter()
                    .filter_map(|k| fields.remove(*k).map(|v| ((*k).to_owned(), v)))
                    .collect();
                match current.caps.merge(&caps_update) {
                    Ok(caps) => caps,
                    Err(e) => return Ok(invalid(e)),
                }
            }
            None => current.caps.clone(),
        };
        // A shard decides on its own part of the port: the port's cap binds
        // it through its allowance, but a group above the port and the caps
        // inside it are judged on one object's counts, so they do not go
        // with shards (yet).
        if shards > 1 && (parent.is_some() || !caps.is_empty()) {
            let with = if parent.is_some() {
                "a parent group"
            } else {
                "feature or user caps"
            };
            return Ok(invalid(crate::Error::new(
                crate::ErrorCode::InvalidValue,
                Some("shards"),
                format!("a port with {with} has one shard: remove them first, or set shards to 1"),
            )));
        }
        let rollover_update = rest.as_object_mut().and_then(|m| m.remove("rollover"));
        let raw: RawBudget = serde_json::from_value(rest).unwrap_or(RawBudget {
            not_an_object: true,
            ..RawBudget::default()
        });
        let budget = match current.budget.merge(&raw) {
            Ok(budget) => {
                budget.calendar_changed(&current.budget, current.updated_at.is_some(), now)
            }
            Err(e) => return Ok(invalid(e)),
        };
        // Read in the saved budget's unit; a change of unit without a new
        // rollover turns it off (its amount was in the other unit).
        let rollover = match &rollover_update {
            Some(v) => match model::rollover_max(budget.unit, v) {
                Ok(max) => max,
                Err(e) => return Ok(invalid(e)),
            },
            None if budget.unit == current.budget.unit => current.rollover,
            None => None,
        };
        let previous = current
            .updated_at
            .as_deref()
            .and_then(crate::time::parse_rfc3339);
        let at = match previous {
            Some(p) if p >= now => p + chrono::Duration::milliseconds(1),
            _ => now,
        };
        if let Some(old) = current
            .parent
            .as_deref()
            .filter(|old| parent.as_deref() != Some(*old))
        {
            self.leave_group(old)?;
        }
        let saved = StoredBudget {
            budget,
            caps,
            rollover,
            updated_by: Some(actor.to_owned()),
            updated_at: Some(iso(at)),
            parent,
            shards,
            shard_history: self.shards_changed(&current, shards, now),
        };
        self.t.set_meta("budget", &saved.json().to_string())?;
        if current.rollover.is_none() && saved.rollover.is_some() {
            // Rollover counts from the period it was turned on in.
            let window = saved.budget.period.window(now);
            self.t.record_rollover(
                saved.budget.period.as_str(),
                window.start.timestamp_millis(),
                saved.budget.unit,
                0,
                0,
                now.timestamp_millis(),
            )?;
        }
        *self.budget.borrow_mut() = Some(saved.clone());
        Ok(SaveOutcome::Saved { budget: saved })
    }
}
