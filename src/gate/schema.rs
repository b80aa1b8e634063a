//! The port gate's own storage: one SQLite database per port (the port's
//! Durable Object), created on first use and migrated forward by number.

use crate::sql::{Sql, SqlError, Value};

/// Each schema version's statements, in order. A database at version `n`
/// has run the first `n` entries.
const VERSIONS: &[&[&str]] = &[&[
    // Small settings: the enforced budget, the next ledger number, the
    // first-start import mark.
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // Holds (reservations): open ones weigh on the gate; settled ones are
    // kept for the retention, so a retried commit or release answers as
    // the first time.
    "CREATE TABLE IF NOT EXISTS holds (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        feature TEXT NOT NULL,
        user_id TEXT,
        estimated_tokens INTEGER NOT NULL CHECK (estimated_tokens >= 0),
        state TEXT NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
        body_hash TEXT NOT NULL,
        actual_tokens INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        settled_at INTEGER,
        entry_seq INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS holds_open ON holds (state, expires_at)",
    "CREATE INDEX IF NOT EXISTS holds_settled ON holds (settled_at) WHERE settled_at IS NOT NULL",
    // Usage counters per period kind, period start and scope ('' the port,
    // 'f:<feature>', 'u:<end user>'): what the gate reads, at any ledger size.
    "CREATE TABLE IF NOT EXISTS counters (
        period TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        scope TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY (period, period_start, scope)
    ) WITHOUT ROWID",
    // The recent ledger, kept for the retention (exactly once per request
    // id; late commits correct it), and the outbox to D1, the ledger of
    // record: an entry is on its way while delivered_version < version.
    "CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        reservation_id TEXT,
        user_id TEXT,
        feature TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        cached_input_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        body_hash TEXT NOT NULL,
        write_id TEXT NOT NULL DEFAULT '',
        estimated INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        delivered_version INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS entries_pending ON entries (seq) WHERE delivered_version < version",
    "CREATE INDEX IF NOT EXISTS entries_estimated ON entries (created_at) WHERE estimated = 1",
    "CREATE INDEX IF NOT EXISTS entries_created ON entries (created_at)",
], &[
    // Money: each hold's bound and each entry's cost in micro-dollars
    // (NULL: unpriced), and each counter's sum of costs.
    "ALTER TABLE holds ADD COLUMN estimated_usd_micros INTEGER CHECK (estimated_usd_micros >= 0)",
    "ALTER TABLE entries ADD COLUMN cost_usd_micros INTEGER CHECK (cost_usd_micros >= 0)",
    "ALTER TABLE counters ADD COLUMN usd_micros INTEGER NOT NULL DEFAULT 0",
], &[
    // Entries the ledger of record refused for good: the version set
    // aside (it no longer holds up the outbox), why, and when.
    "ALTER TABLE entries ADD COLUMN set_aside_version INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE entries ADD COLUMN set_aside_reason TEXT",
    "ALTER TABLE entries ADD COLUMN set_aside_at INTEGER",
], CREDITS, PRICE_VERSIONS, GATEWAY_SETTINGS, REFUSALS, FEATURE_THROTTLES];

/// Credits, temporary raises and rollover: the grants and what each
/// request drew from them (by the hold's or the call's request id; open
/// while its hold is), the raises, each period's rollover once computed,
/// and what funded each ledger entry.
const CREDITS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS credits (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        unit TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount > 0),
        expires_at INTEGER,
        note TEXT,
        created_at INTEGER NOT NULL,
        voided_at INTEGER
    )",
    "CREATE TABLE IF NOT EXISTS draws (
        request_id TEXT NOT NULL,
        credit_id TEXT NOT NULL,
        drawn INTEGER NOT NULL CHECK (drawn >= 0),
        amount INTEGER NOT NULL CHECK (amount >= 0),
        open INTEGER NOT NULL,
        at INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        PRIMARY KEY (request_id, credit_id)
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS draws_credit ON draws (credit_id)",
    "CREATE INDEX IF NOT EXISTS draws_at ON draws (open, at)",
    "CREATE TABLE IF NOT EXISTS raises (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        unit TEXT NOT NULL,
        extra INTEGER NOT NULL CHECK (extra > 0),
        soft_extra INTEGER CHECK (soft_extra >= 0),
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        note TEXT,
        created_at INTEGER NOT NULL,
        ended_at INTEGER
    )",
    "CREATE TABLE IF NOT EXISTS rollovers (
        period TEXT NOT NULL,
        period_start INTEGER NOT NULL,
        unit TEXT NOT NULL,
        amount INTEGER NOT NULL,
        unused INTEGER NOT NULL,
        computed_at INTEGER NOT NULL,
        PRIMARY KEY (period, period_start)
    ) WITHOUT ROWID",
    "ALTER TABLE entries ADD COLUMN funded_by TEXT",
];

/// The version of the price each entry's cost was priced by, and its
/// source (`shipped` or `admin`); NULL when the caller did not say.
const PRICE_VERSIONS: &[&str] = &[
    "ALTER TABLE entries ADD COLUMN price_version TEXT",
    "ALTER TABLE entries ADD COLUMN price_source TEXT",
];

/// The port's gateway settings as saved through the API (one row), and
/// the calls a throttle let through by minute of the epoch.
const GATEWAY_SETTINGS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gateway_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        settings TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS throttle_minutes (
        minute INTEGER PRIMARY KEY,
        calls INTEGER NOT NULL
    )",
];

/// The requests refused, one row per request id (a retry is counted
/// once), with the reason, the scope of the cap that refused, and the
/// period they count in ([`super::refusals`]).
const REFUSALS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS refusals (
        request_id TEXT PRIMARY KEY,
        period_start INTEGER NOT NULL,
        reason TEXT NOT NULL,
        scope TEXT NOT NULL,
        at INTEGER NOT NULL
    ) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS refusals_period ON refusals (period_start, reason, scope)",
];

/// The calls a feature's own throttle (its gateway actions) let through,
/// by feature and minute of the epoch.
const FEATURE_THROTTLES: &[&str] = &["CREATE TABLE IF NOT EXISTS feature_throttle_minutes (
        feature TEXT NOT NULL,
        minute INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY (feature, minute)
    ) WITHOUT ROWID"];

/// The newest schema version.
pub const VERSION: usize = VERSIONS.len();

/// Brings the storage to the newest schema; idempotent.
///
/// # Errors
/// The storage's.
pub fn migrate(sql: &impl Sql) -> Result<(), SqlError> {
    sql.exec(VERSIONS[0][0], &[])?;
    let at = sql
        .exec("SELECT value FROM meta WHERE key = 'schema'", &[])?
        .first()
        .and_then(|row| row.text("value"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    for statements in VERSIONS.iter().skip(at) {
        for statement in *statements {
            sql.exec(statement, &[])?;
        }
    }
    if at < VERSION {
        sql.exec(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[Value::Text(VERSION.to_string())],
        )?;
    }
    Ok(())
}
