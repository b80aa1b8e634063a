//! The ledger store: usage rows, their rollup and reservations in D1.
//!
//! Every write is one D1 `batch()` (a transaction) and idempotent, so a
//! transient failure is retried here and a client may retry any request:
//! - a usage row is inserted `ON CONFLICT (port_id, request_id) DO NOTHING`
//!   under a fresh write id, and the rollup is bumped only when the row
//!   carries this attempt's write id;
//! - a hold is inserted only when it fits under the hard cap (holds count as
//!   used), in the same statement that reads the usage: no two requests can
//!   both take the last tokens;
//! - every batch ends by reading back what it did, so the answer is the
//!   database's, not a guess.
//!
//! The gateway (issue 4) calls [`Store::reserve`], [`Store::commit`] and
//! [`Store::release`] directly.

use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Delay};

use super::fault::Faults;
use crate::{add_tokens, evaluate, Budget, Decision, FeatureUsage, Period, PeriodWindow};

/// How many times a batch is tried when D1 reports a transient error.
const ATTEMPTS: u32 = 3;
/// Settled reservations older than this are deleted by the cron sweep: more
/// than the longest period (a month), so no gate or status still counts them.
pub const RETENTION_DAYS: i64 = 40;
/// Rollup rows of periods that started longer ago than this are deleted by
/// the cron sweep: more than a year, so every page's periods stay.
pub const ROLLUP_RETENTION_DAYS: i64 = 400;
/// What a client is told to wait when the store cannot answer.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Why the store could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// D1 (or KV) is unreachable or overloaded: the request changed nothing
    /// or is safe to retry; the gate fails closed.
    Unavailable {
        /// What D1 said.
        message: String,
    },
    /// An unexpected error (a bug): nothing to retry.
    Failed(String),
}

impl StoreError {
    fn from_message(message: String) -> StoreError {
        if is_transient(&message) || is_overloaded(&message) {
            StoreError::Unavailable { message }
        } else {
            StoreError::Failed(message)
        }
    }
}

/// D1's messages for failures that a retry can cure.
fn is_transient(message: &str) -> bool {
    [
        "Network connection lost",
        "storage caused object to be reset",
        "reset because its code was updated",
        "transient issue on remote node",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// D1 shedding load: answer 503 at once rather than retry hot.
fn is_overloaded(message: &str) -> bool {
    message.contains("Overloaded") || message.contains("overloaded")
}

/// Epoch milliseconds of an instant, as D1 stores them.
fn ms(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64
}

/// The instant of stored epoch milliseconds.
fn instant(ms: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_default()
}

/// A stored token count (D1 gives numbers as f64; counts stay below 2^53).
fn tokens(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value as u64
    } else {
        0
    }
}

/// A JS value for a token count or instant: bound as a double, since
/// workers-rs's integer binding is 32-bit and counts may pass 2^31.
fn num(value: impl Into<f64>) -> JsValue {
    JsValue::from_f64(value.into())
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

fn opt_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// A fresh random identifier: `prefix` then 24 hex digits.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    // getrandom only fails without a random source, which workerd always has.
    getrandom::getrandom(&mut bytes).expect("workerd provides crypto.getRandomValues");
    format!("{prefix}{}", hex::encode(bytes))
}

/// SHA-256 (hex) of a canonical JSON value: the fingerprint of a request
/// body, so a replay with another body is told apart from a retry.
pub fn fingerprint(value: &serde_json::Value) -> String {
    // serde_json's map is ordered by key: the text is canonical.
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

/// Tokens a port has used and holds in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortLoad {
    /// Tokens of counted calls (the ledger, through the rollup).
    pub used_tokens: u64,
    /// Counted calls.
    pub calls: u64,
    /// Estimates of open holds, whatever period they were taken in: they
    /// commit into the current one.
    pub held_tokens: u64,
    /// The part of `used_tokens` that expired holds were charged at (their
    /// estimates, as ledger rows flagged `estimated`) until a late commit
    /// corrects them.
    pub expired_tokens: u64,
}

impl PortLoad {
    /// What the gate counts against the hard cap: used (expired holds
    /// included, as ledger rows) and open holds.
    pub fn gate_tokens(&self) -> u64 {
        add_tokens(self.used_tokens, self.held_tokens)
    }
}

#[derive(Deserialize)]
struct LoadRow {
    used: f64,
    calls: f64,
    held: f64,
    expired: f64,
}

impl From<LoadRow> for PortLoad {
    fn from(row: LoadRow) -> PortLoad {
        PortLoad {
            used_tokens: tokens(row.used),
            calls: tokens(row.calls),
            held_tokens: tokens(row.held),
            expired_tokens: tokens(row.expired),
        }
    }
}

/// A reservation's life: held, then committed, released or expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationState {
    /// Counting its estimate against the cap until settled.
    Held,
    /// Settled with the call's real usage (a ledger row).
    Committed,
    /// Given back: the call did not happen.
    Released,
    /// Not settled in time: charged as its estimate until a late commit.
    Expired,
}

impl ReservationState {
    /// `held`, `committed`, `released` or `expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReservationState::Held => "held",
            ReservationState::Committed => "committed",
            ReservationState::Released => "released",
            ReservationState::Expired => "expired",
        }
    }

    fn parse(name: &str) -> ReservationState {
        match name {
            "committed" => ReservationState::Committed,
            "released" => ReservationState::Released,
            "expired" => ReservationState::Expired,
            _ => ReservationState::Held,
        }
    }
}

/// A hold on part of a port's budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Reservation {
    /// `rsv_` and 24 hex digits.
    pub id: String,
    /// The port.
    pub port: String,
    /// The caller's request id (or the reservation id when none was given).
    pub request_id: String,
    /// The feature the call is for.
    pub feature: String,
    /// Tokens held.
    pub estimated_tokens: u64,
    /// Where it stands.
    pub state: ReservationState,
    /// Fingerprint of the reserving request.
    pub body_hash: String,
    /// Tokens committed, once committed.
    pub actual_tokens: Option<u64>,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// When an unsettled hold expires.
    pub expires_at: DateTime<Utc>,
    /// When it was committed, released or expired.
    pub settled_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ReservationRow {
    id: Option<String>,
    port_id: Option<String>,
    request_id: Option<String>,
    feature: Option<String>,
    estimated_tokens: Option<f64>,
    state: Option<String>,
    body_hash: Option<String>,
    actual_tokens: Option<f64>,
    created_at: Option<f64>,
    expires_at: Option<f64>,
    settled_at: Option<f64>,
}

impl ReservationRow {
    fn into_reservation(self) -> Option<Reservation> {
        Some(Reservation {
            id: self.id?,
            port: self.port_id.unwrap_or_default(),
            request_id: self.request_id.unwrap_or_default(),
            feature: self.feature.unwrap_or_default(),
            estimated_tokens: tokens(self.estimated_tokens.unwrap_or(0.0)),
            state: ReservationState::parse(self.state.as_deref().unwrap_or("held")),
            body_hash: self.body_hash.unwrap_or_default(),
            actual_tokens: self.actual_tokens.map(tokens),
            created_at: instant(self.created_at.unwrap_or(0.0)),
            expires_at: instant(self.expires_at.unwrap_or(0.0)),
            settled_at: self.settled_at.map(instant),
        })
    }
}

const RESERVATION_COLUMNS: &str = "id, port_id, request_id, feature, estimated_tokens, state, \
     body_hash, actual_tokens, created_at, expires_at, settled_at";

/// One counted call: a ledger row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Row id, increasing: the ledger's cursor.
    pub id: i64,
    /// The port.
    pub port: String,
    /// The user the call was made for, if known.
    pub user_id: Option<String>,
    /// The product feature.
    pub feature: String,
    /// The LLM provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Input plus output.
    pub total_tokens: u64,
    /// The caller's request id: unique per port.
    pub request_id: String,
    /// The reservation it settled, if any.
    pub reservation_id: Option<String>,
    /// Fingerprint of the recording request.
    pub body_hash: String,
    /// The write attempt that inserted it (or last corrected it).
    pub write_id: String,
    /// True while the row is an expired hold charged at its estimate
    /// (a late commit replaces it with the actual usage).
    pub estimated: bool,
    /// When the call was counted (or `occurredAt` of a backfill).
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct LedgerRow {
    id: f64,
    port_id: String,
    user_id: Option<String>,
    feature: String,
    provider: String,
    model: String,
    input_tokens: f64,
    output_tokens: f64,
    total_tokens: f64,
    request_id: String,
    reservation_id: Option<String>,
    body_hash: String,
    write_id: String,
    estimated: Option<f64>,
    created_at: f64,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(row: LedgerRow) -> LedgerEntry {
        LedgerEntry {
            id: row.id as i64,
            port: row.port_id,
            user_id: row.user_id,
            feature: row.feature,
            provider: row.provider,
            model: row.model,
            input_tokens: tokens(row.input_tokens),
            output_tokens: tokens(row.output_tokens),
            total_tokens: tokens(row.total_tokens),
            request_id: row.request_id,
            reservation_id: row.reservation_id,
            body_hash: row.body_hash,
            write_id: row.write_id,
            estimated: row.estimated.is_some_and(|e| e != 0.0),
            created_at: instant(row.created_at),
        }
    }
}

const LEDGER_COLUMNS: &str = "id, port_id, user_id, feature, provider, model, input_tokens, \
     output_tokens, total_tokens, request_id, reservation_id, body_hash, write_id, estimated, created_at";

/// The real usage of one call, as committed or recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallUsage {
    /// The user the call was made for.
    pub user_id: Option<String>,
    /// The product feature (`None` on a commit: the reservation's).
    pub feature: Option<String>,
    /// The LLM provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl CallUsage {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        add_tokens(self.input_tokens, self.output_tokens)
    }
}

/// A request for a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRequest {
    /// Tokens to hold.
    pub estimated_tokens: u64,
    /// The feature the call is for.
    pub feature: String,
    /// The caller's idempotency key (a fresh one when the caller gave none).
    pub request_id: String,
    /// Seconds until an unsettled hold expires.
    pub ttl_seconds: u64,
    /// Fingerprint of the request, to tell a retry from a conflicting reuse.
    pub body_hash: String,
}

/// What a reservation attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub enum ReserveOutcome {
    /// The hold was taken (or had been, by an earlier attempt with the same
    /// request id and body: `replayed`).
    Held {
        /// The hold.
        reservation: Reservation,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier attempt took it.
        replayed: bool,
    },
    /// It does not fit: the core's refusal, made on the numbers read in the
    /// same transaction.
    Refused {
        /// The refusal (reason, used, cap, window).
        decision: Decision,
        /// The port's load.
        load: PortLoad,
    },
    /// The request id was used before with another body.
    Conflict {
        /// The earlier reservation.
        existing: Reservation,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a commit came to.
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOutcome {
    /// Counted (now, or by an earlier attempt with the same body).
    Committed {
        /// The settled reservation.
        reservation: Reservation,
        /// Its ledger row.
        entry: LedgerEntry,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier attempt counted it.
        replayed: bool,
    },
    /// No such reservation for this port.
    NotFound,
    /// It cannot be committed (released, or committed with another body, or
    /// its request id already counted by a plain usage write).
    Conflict {
        /// The reservation as it stands.
        reservation: Reservation,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a release came to.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseOutcome {
    /// Released (now or before).
    Released {
        /// The reservation.
        reservation: Reservation,
        /// The port's load after it.
        load: PortLoad,
    },
    /// No such reservation for this port.
    NotFound,
    /// Committed or expired: it cannot be released.
    Conflict {
        /// The reservation as it stands.
        reservation: Reservation,
        /// The port's load.
        load: PortLoad,
    },
}

/// What a usage write came to.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordOutcome {
    /// Counted (now, or by an earlier attempt with the same body).
    Recorded {
        /// The ledger row.
        entry: LedgerEntry,
        /// The port's load after it.
        load: PortLoad,
        /// True when an earlier attempt counted it.
        replayed: bool,
    },
    /// The request id was counted before with another body.
    Conflict {
        /// The earlier row.
        entry: LedgerEntry,
        /// The port's load.
        load: PortLoad,
    },
}

/// What one cron sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepCounts {
    /// Stale holds expired (each now a ledger row at its estimate).
    pub expired_holds: u64,
    /// Settled reservations deleted after the retention.
    pub deleted_reservations: u64,
    /// Rollup rows of long-past periods deleted.
    pub deleted_rollup_rows: u64,
}

/// Tokens and calls of one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    /// The day's start.
    pub day: DateTime<Utc>,
    /// Tokens counted that day.
    pub tokens: u64,
    /// Calls counted that day.
    pub calls: u64,
}

/// A port's current-period load for every period kind: what the port list
/// needs without a query per port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllPortsLoad {
    /// (port, period, used tokens) of the current day, week and month.
    pub used: Vec<(String, Period, u64)>,
    /// (port, estimates) of every port's open holds, whatever their age:
    /// they commit into the current period.
    pub holds: Vec<(String, u64)>,
}

impl AllPortsLoad {
    /// The load of `port` in `window`.
    pub fn load_of(&self, port: &str, window: &PeriodWindow) -> PortLoad {
        let used_tokens = self
            .used
            .iter()
            .filter(|(p, period, _)| p == port && *period == window.period)
            .fold(0, |sum, (_, _, t)| add_tokens(sum, *t));
        let held_tokens = self
            .holds
            .iter()
            .filter(|(p, _)| p == port)
            .fold(0, |sum, (_, t)| add_tokens(sum, *t));
        PortLoad {
            used_tokens,
            held_tokens,
            ..PortLoad::default()
        }
    }
}

/// The load of a port in a window (optionally one feature): ?1 port,
/// ?2 period, ?3 start, ?4 end, ?5 feature or NULL. Open holds count
/// whatever their `created_at`: a hold taken before a reset commits into
/// the new period, so it must weigh on the new period's gate.
const LOAD_SQL: &str = "SELECT \
  (SELECT COALESCE(SUM(tokens), 0) FROM usage_rollup WHERE port_id = ?1 AND period = ?2 AND period_start = ?3 AND (?5 IS NULL OR feature = ?5)) AS used, \
  (SELECT COALESCE(SUM(calls), 0) FROM usage_rollup WHERE port_id = ?1 AND period = ?2 AND period_start = ?3 AND (?5 IS NULL OR feature = ?5)) AS calls, \
  (SELECT COALESCE(SUM(estimated_tokens), 0) FROM reservations WHERE port_id = ?1 AND state = 'held' AND (?5 IS NULL OR feature = ?5)) AS held, \
  (SELECT COALESCE(SUM(total_tokens), 0) FROM usage_ledger WHERE port_id = ?1 AND estimated = 1 AND created_at >= ?3 AND created_at < ?4 AND (?5 IS NULL OR feature = ?5)) AS expired";

/// Expiry, step 1: each stale hold becomes a ledger row at its estimate
/// (flagged `estimated`, under the hold's request id, so a late commit
/// finds and corrects it): ?1 now, ?2 write id, ?3 port or NULL (every port).
const EXPIRE_LEDGER_SQL: &str = "INSERT INTO usage_ledger (port_id, user_id, feature, provider, model, \
    input_tokens, output_tokens, total_tokens, request_id, reservation_id, body_hash, write_id, created_at, estimated) \
  SELECT r.port_id, NULL, r.feature, 'unknown', 'unknown', r.estimated_tokens, 0, r.estimated_tokens, \
    r.request_id, r.id, '', ?2, ?1, 1 \
  FROM reservations r WHERE r.state = 'held' AND r.expires_at <= ?1 AND (?3 IS NULL OR r.port_id = ?3) \
  ON CONFLICT (port_id, request_id) DO NOTHING";

/// Expiry, step 2: the rollup of the rows step 1 wrote (counted now, in
/// the current periods): ?1 now, ?2 write id, ?3 port or NULL, ?4 day
/// start, ?5 week start, ?6 month start.
const EXPIRE_ROLLUP_SQL: &str = "INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) \
  SELECT l.port_id, p.period, p.start, l.feature, l.total_tokens, 1 \
  FROM reservations r JOIN usage_ledger l ON l.port_id = r.port_id AND l.request_id = r.request_id, \
    (SELECT 'day' AS period, ?4 AS start UNION ALL SELECT 'week', ?5 UNION ALL SELECT 'month', ?6) p \
  WHERE r.state = 'held' AND r.expires_at <= ?1 AND (?3 IS NULL OR r.port_id = ?3) AND l.write_id = ?2 \
  ON CONFLICT (port_id, period, period_start, feature) DO UPDATE SET \
    tokens = tokens + excluded.tokens, calls = calls + 1";

/// Expiry, step 3: the holds are settled as expired: ?1 now, ?3 port or NULL.
const EXPIRE_SQL: &str = "UPDATE reservations SET state = 'expired', settled_at = ?1 \
  WHERE state = 'held' AND expires_at <= ?1 AND (?3 IS NULL OR port_id = ?3)";

/// The hold, inserted only if it fits: ?1 id, ?2 port, ?3 request id,
/// ?4 feature, ?5 estimate, ?6 body hash, ?7 now, ?8 expires at,
/// ?9 enabled (0/1), ?10 period, ?11 start, ?12 hard cap.
/// The condition is the core's gate (`decide`) with open holds (of any
/// period) counted as used; expired holds are in the rollup already. The
/// answer's wording is the core's, computed from the numbers read back.
const RESERVE_SQL: &str = "INSERT INTO reservations \
  (id, port_id, request_id, feature, estimated_tokens, state, body_hash, created_at, expires_at) \
  SELECT ?1, ?2, ?3, ?4, ?5, 'held', ?6, ?7, ?8 FROM (SELECT \
    (SELECT COALESCE(SUM(tokens), 0) FROM usage_rollup WHERE port_id = ?2 AND period = ?10 AND period_start = ?11) \
  + (SELECT COALESCE(SUM(estimated_tokens), 0) FROM reservations WHERE port_id = ?2 AND state = 'held') \
    AS load) \
  WHERE ?9 = 0 OR (load < ?12 AND load + ?5 <= ?12) \
  ON CONFLICT (port_id, request_id) DO NOTHING";

/// Bumps the rollup for a usage row this attempt inserted (none when the
/// insert was ignored): ?1 port, ?2 write id, ?3 day start, ?4 week start,
/// ?5 month start, ?6 request id.
const ROLLUP_SQL: &str = "INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) \
  SELECT l.port_id, p.period, p.start, l.feature, l.total_tokens, 1 \
  FROM usage_ledger l, (SELECT 'day' AS period, ?3 AS start UNION ALL SELECT 'week', ?4 UNION ALL SELECT 'month', ?5) p \
  WHERE l.port_id = ?1 AND l.request_id = ?6 AND l.write_id = ?2 \
  ON CONFLICT (port_id, period, period_start, feature) DO UPDATE SET \
    tokens = tokens + excluded.tokens, calls = calls + 1";

/// The rows a commit writes or corrects all lie at one instant, bound by
/// the caller with its period starts from the core ([`Period::start`]): no
/// SQL computes a period. For a held reservation that instant is the
/// commit's own; for an expired one it is the estimated row's, which only
/// a read tells. A statement whose row is not at the bound instant does
/// nothing, so a guess that turns out wrong changes nothing and is retried
/// with the instant read back (see [`Store::commit`]).
///
/// Bumps the rollup for the ledger row a commit wrote or corrected in this
/// attempt, in that row's own periods: ?1 port, ?2 write id, ?3 reservation
/// id, ?4 the row's instant, ?5 its day start, ?6 week start, ?7 month start.
const COMMIT_ROLLUP_SQL: &str = "INSERT INTO usage_rollup (port_id, period, period_start, feature, tokens, calls) \
  SELECT l.port_id, p.period, p.start, l.feature, l.total_tokens, 1 \
  FROM reservations r JOIN usage_ledger l ON l.port_id = r.port_id AND l.request_id = r.request_id, \
    (SELECT 'day' AS period, ?5 AS start UNION ALL SELECT 'week', ?6 UNION ALL SELECT 'month', ?7) p \
  WHERE r.id = ?3 AND r.port_id = ?1 AND l.write_id = ?2 AND l.created_at = ?4 \
  ON CONFLICT (port_id, period, period_start, feature) DO UPDATE SET \
    tokens = tokens + excluded.tokens, calls = calls + 1";

/// A late commit, step 1: takes the expired hold's estimate back out of
/// the rollup, in its row's periods, if that row lies at the bound instant:
/// ?1 port, ?2 reservation id, ?3 the row's instant, ?4 its day start,
/// ?5 week start, ?6 month start.
const UNCOUNT_ESTIMATE_SQL: &str = "UPDATE usage_rollup SET tokens = usage_rollup.tokens - e.total_tokens, \
    calls = usage_rollup.calls - 1 \
  FROM (SELECT l.port_id, p.period, p.start, l.feature, l.total_tokens \
    FROM reservations r JOIN usage_ledger l ON l.port_id = r.port_id AND l.request_id = r.request_id, \
      (SELECT 'day' AS period, ?4 AS start UNION ALL SELECT 'week', ?5 UNION ALL SELECT 'month', ?6) p \
    WHERE r.id = ?2 AND r.port_id = ?1 AND r.state = 'expired' AND l.estimated = 1 \
      AND l.reservation_id = r.id AND l.created_at = ?3) e \
  WHERE usage_rollup.port_id = e.port_id AND usage_rollup.period = e.period \
    AND usage_rollup.period_start = e.start AND usage_rollup.feature = e.feature";

/// A late commit, step 2: the estimated row takes the actual usage (its
/// instant, hence its periods, stay), if it lies at the bound instant:
/// ?1 port, ?2 reservation id, ?3 user, ?4 feature or NULL (keep),
/// ?5 provider, ?6 model, ?7 input, ?8 output, ?9 total, ?10 body hash,
/// ?11 write id, ?12 the row's instant.
const CORRECT_ESTIMATE_SQL: &str =
    "UPDATE usage_ledger SET user_id = ?3, feature = COALESCE(?4, feature), \
    provider = ?5, model = ?6, input_tokens = ?7, output_tokens = ?8, total_tokens = ?9, \
    body_hash = ?10, write_id = ?11, estimated = 0 \
  WHERE port_id = ?1 AND reservation_id = ?2 AND estimated = 1 AND created_at = ?12 AND request_id = \
    (SELECT request_id FROM reservations WHERE id = ?2 AND port_id = ?1 AND state = 'expired')";

/// A late commit, last rollup step: drops rollup rows left empty when the
/// commit moved the call to another feature: ?1 port, ?2 reservation id.
const DROP_EMPTY_ROLLUP_SQL: &str =
    "DELETE FROM usage_rollup WHERE port_id = ?1 AND calls <= 0 AND tokens <= 0 \
  AND EXISTS (SELECT 1 FROM reservations WHERE id = ?2 AND port_id = ?1 AND state = 'expired')";

/// The ids of every attempt one store call made (see `Store::run_fresh`).
struct Attempts(Vec<String>);

impl Attempts {
    /// True when one of this call's attempts wrote `write_id`.
    fn wrote(&self, write_id: &str) -> bool {
        self.0.iter().any(|id| id == write_id)
    }

    /// True when one of this call's attempts created reservation `id`
    /// (a reservation's id is its attempt's id under the `rsv_` prefix).
    fn reserved(&self, id: &str) -> bool {
        self.0.iter().any(|attempt| reservation_id(attempt) == id)
    }
}

/// The reservation id an attempt inserts a hold under.
fn reservation_id(attempt: &str) -> String {
    format!("rsv_{}", attempt.trim_start_matches("w_"))
}

/// The ledger and reservations of every port, in D1.
pub struct Store {
    db: Rc<D1Database>,
    faults: Rc<Faults>,
}

impl Store {
    /// A store over the `DB` binding, with this request's injected faults.
    pub fn new(db: D1Database, faults: Rc<Faults>) -> Store {
        Store {
            db: Rc::new(db),
            faults,
        }
    }

    fn prepare(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        self.db
            .prepare(sql)
            .bind(args)
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    /// Runs `statements` as one batch, retrying transient failures; `point`
    /// names the call for fault injection.
    async fn run(
        &self,
        point: &str,
        statements: Vec<D1PreparedStatement>,
    ) -> Result<Vec<D1Result>, StoreError> {
        let (results, _) = self.run_fresh(point, |_| Ok(statements.clone())).await?;
        Ok(results)
    }

    /// Runs the batch `build` makes for each attempt, retrying transient
    /// failures. Each attempt gets a fresh id (passed to `build`); the ids
    /// of *every* attempt are returned with the results of the one that
    /// succeeded. A write tagged with any of them was this call's, even
    /// when an earlier attempt's reply was lost after its write landed:
    /// only a write tagged otherwise is a replay of another call.
    async fn run_fresh(
        &self,
        point: &str,
        build: impl Fn(&str) -> Result<Vec<D1PreparedStatement>, StoreError>,
    ) -> Result<(Vec<D1Result>, Attempts), StoreError> {
        let mut last = String::new();
        let mut attempts = Attempts(Vec::new());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                Delay::from(Duration::from_millis(10 << attempt)).await;
            }
            let attempt_id = random_id("w_");
            let statements = build(&attempt_id)?;
            attempts.0.push(attempt_id);
            let outcome: Result<Vec<D1Result>, String> = match self.faults.before(point) {
                Some(injected) => Err(injected),
                None => match self.db.batch(statements).await {
                    Ok(results) => match self.faults.after(point) {
                        Some(injected) => Err(injected),
                        None => return Ok((results, attempts)),
                    },
                    Err(e) => Err(e.to_string()),
                },
            };
            last = outcome.unwrap_err();
            if !is_transient(&last) {
                break;
            }
        }
        Err(StoreError::from_message(last))
    }

    fn rows<T: for<'de> Deserialize<'de>>(result: &D1Result) -> Result<Vec<T>, StoreError> {
        result
            .results::<T>()
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    fn first<T: for<'de> Deserialize<'de>>(result: &D1Result) -> Result<Option<T>, StoreError> {
        Ok(Self::rows(result)?.into_iter().next())
    }

    /// The three statements that expire stale holds (of `port`, or of every
    /// port): each becomes a ledger row at its estimate, counted in the
    /// rollup of `now`'s periods, and is settled as expired. `write_id`
    /// tags the rows so the rollup counts only what this batch inserted.
    fn expiry_statements(
        &self,
        port: Option<&str>,
        write_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<D1PreparedStatement>, StoreError> {
        let [day, week, month] = Period::ALL.map(|p| num(ms(p.start(now))));
        let base = [num(ms(now)), text(write_id), opt_text(port)];
        let mut with_periods = base.to_vec();
        with_periods.extend([day, week, month]);
        Ok(vec![
            self.prepare(EXPIRE_LEDGER_SQL, &base)?,
            self.prepare(EXPIRE_ROLLUP_SQL, &with_periods)?,
            self.prepare(EXPIRE_SQL, &base)?,
        ])
    }

    fn load_statement(
        &self,
        port: &str,
        window: &PeriodWindow,
        feature: Option<&str>,
    ) -> Result<D1PreparedStatement, StoreError> {
        self.prepare(
            LOAD_SQL,
            &[
                text(port),
                text(window.period.as_str()),
                num(ms(window.start)),
                num(ms(window.end)),
                opt_text(feature),
            ],
        )
    }

    fn load_from(result: &D1Result) -> Result<PortLoad, StoreError> {
        Ok(Self::first::<LoadRow>(result)?
            .map(PortLoad::from)
            .unwrap_or_default())
    }

    /// The tokens `port` used and holds in `window`, all features or one.
    pub async fn load(
        &self,
        port: &str,
        window: &PeriodWindow,
        feature: Option<&str>,
    ) -> Result<PortLoad, StoreError> {
        let results = self
            .run("d1.read", vec![self.load_statement(port, window, feature)?])
            .await?;
        Self::load_from(&results[0])
    }

    /// Checks and holds `hold.estimated_tokens` of `port`'s budget in one
    /// atomic step: the hold is taken only if the port's used plus held
    /// tokens stay within the hard cap by the core's rules.
    pub async fn reserve(
        &self,
        port: &str,
        budget: &Budget,
        hold: &HoldRequest,
        now: DateTime<Utc>,
    ) -> Result<ReserveOutcome, StoreError> {
        let window = budget.period.window(now);
        let expires_at = now + chrono::Duration::seconds(hold.ttl_seconds as i64);
        let (results, attempts) = self
            .run_fresh("d1.reserve", |attempt| {
                // The attempt id is the reservation id: a retried attempt
                // whose predecessor's reply was lost sees that hold, and
                // knows it for its own.
                let id = reservation_id(attempt);
                let mut statements = self.expiry_statements(Some(port), attempt, now)?;
                let insert = self.prepare(
                    RESERVE_SQL,
                    &[
                        text(&id),
                        text(port),
                        text(&hold.request_id),
                        text(&hold.feature),
                        num(hold.estimated_tokens as f64),
                        text(&hold.body_hash),
                        num(ms(now)),
                        num(ms(expires_at)),
                        num(if budget.enabled { 1.0 } else { 0.0 }),
                        text(window.period.as_str()),
                        num(ms(window.start)),
                        num(budget.hard_cap_tokens as f64),
                    ],
                )?;
                let read = self.prepare(
                    &format!(
                        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE port_id = ?1 AND request_id = ?2"
                    ),
                    &[text(port), text(&hold.request_id)],
                )?;
                statements.extend([insert, read, self.load_statement(port, &window, None)?]);
                Ok(statements)
            })
            .await?;
        let load = Self::load_from(&results[5])?;
        let existing =
            Self::first::<ReservationRow>(&results[4])?.and_then(ReservationRow::into_reservation);
        Ok(match existing {
            Some(reservation) if attempts.reserved(&reservation.id) => ReserveOutcome::Held {
                reservation,
                load,
                replayed: false,
            },
            Some(reservation) if reservation.body_hash == hold.body_hash => ReserveOutcome::Held {
                reservation,
                load,
                replayed: true,
            },
            Some(existing) => ReserveOutcome::Conflict { existing, load },
            None => {
                let decision = evaluate(budget, load.gate_tokens(), hold.estimated_tokens, now);
                if decision.is_allowed() {
                    // The core allows what SQL refused: only possible if the
                    // rules disagree, which would be a bug worth surfacing.
                    return Err(StoreError::Failed(
                        "the hold was refused by the store but allowed by the rules".into(),
                    ));
                }
                ReserveOutcome::Refused { decision, load }
            }
        })
    }

    /// Settles a hold with the call's real usage, exactly once: a retry with
    /// the same usage answers as the first attempt and counts nothing.
    ///
    /// A held reservation gets a new ledger row, at `now`. An expired one
    /// already has a ledger row at its estimate (`estimated`), written when
    /// it expired: that row takes the actual usage, and the rollup moves by
    /// the difference in that row's periods, in the same batch. The batch is
    /// first run for a row at `now` (one round trip in the usual case); if
    /// it reads back an estimated row at another instant, it changed nothing
    /// and runs again for that instant, whose periods the core computes.
    pub async fn commit(
        &self,
        port: &str,
        reservation_id: &str,
        usage: &CallUsage,
        body_hash: &str,
        budget: &Budget,
        now: DateTime<Utc>,
    ) -> Result<CommitOutcome, StoreError> {
        let window = budget.period.window(now);
        // Every attempt of every round: a write tagged with any of them is
        // this call's, not a replay.
        let mut attempts = Attempts(Vec::new());
        let mut row_at = now;
        // An estimated row's instant never changes once written, so the
        // second round's instant is right unless the row is gone.
        for _ in 0..2 {
            let (results, round) = self
                .run_fresh("d1.commit", |write_id| {
                    self.commit_statements(
                        port,
                        reservation_id,
                        usage,
                        body_hash,
                        write_id,
                        row_at,
                        now,
                        &window,
                    )
                })
                .await?;
            attempts.0.extend(round.0);
            let load = Self::load_from(&results[8])?;
            let Some(reservation) = Self::first::<ReservationRow>(&results[6])?
                .and_then(ReservationRow::into_reservation)
            else {
                return Ok(CommitOutcome::NotFound);
            };
            let entry = Self::first::<LedgerRow>(&results[7])?.map(LedgerEntry::from);
            return Ok(match entry {
                Some(entry)
                    if reservation.state == ReservationState::Committed
                        && entry.reservation_id.as_deref() == Some(reservation_id)
                        && entry.body_hash == body_hash =>
                {
                    let replayed = !attempts.wrote(&entry.write_id);
                    CommitOutcome::Committed {
                        reservation,
                        entry,
                        load,
                        replayed,
                    }
                }
                // The hold expired (before or during this call) into a row
                // at another instant: nothing was written; bind that one.
                Some(entry)
                    if reservation.state == ReservationState::Expired
                        && entry.estimated
                        && entry.reservation_id.as_deref() == Some(reservation_id)
                        && entry.created_at != row_at =>
                {
                    row_at = entry.created_at;
                    continue;
                }
                _ => CommitOutcome::Conflict { reservation, load },
            });
        }
        Err(StoreError::Failed(
            "the expired hold's ledger row moved while it was being committed".into(),
        ))
    }

    /// One commit attempt's batch, for a ledger row at `row_at` (see
    /// [`Store::commit`]): uncount and correct an estimated row there, or
    /// insert the row there; bump the rollup in the periods of `row_at`;
    /// settle it as of `now`; read back the reservation, its row and the
    /// port's load.
    #[allow(clippy::too_many_arguments)]
    fn commit_statements(
        &self,
        port: &str,
        reservation_id: &str,
        usage: &CallUsage,
        body_hash: &str,
        write_id: &str,
        row_at: DateTime<Utc>,
        now: DateTime<Utc>,
        window: &PeriodWindow,
    ) -> Result<Vec<D1PreparedStatement>, StoreError> {
        let total = usage.total_tokens();
        let [day, week, month] = Period::ALL.map(|p| num(ms(p.start(row_at))));
        let uncount = self.prepare(
            UNCOUNT_ESTIMATE_SQL,
            &[
                text(port),
                text(reservation_id),
                num(ms(row_at)),
                day.clone(),
                week.clone(),
                month.clone(),
            ],
        )?;
        let correct = self.prepare(
            CORRECT_ESTIMATE_SQL,
            &[
                text(port),
                text(reservation_id),
                opt_text(usage.user_id.as_deref()),
                opt_text(usage.feature.as_deref()),
                text(&usage.provider),
                text(&usage.model),
                num(usage.input_tokens as f64),
                num(usage.output_tokens as f64),
                num(total as f64),
                text(body_hash),
                text(write_id),
                num(ms(row_at)),
            ],
        )?;
        // A held reservation (or an expired one from before expiry wrote
        // ledger rows) gets its row here, at the bound instant so that the
        // rollup below counts it in its own periods; an expired one whose
        // row exists conflicts and inserts nothing.
        let insert = self.prepare(
            "INSERT INTO usage_ledger (port_id, user_id, feature, provider, model, input_tokens, \
               output_tokens, total_tokens, request_id, reservation_id, body_hash, write_id, created_at) \
             SELECT ?1, ?2, COALESCE(?3, r.feature), ?4, ?5, ?6, ?7, ?8, r.request_id, r.id, ?9, ?10, ?11 \
             FROM reservations r WHERE r.id = ?12 AND r.port_id = ?1 AND r.state IN ('held', 'expired') \
             ON CONFLICT (port_id, request_id) DO NOTHING",
            &[
                text(port),
                opt_text(usage.user_id.as_deref()),
                opt_text(usage.feature.as_deref()),
                text(&usage.provider),
                text(&usage.model),
                num(usage.input_tokens as f64),
                num(usage.output_tokens as f64),
                num(total as f64),
                text(body_hash),
                text(write_id),
                num(ms(row_at)),
                text(reservation_id),
            ],
        )?;
        let rollup = self.prepare(
            COMMIT_ROLLUP_SQL,
            &[
                text(port),
                text(write_id),
                text(reservation_id),
                num(ms(row_at)),
                day,
                week,
                month,
            ],
        )?;
        let drop_empty =
            self.prepare(DROP_EMPTY_ROLLUP_SQL, &[text(port), text(reservation_id)])?;
        // Settled only once its row is this attempt's, at the bound instant:
        // counted in the rollup above.
        let settle = self.prepare(
            "UPDATE reservations SET state = 'committed', actual_tokens = ?4, settled_at = ?3 \
             WHERE id = ?2 AND port_id = ?1 AND state IN ('held', 'expired') AND EXISTS \
               (SELECT 1 FROM usage_ledger l WHERE l.port_id = ?1 \
                  AND l.request_id = reservations.request_id AND l.write_id = ?5 AND l.created_at = ?6)",
            &[
                text(port),
                text(reservation_id),
                num(ms(now)),
                num(total as f64),
                text(write_id),
                num(ms(row_at)),
            ],
        )?;
        let read_reservation = self.prepare(
            &format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ?1 AND port_id = ?2"
            ),
            &[text(reservation_id), text(port)],
        )?;
        let read_entry = self.prepare(
            &format!(
                "SELECT {LEDGER_COLUMNS} FROM usage_ledger WHERE port_id = ?1 AND request_id = \
                 (SELECT request_id FROM reservations WHERE id = ?2 AND port_id = ?1)"
            ),
            &[text(port), text(reservation_id)],
        )?;
        let load = self.load_statement(port, window, None)?;
        Ok(vec![
            uncount,
            correct,
            insert,
            rollup,
            drop_empty,
            settle,
            read_reservation,
            read_entry,
            load,
        ])
    }

    /// Gives a hold back. Releasing twice is fine; a committed or expired
    /// hold cannot be released.
    pub async fn release(
        &self,
        port: &str,
        reservation_id: &str,
        budget: &Budget,
        now: DateTime<Utc>,
    ) -> Result<ReleaseOutcome, StoreError> {
        let window = budget.period.window(now);
        let (results, _) = self
            .run_fresh("d1.release", |write_id| {
                let mut statements = self.expiry_statements(Some(port), write_id, now)?;
                let release = self.prepare(
                    "UPDATE reservations SET state = 'released', settled_at = ?3 \
                     WHERE id = ?2 AND port_id = ?1 AND state = 'held'",
                    &[text(port), text(reservation_id), num(ms(now))],
                )?;
                let read = self.prepare(
                    &format!(
                        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = ?1 AND port_id = ?2"
                    ),
                    &[text(reservation_id), text(port)],
                )?;
                let load = self.load_statement(port, &window, None)?;
                statements.extend([release, read, load]);
                Ok(statements)
            })
            .await?;
        let load = Self::load_from(&results[5])?;
        let Some(reservation) =
            Self::first::<ReservationRow>(&results[4])?.and_then(ReservationRow::into_reservation)
        else {
            return Ok(ReleaseOutcome::NotFound);
        };
        Ok(if reservation.state == ReservationState::Released {
            ReleaseOutcome::Released { reservation, load }
        } else {
            ReleaseOutcome::Conflict { reservation, load }
        })
    }

    /// Counts a call made without a reservation, exactly once per
    /// `(port, request_id)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        port: &str,
        usage: &CallUsage,
        request_id: &str,
        body_hash: &str,
        occurred_at: DateTime<Utc>,
        budget: &Budget,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, StoreError> {
        let window = budget.period.window(now);
        let (results, attempts) = self.run_fresh("d1.usage", |write_id| {
        let insert = self.prepare(
            "INSERT INTO usage_ledger (port_id, user_id, feature, provider, model, input_tokens, \
               output_tokens, total_tokens, request_id, reservation_id, body_hash, write_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, ?11, ?12) \
             ON CONFLICT (port_id, request_id) DO NOTHING",
            &[
                text(port),
                opt_text(usage.user_id.as_deref()),
                text(usage.feature.as_deref().unwrap_or("default")),
                text(&usage.provider),
                text(&usage.model),
                num(usage.input_tokens as f64),
                num(usage.output_tokens as f64),
                num(usage.total_tokens() as f64),
                text(request_id),
                text(body_hash),
                text(write_id),
                num(ms(occurred_at)),
            ],
        )?;
        let rollup = self.prepare(
            ROLLUP_SQL,
            &rollup_args(port, write_id, occurred_at, text(request_id)),
        )?;
        let read = self.prepare(
            &format!(
                "SELECT {LEDGER_COLUMNS} FROM usage_ledger WHERE port_id = ?1 AND request_id = ?2"
            ),
            &[text(port), text(request_id)],
        )?;
        let load = self.load_statement(port, &window, None)?;
        Ok(vec![insert, rollup, read, load])
        }).await?;
        let load = Self::load_from(&results[3])?;
        let entry = Self::first::<LedgerRow>(&results[2])?
            .map(LedgerEntry::from)
            .ok_or_else(|| {
                StoreError::Failed("the ledger row was not found after its write".into())
            })?;
        Ok(if entry.body_hash == body_hash {
            let replayed = !attempts.wrote(&entry.write_id);
            RecordOutcome::Recorded {
                entry,
                load,
                replayed,
            }
        } else {
            RecordOutcome::Conflict { entry, load }
        })
    }

    /// Tokens and calls per feature in `window`, most tokens first (ties by
    /// feature name), from the rollup.
    pub async fn breakdown(
        &self,
        port: &str,
        window: &PeriodWindow,
    ) -> Result<Vec<FeatureUsage>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            feature: String,
            tokens: f64,
            calls: f64,
        }
        let statement = self.prepare(
            "SELECT feature, tokens, calls FROM usage_rollup \
             WHERE port_id = ?1 AND period = ?2 AND period_start = ?3 \
             ORDER BY tokens DESC, feature ASC",
            &[
                text(port),
                text(window.period.as_str()),
                num(ms(window.start)),
            ],
        )?;
        let results = self.run("d1.read", vec![statement]).await?;
        Ok(Self::rows::<Row>(&results[0])?
            .into_iter()
            .map(|row| FeatureUsage {
                feature: row.feature,
                tokens: tokens(row.tokens),
                calls: tokens(row.calls),
            })
            .collect())
    }

    /// Tokens and calls of every day of `window` (days without calls
    /// included, as zeros).
    pub async fn daily(
        &self,
        port: &str,
        window: &PeriodWindow,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            day: f64,
            tokens: f64,
            calls: f64,
        }
        let statement = self.prepare(
            "SELECT period_start AS day, SUM(tokens) AS tokens, SUM(calls) AS calls FROM usage_rollup \
             WHERE port_id = ?1 AND period = 'day' AND period_start >= ?2 AND period_start < ?3 \
             GROUP BY period_start",
            &[text(port), num(ms(window.start)), num(ms(window.end))],
        )?;
        let results = self.run("d1.read", vec![statement]).await?;
        let rows = Self::rows::<Row>(&results[0])?;
        Ok(window
            .days()
            .map(|date| {
                let day = date.and_time(chrono::NaiveTime::MIN).and_utc();
                let row = rows.iter().find(|row| instant(row.day) == day);
                DailyUsage {
                    day,
                    tokens: row.map_or(0, |r| tokens(r.tokens)),
                    calls: row.map_or(0, |r| tokens(r.calls)),
                }
            })
            .collect())
    }

    /// Up to `limit` ledger rows of `port`, newest first, older than the
    /// row id `before` when given (the cursor of the previous page).
    pub async fn ledger_page(
        &self,
        port: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let statement = self.prepare(
            &format!(
                "SELECT {LEDGER_COLUMNS} FROM usage_ledger WHERE port_id = ?1 AND id < ?2 \
                 ORDER BY id DESC LIMIT ?3"
            ),
            &[
                text(port),
                num(before.unwrap_or(i64::MAX >> 10) as f64),
                num(limit),
            ],
        )?;
        let results = self.run("d1.read", vec![statement]).await?;
        Ok(Self::rows::<LedgerRow>(&results[0])?
            .into_iter()
            .map(LedgerEntry::from)
            .collect())
    }

    /// `port`'s holds that are still open or expired unsettled, newest first
    /// (at most 100).
    pub async fn open_reservations(&self, port: &str) -> Result<Vec<Reservation>, StoreError> {
        let statement = self.prepare(
            &format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations \
                 WHERE port_id = ?1 AND state IN ('held', 'expired') ORDER BY created_at DESC LIMIT 100"
            ),
            &[text(port)],
        )?;
        let results = self.run("d1.read", vec![statement]).await?;
        Ok(Self::rows::<ReservationRow>(&results[0])?
            .into_iter()
            .filter_map(ReservationRow::into_reservation)
            .collect())
    }

    /// The cron trigger's sweep: expires every port's stale holds (each
    /// becomes a ledger row at its estimate), deletes reservations settled
    /// more than [`RETENTION_DAYS`] ago (no gate counts them any more; the
    /// ledger keeps the calls), and deletes rollup rows of periods that
    /// started more than [`ROLLUP_RETENTION_DAYS`] ago (no page shows them;
    /// the ledger keeps the calls).
    pub async fn expire_stale(&self, now: DateTime<Utc>) -> Result<SweepCounts, StoreError> {
        let cutoff = now - chrono::Duration::days(RETENTION_DAYS);
        let rollup_cutoff = now - chrono::Duration::days(ROLLUP_RETENTION_DAYS);
        let (results, _) = self
            .run_fresh("d1.sweep", |write_id| {
                let mut statements = self.expiry_statements(None, write_id, now)?;
                statements.push(self.prepare(
                    "DELETE FROM reservations WHERE settled_at IS NOT NULL AND settled_at < ?1 \
                       AND created_at < ?1",
                    &[num(ms(cutoff))],
                )?);
                statements.push(self.prepare(
                    "DELETE FROM usage_rollup WHERE period IN ('day', 'week', 'month') \
                       AND period_start < ?1",
                    &[num(ms(rollup_cutoff))],
                )?);
                Ok(statements)
            })
            .await?;
        let changes = |result: &D1Result| {
            result
                .meta()
                .ok()
                .flatten()
                .and_then(|meta| meta.changes)
                .unwrap_or(0) as u64
        };
        Ok(SweepCounts {
            expired_holds: changes(&results[2]),
            deleted_reservations: changes(&results[3]),
            deleted_rollup_rows: changes(&results[4]),
        })
    }

    /// Current-period usage and holds of every port at once (for the port
    /// list).
    pub async fn all_ports_load(&self, now: DateTime<Utc>) -> Result<AllPortsLoad, StoreError> {
        #[derive(Deserialize)]
        struct UsedRow {
            port_id: String,
            period: String,
            used: f64,
        }
        #[derive(Deserialize)]
        struct HoldRow {
            port_id: String,
            held: f64,
        }
        let [day, week, month] = Period::ALL.map(|p| p.start(now));
        let used = self.prepare(
            "SELECT port_id, period, SUM(tokens) AS used FROM usage_rollup \
             WHERE (period = 'day' AND period_start = ?1) OR (period = 'week' AND period_start = ?2) \
                OR (period = 'month' AND period_start = ?3) \
             GROUP BY port_id, period",
            &[num(ms(day)), num(ms(week)), num(ms(month))],
        )?;
        let holds = self.prepare(
            "SELECT port_id, SUM(estimated_tokens) AS held FROM reservations \
             WHERE state = 'held' GROUP BY port_id",
            &[],
        )?;
        let results = self.run("d1.read", vec![used, holds]).await?;
        Ok(AllPortsLoad {
            used: Self::rows::<UsedRow>(&results[0])?
                .into_iter()
                .filter_map(|r| Some((r.port_id, r.period.parse().ok()?, tokens(r.used))))
                .collect(),
            holds: Self::rows::<HoldRow>(&results[1])?
                .into_iter()
                .map(|r| (r.port_id, tokens(r.held)))
                .collect(),
        })
    }
}

/// The rollup statement's arguments for a row counted at `at`.
fn rollup_args(port: &str, write_id: &str, at: DateTime<Utc>, request: JsValue) -> Vec<JsValue> {
    let [day, week, month] = Period::ALL.map(|p| num(ms(p.start(at))));
    vec![text(port), text(write_id), day, week, month, request]
}
