//! The recent ledger and its outbox to the ledger of record: entries by
//! number and request id, their delivered and set-aside versions.

use super::{entry_of, Tables};
use crate::gate::model::{Entry, SetAside, ENTRY_COLUMNS};
use crate::sql::{assignments, placeholders, Fact, Sql, SqlError};

/// How many entries wait for delivery to the ledger of record: read once,
/// then counted along as entries are stored, so that the outbox's count
/// after every change is no read; a delivery's marks forget it.
const PENDING_ENTRIES: Fact = Fact::on("entries", "entries pending delivery");

/// Entries one delivery mark names at most: within the storage's limit of
/// 100 bound parameters per statement.
pub const MARKS_PER_STATEMENT: usize = 90;

/// The columns an entry is read with: the ledger's, and the version the
/// ledger of record has.
fn selected() -> String {
    format!("{}, delivered_version", ENTRY_COLUMNS.join(", "))
}

impl<S: Sql> Tables<'_, S> {
    /// The entry with this sequence number.
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>, SqlError> {
        let q = format!("SELECT {} FROM entries WHERE seq = ?1", selected());
        Ok(self.one(&q, &[seq.into()])?.as_ref().map(entry_of))
    }

    /// The entry counted under this request id.
    pub fn entry_by_request(&self, request_id: &str) -> Result<Option<Entry>, SqlError> {
        let q = format!("SELECT {} FROM entries WHERE request_id = ?1", selected());
        Ok(self.one(&q, &[request_id.into()])?.as_ref().map(entry_of))
    }

    /// Stores a new entry (to be delivered).
    pub fn insert_entry(&self, e: &Entry) -> Result<(), SqlError> {
        let q = format!(
            "INSERT INTO entries ({}, delivered_version) VALUES ({}, 0)",
            ENTRY_COLUMNS.join(", "),
            placeholders(ENTRY_COLUMNS.len(), 1)
        );
        // A new entry (version 1 or more, nothing delivered or set aside)
        // is one more on its way.
        let pending = e.version > 0;
        self.keeping(
            PENDING_ENTRIES,
            |n| pending.then_some(n + 1),
            || self.exec(&q, &e.values()),
        )?;
        Ok(())
    }

    /// Rewrites an entry's values (a late commit), bumping its version so it
    /// is delivered again.
    pub fn replace_entry(&self, e: &Entry) -> Result<(), SqlError> {
        let q = format!(
            "UPDATE entries SET {} WHERE seq = ?1",
            assignments(&ENTRY_COLUMNS, 1, &["seq"])
        );
        self.exec(&q, &e.values())?;
        Ok(())
    }

    /// Entries whose newest version the ledger of record has not got,
    /// oldest first, with the version it has (0: none).
    pub fn pending_entries(&self, limit: u32) -> Result<Vec<(Entry, u64)>, SqlError> {
        let q = format!(
            "SELECT {} FROM entries WHERE delivered_version < version \
               AND set_aside_version < version ORDER BY seq LIMIT ?1",
            selected()
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(|r| (entry_of(r), r.count("delivered_version")))
            .collect())
    }

    /// How many entries are on their way to the ledger of record.
    /// Read once, then kept as entries are stored (`PENDING_ENTRIES`).
    pub fn pending_count(&self) -> Result<u64, SqlError> {
        if let Some(n) = self.sql().fact(PENDING_ENTRIES) {
            return Ok(u64::try_from(n).unwrap_or(0));
        }
        let n = self
            .one(
                "SELECT COUNT(*) AS n FROM entries WHERE delivered_version < version \
                   AND set_aside_version < version",
                &[],
            )?
            .map_or(0, |r| r.count("n"));
        self.sql()
            .keep_fact(PENDING_ENTRIES, i64::try_from(n).unwrap_or(i64::MAX));
        Ok(n)
    }

    /// Sets `version` of entry `seq` aside: the ledger of record refused
    /// it for good, so it is no longer pending (the entries behind it go
    /// on) and is kept, with `reason`, until a newer version or a retry.
    /// False when that version is not the entry's newest undelivered one.
    pub fn set_aside(
        &self,
        seq: u64,
        version: u64,
        reason: &str,
        at: i64,
    ) -> Result<bool, SqlError> {
        let reason: String = reason.chars().take(500).collect();
        let undelivered = self
            .one(
                "SELECT seq FROM entries WHERE seq = ?1 AND version = ?2 AND delivered_version < ?2",
                &[seq.into(), version.into()],
            )?
            .is_some();
        if undelivered {
            self.exec(
                "UPDATE entries SET set_aside_version = ?2, set_aside_reason = ?3, set_aside_at = ?4 \
                 WHERE seq = ?1",
                &[seq.into(), version.into(), reason.into(), at.into()],
            )?;
        }
        Ok(undelivered)
    }

    /// Entries set aside (their newest version refused for good by the
    /// ledger of record), oldest first.
    pub fn set_aside_entries(&self, limit: u32) -> Result<Vec<SetAside>, SqlError> {
        let q = format!(
            "SELECT {}, set_aside_reason, set_aside_at FROM entries \
             WHERE set_aside_version = version AND delivered_version < version ORDER BY seq LIMIT ?1",
            selected()
        );
        Ok(self
            .exec(&q, &[i64::from(limit).into()])?
            .iter()
            .map(|r| SetAside {
                seq: r.count("seq"),
                request_id: r.text("request_id").unwrap_or_default(),
                version: r.count("version"),
                reason: r.text("set_aside_reason").unwrap_or_default(),
                at: r.int("set_aside_at").unwrap_or(0),
            })
            .collect())
    }

    /// How many entries are set aside.
    pub fn set_aside_count(&self) -> Result<u64, SqlError> {
        Ok(self
            .one(
                "SELECT COUNT(*) AS n FROM entries WHERE set_aside_version = version \
                   AND delivered_version < version",
                &[],
            )?
            .map_or(0, |r| r.count("n")))
    }

    /// Puts every set-aside entry back on its way (after the cause was
    /// mended); returns how many.
    pub fn retry_set_aside(&self) -> Result<u64, SqlError> {
        let n = self.set_aside_count()?;
        self.exec(
            "UPDATE entries SET set_aside_version = 0, set_aside_reason = NULL, set_aside_at = NULL \
             WHERE set_aside_version = version AND delivered_version < version",
            &[],
        )?;
        Ok(n)
    }

    /// Marks that the ledger of record has `version` of each entry in
    /// `seqs` (an entry already marked with a later version keeps it): one
    /// statement per `MARKS_PER_STATEMENT` entries, not one each.
    pub fn mark_delivered(&self, version: u64, seqs: &[u64]) -> Result<(), SqlError> {
        for chunk in seqs.chunks(MARKS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE entries SET delivered_version = ?1 \
                 WHERE delivered_version < ?1 AND seq IN ({})",
                placeholders(chunk.len(), 2)
            );
            let mut params = Vec::with_capacity(chunk.len() + 1);
            params.push(version.into());
            params.extend(chunk.iter().map(|seq| (*seq).into()));
            self.exec(&sql, &params)?;
        }
        Ok(())
    }

    /// Deletes one entry.
    pub fn delete_entry(&self, seq: u64) -> Result<(), SqlError> {
        self.exec("DELETE FROM entries WHERE seq = ?1", &[seq.into()])?;
        Ok(())
    }

    /// Deletes delivered entries created before `before` (their request
    /// ids are forgotten by the gate; the ledger of record keeps them).
    pub fn prune_entries(&self, before: i64) -> Result<(), SqlError> {
        self.exec(
            "DELETE FROM entries WHERE created_at < ?1 AND delivered_version >= version \
               AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.entry_seq = entries.seq AND h.state = 'expired')",
            &[before.into()],
        )?;
        Ok(())
    }
}
