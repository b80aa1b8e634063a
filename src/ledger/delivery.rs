//! Delivering a port gate's outbox to the ledger of record (D1): one batch
//! of statements per delivery, run as one transaction, safe to run again.
//!
//! For each entry the batch:
//! 1. inserts the row unless the port already has its request id;
//! 2. takes the row's old numbers out of the rollup, if the row is ours
//!    (same number) and older than this version;
//! 3. rewrites the row with this version, if it is ours and older;
//! 4. adds the row's numbers to the rollup, if this attempt wrote it (its
//!    `write_id`): once, whichever of 1 or 3 wrote it.
//!
//! A retried batch whose first reply was lost finds every row written
//! under another attempt's id and changes nothing, so each version counts
//! once. The batch ends by reading back each request id's row, so the
//! caller learns which entries the ledger has and which request ids it
//! already held under another number (a duplicate the gate no longer
//! remembered).

use crate::gate::{Entry, ENTRY_COLUMNS};
use crate::sql::{assignments, placeholders, Row, Statement, Value};
use crate::time::{instant, ms};
use crate::Budget;

/// One entry to deliver, with the version the ledger already has (0: none).
pub type Pending = (Entry, u64);

/// What a delivery did to one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The ledger has this version of the entry.
    Stored {
        /// The entry's number.
        seq: u64,
        /// Its version.
        version: u64,
    },
    /// The ledger already had the request id under another number: the
    /// entry is a duplicate of an older call, never counted there.
    Duplicate {
        /// The entry's number.
        seq: u64,
    },
}

/// The columns of a delivered row: the port, the ledger's own
/// ([`ENTRY_COLUMNS`], one list with the gate's), and the total D1 checks
/// (`total_tokens = input_tokens + output_tokens`). The parameters of
/// [`insert_sql`] and [`correct_sql`] are numbered in this order.
fn row_columns() -> Vec<&'static str> {
    let mut columns = vec!["port_id"];
    columns.extend(ENTRY_COLUMNS);
    columns.push("total_tokens");
    columns
}

/// The number of a row column's parameter.
fn param(column: &str) -> usize {
    1 + row_columns()
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("{column} is not a row column"))
}

/// Inserts a new row unless the port already has its request id.
fn insert_sql() -> String {
    let columns = row_columns();
    format!(
        "INSERT INTO usage_ledger ({}) VALUES ({}) ON CONFLICT (port_id, request_id) DO NOTHING",
        columns.join(", "),
        placeholders(columns.len(), 1)
    )
}

/// Rewrites row `seq` of the port with this version, if it is older (same
/// parameters as [`insert_sql`]).
fn correct_sql() -> String {
    format!(
        "UPDATE usage_ledger SET {} WHERE port_id = ?1 AND seq = ?{} AND request_id = ?{} \
         AND created_at = ?{} AND version < ?{}",
        assignments(
            &row_columns(),
            1,
            &["port_id", "seq", "request_id", "created_at"]
        ),
        param("seq"),
        param("request_id"),
        param("created_at"),
        param("version"),
    )
}

/// Takes an older version of row ?2 of port ?1 out of the rollup of its
/// periods (?4 day, ?5 week, ?6 month starts of its instant ?3), below
/// version ?7.
const UNCOUNT_SQL: &str = "UPDATE usage_rollup SET tokens = usage_rollup.tokens - old.total_tokens, \
    calls = usage_rollup.calls - 1, usd_micros = usage_rollup.usd_micros - old.cost \
  FROM (SELECT l.feature, l.total_tokens, COALESCE(l.cost_usd_micros, 0) AS cost, p.period, p.start \
    FROM usage_ledger l, \
      (SELECT 'day' AS period, ?4 AS start UNION ALL SELECT 'week', ?5 UNION ALL SELECT 'month', ?6) p \
    WHERE l.port_id = ?1 AND l.seq = ?2 AND l.created_at = ?3 AND l.version < ?7) old \
  WHERE usage_rollup.port_id = ?1 AND usage_rollup.period = old.period \
    AND usage_rollup.period_start = old.start AND usage_rollup.feature = old.feature";

/// Adds row ?2 of port ?1 to the rollup of its periods (?3 day, ?4 week,
/// ?5 month), if write ?6 wrote it.
const COUNT_SQL: &str = "INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls, usd_micros) \
  SELECT l.port_id, p.period, p.start, l.feature, l.total_tokens, 1, COALESCE(l.cost_usd_micros, 0) \
  FROM usage_ledger l, \
    (SELECT 'day' AS period, ?3 AS start UNION ALL SELECT 'week', ?4 UNION ALL SELECT 'month', ?5) p \
  WHERE l.port_id = ?1 AND l.seq = ?2 AND l.write_id = ?6 \
  ON CONFLICT (port_id, period, period_start, feature) DO UPDATE SET \
    tokens = tokens + excluded.tokens, calls = calls + 1, usd_micros = usd_micros + excluded.usd_micros";

/// Drops rollup rows a correction left empty (the call moved feature).
const DROP_EMPTY_SQL: &str =
    "DELETE FROM usage_rollup WHERE port_id = ?1 AND calls <= 0 AND tokens <= 0 AND usd_micros <= 0";

/// The port's snapshot for the port list.
const SNAPSHOT_SQL: &str = "INSERT INTO port_gates (port_id, held_tokens, open_holds, pending_entries, updated_at, held_usd_micros, \
    refusals_period_start, refusals) \
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (port_id) DO UPDATE SET held_tokens = excluded.held_tokens, \
    held_usd_micros = excluded.held_usd_micros, refusals_period_start = excluded.refusals_period_start, \
    refusals = excluded.refusals, \
    open_holds = excluded.open_holds, pending_entries = excluded.pending_entries, updated_at = excluded.updated_at";

/// The most entries one batch carries: the delivery loop's size
/// ([`crate::gate::wake::BATCH_ENTRIES`]).
pub use crate::gate::wake::BATCH_ENTRIES;

/// What the port list shows of a port's object, delivered with its ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Tokens held by open holds.
    pub held_tokens: u64,
    /// Micro-dollars held by open holds.
    pub held_usd: u64,
    /// Open holds.
    pub open_holds: u64,
    /// Entries still on their way after this batch.
    pub pending_entries: u64,
    /// When (epoch ms).
    pub at: i64,
    /// The start of the budget's current period (epoch ms), which
    /// `refusals` count in.
    pub refusals_start: i64,
    /// The requests refused in that period, by reason and scope.
    pub refusals: Vec<crate::gate::RefusalCount>,
    /// The batch is a shard's: the port list shows the port's own object's
    /// snapshot (which counts what its shards hold), so a shard's batch
    /// carries none.
    pub of_shard: bool,
}

fn starts(budget: &Budget, at: i64) -> [Value; 3] {
    budget.period_starts(at).map(Value::Integer)
}

/// A row's parameters, in [`row_columns`]' order: the entry's values with
/// this attempt's `write_id` (the row records which attempt wrote it).
fn row_params(port: &str, e: &Entry, write_id: &str) -> Vec<Value> {
    let mut params = vec![Value::from(port)];
    params.extend(e.values());
    params[param("write_id") - 1] = write_id.into();
    params.push(e.total_tokens().into());
    params
}

/// The batch that delivers `entries` of `port` under the attempt id
/// `write_id` (fresh for every attempt), with the port's `snapshot`. Its
/// last statement reads back each request id's row. Its rollups go under
/// the periods of the port's calendar (`budget`'s).
pub fn batch(
    port: &str,
    budget: &Budget,
    entries: &[Pending],
    write_id: &str,
    snapshot: Snapshot,
) -> Vec<Statement> {
    let mut out = Vec::with_capacity(entries.len() * 4 + 3);
    for (e, _) in entries {
        let [day, week, month] = starts(budget, e.created_at);
        let params = row_params(port, e, write_id);
        out.push(Statement::new(insert_sql(), params.clone()));
        // Uncounting and correcting an older version of the row: an
        // entry's first version (1, the least there is) has none, so both
        // would change nothing and are left out (half a first delivery's
        // statements).
        if e.version > 1 {
            out.push(Statement::new(
                UNCOUNT_SQL,
                vec![
                    port.into(),
                    e.seq.into(),
                    e.created_at.into(),
                    day.clone(),
                    week.clone(),
                    month.clone(),
                    e.version.into(),
                ],
            ));
            out.push(Statement::new(correct_sql(), params));
        }
        out.push(Statement::new(
            COUNT_SQL,
            vec![port.into(), e.seq.into(), day, week, month, write_id.into()],
        ));
    }
    out.push(Statement::new(DROP_EMPTY_SQL, vec![port.into()]));
    out.extend((!snapshot.of_shard).then(|| {
        Statement::new(
            SNAPSHOT_SQL,
            vec![
                port.into(),
                snapshot.held_tokens.into(),
                snapshot.open_holds.into(),
                snapshot.pending_entries.into(),
                snapshot.at.into(),
                snapshot.held_usd.into(),
                snapshot.refusals_start.into(),
                serde_json::to_string(&snapshot.refusals)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
            ],
        )
    }));
    if entries.is_empty() {
        // Only the snapshot: nothing to read back (and no parameter left
        // unbound, which D1 refuses).
        out.push(Statement::new(
            "SELECT request_id, seq, version FROM usage_ledger WHERE 0",
            vec![],
        ));
    } else {
        let marks = vec!["?"; entries.len()].join(", ");
        let mut params = vec![Value::from(port)];
        params.extend(entries.iter().map(|(e, _)| Value::from(&e.request_id)));
        out.push(Statement::new(
            format!("SELECT request_id, seq, version FROM usage_ledger WHERE port_id = ? AND request_id IN ({marks})"),
            params,
        ));
    }
    out
}

/// What the ledger says of each entry, from the batch's last result.
pub fn outcome(entries: &[Pending], read_back: &[Row]) -> Vec<Delivered> {
    entries
        .iter()
        .filter_map(|(e, _)| {
            let row = read_back
                .iter()
                .find(|r| r.text("request_id").as_deref() == Some(&e.request_id))?;
            Some(if row.count("seq") != e.seq {
                Delivered::Duplicate { seq: e.seq }
            } else {
                Delivered::Stored {
                    seq: e.seq,
                    version: row.count("version").min(e.version),
                }
            })
        })
        .collect()
}

/// The next batch of a gate's outbox: up to `limit` entries, and the
/// port's snapshot at `at` (epoch ms) as the port list shows it once they
/// are delivered. Read in one transaction.
///
/// # Errors
/// The gate's storage.
pub fn next_batch<S: crate::sql::Sql>(
    gate: &crate::gate::Gate<'_, S>,
    limit: u32,
    at: i64,
) -> Result<(Vec<Pending>, Snapshot), crate::gate::GateError> {
    let pending = gate.pending(limit)?;
    let (open_holds, held_tokens, held_usd) = gate.open_holds()?;
    let total = gate.pending_count()?;
    let stored = gate.budget()?;
    let refusals_start = ms(stored.budget.window(instant(at)).start);
    // What the port's shards hold is the port's too.
    let (_, shards_held) = gate.shards_standing(&stored, instant(at))?;
    let (held_tokens, held_usd) = match stored.budget.unit {
        crate::Unit::Tokens => (held_tokens.saturating_add(shards_held), held_usd),
        crate::Unit::Usd => (held_tokens, held_usd.saturating_add(shards_held)),
    };
    let snapshot = Snapshot {
        refusals_start,
        refusals: gate.refusal_counts(refusals_start)?,
        held_tokens,
        held_usd,
        open_holds,
        of_shard: gate.shard()?.is_some(),
        pending_entries: total.saturating_sub(pending.len() as u64),
        at,
    };
    Ok((pending, snapshot))
}

/// Records in the gate what a delivery did ([`outcome`]): the versions
/// the ledger now has, and the duplicates it held under another number
/// (uncounted by the gate, so its counters stay equal to the ledger's).
///
/// # Errors
/// The gate's storage.
pub fn record<S: crate::sql::Sql>(
    gate: &crate::gate::Gate<'_, S>,
    delivered: &[Delivered],
) -> Result<(), crate::gate::GateError> {
    let mut versions = Vec::new();
    for d in delivered {
        match d {
            Delivered::Stored { seq, version } => versions.push((*seq, *version)),
            Delivered::Duplicate { seq } => gate.forget_duplicate(*seq)?,
        }
    }
    gate.delivered(&versions)
}
