//! The outbox to the ledger of record: what is on its way, what arrived,
//! what D1 refused for good; pruning, and history for benchmarks.

use chrono::{DateTime, Utc};

use super::store;
use super::*;
use crate::time::ms;

impl<S: Sql> Gate<'_, S> {
    /// Forgets an entry the ledger of record already held under another
    /// number (a request id counted long ago, which the gate no longer
    /// remembered): it is uncounted, so the gate's counters stay equal to
    /// the ledger's.
    pub fn forget_duplicate(&self, seq: u64) -> Result<(), GateError> {
        if let Some(entry) = self.t.entry(seq)? {
            self.count(&entry, -1)?;
            self.t.delete_entry(seq)?;
        }
        Ok(())
    }

    /// Up to `limit` entries whose newest version the ledger of record has
    /// not got, oldest first, each with the version it has (0: none).
    pub fn pending(&self, limit: u32) -> Result<Vec<(Entry, u64)>, GateError> {
        Ok(self.t.pending_entries(limit)?)
    }

    /// How many entries are on their way to the ledger of record.
    pub fn pending_count(&self) -> Result<u64, GateError> {
        Ok(self.t.pending_count()?)
    }

    /// Sets an entry's `version` aside: the ledger of record refused it
    /// for good ([`crate::gate::wake::refused_for_good`]), so the
    /// entries behind it go on. It stays counted by the gate and listed
    /// ([`Gate::set_aside_entries`]) until a newer version of it (a late
    /// commit) or [`Gate::retry_set_aside`]. False when that version is
    /// already delivered or superseded.
    pub fn set_aside(
        &self,
        seq: u64,
        version: u64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, GateError> {
        Ok(self.t.set_aside(seq, version, reason, ms(now))?)
    }

    /// Sets aside the version of `entry` the ledger of record refused for
    /// good ([`Gate::set_aside`]) and, when it was not already, writes a
    /// `ledger-row-set-aside` alert event with `fields` (its seq, version,
    /// request id, reason and instant) in the same transaction. True when
    /// it set it aside now.
    ///
    /// # Errors
    /// The storage's.
    pub fn set_aside_noticed(
        &self,
        entry: &Entry,
        reason: &str,
        fields: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, GateError> {
        if !self.set_aside(entry.seq, entry.version, reason, now)? {
            return Ok(false);
        }
        let port = self.port()?.unwrap_or_default();
        crate::alerts::watch::notice(self.t.sql(), &port, "ledger-row-set-aside", fields, ms(now))?;
        Ok(true)
    }

    /// Up to `limit` entries set aside, oldest first.
    pub fn set_aside_entries(&self, limit: u32) -> Result<Vec<SetAside>, GateError> {
        Ok(self.t.set_aside_entries(limit)?)
    }

    /// How many entries are set aside.
    pub fn set_aside_count(&self) -> Result<u64, GateError> {
        Ok(self.t.set_aside_count()?)
    }

    /// Puts every set-aside entry back on its way; returns how many.
    pub fn retry_set_aside(&self) -> Result<u64, GateError> {
        Ok(self.t.retry_set_aside()?)
    }

    /// Records that the ledger of record now has these `(seq, version)`s.
    /// The entries delivered at the same version are marked together.
    pub fn delivered(&self, versions: &[(u64, u64)]) -> Result<(), GateError> {
        let mut by_version: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for (seq, version) in versions {
            by_version.entry(*version).or_default().push(*seq);
        }
        for (version, seqs) in &by_version {
            self.t.mark_delivered(*version, seqs)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ benchmarks

    /// Fills the gate with `rows` delivered ledger entries of 10 tokens
    /// each, spread over the day before `at`'s end, and their counters: a
    /// port with a long history, for benchmarks (the Worker offers it only
    /// under its test seams). With `users` above 0 the rows go round that
    /// many distinct end users (`user-0`, ...), each with their counters.
    /// Numbers go on from the port's.
    pub fn seed_history(&self, rows: u64, users: u64, at: DateTime<Utc>) -> Result<(), GateError> {
        let first = self
            .t
            .meta("next_seq")?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        let budget = self.budget()?.budget;
        let day = budget.window_of(crate::Period::Day, at).start;
        let spread = (ms(at) - ms(day)).max(1);
        self.t.exec_raw(
            "INSERT INTO entries (seq, request_id, reservation_id, user_id, feature, provider, model, \
               input_tokens, output_tokens, body_hash, estimated, created_at, version, delivered_version) \
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) \
             SELECT ?1 + i, 'seed-' || (?1 + i), NULL, \
               CASE WHEN ?5 > 0 THEN 'user-' || (i % ?5) END, 'feature-' || (i % 5), 'openai', 'gpt', 7, 3, \
               'seed', 0, ?3 + (i * 7919) % ?4, 1, 1 FROM n",
            &[
                first.into(),
                rows.into(),
                ms(day).into(),
                spread.into(),
                users.into(),
            ],
        )?;
        for period in crate::Period::ALL {
            self.t.exec_raw(
                "INSERT INTO counters (period, period_start, scope, tokens, calls) \
                 SELECT ?1, ?2, 'u:' || user_id, SUM(input_tokens + output_tokens), COUNT(*) \
                 FROM entries WHERE seq >= ?3 AND user_id IS NOT NULL GROUP BY user_id \
                 ON CONFLICT (period, period_start, scope) DO UPDATE \
                 SET tokens = tokens + excluded.tokens, calls = calls + excluded.calls",
                &[
                    period.as_str().into(),
                    ms(budget.window_of(period, at).start).into(),
                    first.into(),
                ],
            )?;
        }
        self.t.set_meta("next_seq", &(first + rows).to_string())?;
        let per_feature = |k: u64| (rows / 5 + u64::from(k < rows % 5)) as i64;
        for k in 0..5u64 {
            let scope = store::feature_scope(&format!("feature-{k}"));
            let calls = per_feature(k);
            self.t
                .count(budget.period_starts(ms(at)), &[scope], calls * 10, calls)?;
        }
        let rows = rows as i64;
        self.t.count(
            budget.period_starts(ms(at)),
            &[store::PORT_SCOPE.to_owned()],
            rows * 10,
            rows,
        )?;
        Ok(())
    }

    // ------------------------------------------------------------ pruning

    /// Forgets what no gate or late commit can still need: holds settled
    /// and entries delivered more than their retention ago, counters and
    /// refusals of long-past periods.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<(), GateError> {
        let now = ms(now);
        self.t.prune_holds(now - HOLD_RETENTION_DAYS * DAY_MS)?;
        self.t.prune_entries(now - ENTRY_RETENTION_DAYS * DAY_MS)?;
        self.t
            .prune_counters(now - COUNTER_RETENTION_DAYS * DAY_MS)?;
        self.prune_refusals(now - COUNTER_RETENTION_DAYS * DAY_MS)?;
        Ok(())
    }
}
