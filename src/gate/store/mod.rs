//! The port gate's tables, one query at a time: meta values here, holds,
//! counters and ledger entries in a submodule each.
//! No rule lives here; [`super::Gate`] decides, this reads and writes.

mod counters;
pub mod credits;
mod entries;
mod holds;

use super::model::Entry;
use crate::sql::{Fact, Row, Sql, SqlError, Value};
use crate::tokens::TokenCounts;

/// The scope of the port's own counters.
pub const PORT_SCOPE: &str = "";

/// The counter scope of a feature.
pub fn feature_scope(feature: &str) -> String {
    format!("f:{feature}")
}

/// The counter scope of an end user.
pub fn user_scope(user: &str) -> String {
    format!("u:{user}")
}

/// The scopes a call by `feature` for `user` counts in.
pub fn scopes(feature: &str, user: Option<&str>) -> Vec<String> {
    let mut scopes = vec![PORT_SCOPE.to_owned(), feature_scope(feature)];
    scopes.extend(user.map(user_scope));
    scopes
}

/// The typed view of the gate's storage.
pub struct Tables<'a, S: Sql> {
    sql: &'a S,
}

impl<'a, S: Sql> Tables<'a, S> {
    /// The tables over `sql`.
    pub fn new(sql: &'a S) -> Tables<'a, S> {
        Tables { sql }
    }

    pub(super) fn exec(&self, query: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.sql.exec(query, params)
    }

    /// The storage the tables live in (the alert tables share it).
    pub fn sql(&self) -> &'a S {
        self.sql
    }

    /// Runs a statement of the gate's own (seeding for benchmarks).
    pub fn exec_raw(&self, query: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.sql.exec(query, params)
    }

    pub(super) fn one(&self, query: &str, params: &[Value]) -> Result<Option<Row>, SqlError> {
        Ok(self.exec(query, params)?.into_iter().next())
    }

    /// Runs `write`, a write to `fact`'s table, keeping `fact` across it:
    /// the value it had before, as `moved` says the write moved it
    /// (`None`: forgotten, as any write to the table forgets it).
    pub(super) fn keeping<T>(
        &self,
        fact: Fact,
        moved: impl FnOnce(i64) -> Option<i64>,
        write: impl FnOnce() -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let before = self.sql.fact(fact);
        let out = write()?;
        if let Some(value) = before.and_then(moved) {
            self.sql.keep_fact(fact, value);
        }
        Ok(out)
    }

    // ------------------------------------------------------------ meta

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, SqlError> {
        Ok(self
            .one("SELECT value FROM meta WHERE key = ?1", &[key.into()])?
            .and_then(|r| r.text("value")))
    }

    /// Sets a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), SqlError> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[key.into(), value.into()],
        )?;
        Ok(())
    }

    /// Deletes a meta value.
    pub fn delete_meta(&self, key: &str) -> Result<(), SqlError> {
        self.exec("DELETE FROM meta WHERE key = ?1", &[key.into()])?;
        Ok(())
    }

    /// The next ledger sequence number, taken (numbers are never reused,
    /// even after old entries are pruned).
    pub fn take_seq(&self) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "INSERT INTO meta (key, value) VALUES ('next_seq', '2') \
                 ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) \
                 RETURNING CAST(value AS INTEGER) - 1 AS seq",
                &[],
            )?
            .map_or(1, |r| r.count("seq")))
    }
}

/// A row of an entries table (the gate's, or D1's ledger) as an entry.
pub fn entry_of(row: &Row) -> Entry {
    Entry {
        seq: row.count("seq"),
        request_id: row.text("request_id").unwrap_or_default(),
        reservation_id: row.text("reservation_id"),
        user_id: row.text("user_id"),
        feature: row.text("feature").unwrap_or_default(),
        provider: row.text("provider").unwrap_or_default(),
        model: row.text("model").unwrap_or_default(),
        cost_usd: row.int("cost_usd_micros").map(|v| v.max(0) as u64),
        price_version: row.text("price_version"),
        price_source: row.text("price_source"),
        tokens: TokenCounts {
            input_tokens: row.count("input_tokens"),
            cached_input_tokens: row.count("cached_input_tokens"),
            cache_write_tokens: row.count("cache_write_tokens"),
            output_tokens: row.count("output_tokens"),
            reasoning_tokens: row.count("reasoning_tokens"),
        },
        body_hash: row.text("body_hash").unwrap_or_default(),
        estimated: row.int("estimated").unwrap_or(0) != 0,
        created_at: row.int("created_at").unwrap_or(0),
        version: row.count("version"),
        write_id: row.text("write_id").unwrap_or_default(),
        funded_by: row.text("funded_by"),
    }
}
