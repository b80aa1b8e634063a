//! A port that existed before its object: its state, read once from the
//! stores of record (KV's budget, D1's rollup, holds and entries).

use super::store;
use super::*;
use crate::time::{instant, ms};

/// What the gate reads once from the stores of record when a port's object
/// starts for the first time on a deployment that already has data.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// The budget saved before (KV).
    pub budget: Option<StoredBudget>,
    /// Usage per period kind, period start and feature, of the periods a
    /// gate or a late commit can still use (D1's rollup).
    pub counters: Vec<ImportedCounter>,
    /// Open holds, and expired ones a late commit may still correct.
    pub holds: Vec<Hold>,
    /// The ledger entries of those expired holds (still estimates).
    pub entries: Vec<Entry>,
    /// The port's highest ledger number so far.
    pub last_seq: u64,
}

/// One imported counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedCounter {
    /// `day`, `week` or `month`.
    pub period: String,
    /// Its start (epoch ms).
    pub period_start: i64,
    /// The feature.
    pub feature: String,
    /// Tokens.
    pub tokens: u64,
    /// Calls.
    pub calls: u64,
    /// Micro-dollars.
    #[serde(default)]
    pub usd: u64,
}

impl<S: Sql> Gate<'_, S> {
    /// True once the port's state was imported (or found empty) at its
    /// object's first start.
    pub fn imported(&self) -> Result<bool, GateError> {
        Ok(self.t.meta("imported")?.is_some())
    }

    /// Takes the state of a port that existed before its object did. Runs
    /// once: a second call changes nothing.
    pub fn import(&self, import: &Import) -> Result<(), GateError> {
        if self.imported()? {
            return Ok(());
        }
        if let Some(budget) = &import.budget {
            self.t.set_meta("budget", &budget.json().to_string())?;
            *self.budget.borrow_mut() = Some(budget.clone());
        }
        for c in &import.counters {
            let Ok(period) = c.period.parse::<crate::Period>() else {
                continue;
            };
            let start = instant(c.period_start);
            let budget = self.budget()?.budget;
            if ms(budget.window_of(period, start).start) != c.period_start {
                continue;
            }
            let tokens = i64::try_from(c.tokens).unwrap_or(i64::MAX);
            let usd = i64::try_from(c.usd).unwrap_or(i64::MAX);
            let calls = i64::try_from(c.calls).unwrap_or(i64::MAX);
            for scope in [
                store::PORT_SCOPE.to_owned(),
                store::feature_scope(&c.feature),
            ] {
                self.t
                    .count_period(period, c.period_start, &scope, (tokens, usd), calls)?;
            }
        }
        for e in &import.entries {
            self.t.insert_entry(e)?;
        }
        // What D1 gave back is delivered as it is.
        let delivered: Vec<(u64, u64)> =
            import.entries.iter().map(|e| (e.seq, e.version)).collect();
        self.delivered(&delivered)?;
        for h in &import.holds {
            self.t.insert_hold(h)?;
            if h.state != HoldState::Held {
                self.t.settle_hold(
                    &h.id,
                    h.state,
                    h.settled_at.unwrap_or(h.expires_at),
                    None,
                    h.entry_seq,
                )?;
            }
        }
        self.t
            .set_meta("next_seq", &(import.last_seq + 1).to_string())?;
        self.t.set_meta("imported", "1")?;
        Ok(())
    }
}
