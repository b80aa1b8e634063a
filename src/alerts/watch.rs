//! The port gate's side of alerts: the thresholds a port has, the
//! crossings it raised this period, and the outbox of events on their way
//! to the queue, as SQL over the gate's [`Sql`] seam.
//!
//! [`observe_standing`] runs inside the same storage transaction as each change of
//! the port's usage or budget (the port's Durable Object runs one at a
//! time), so concurrent calls that cross one threshold raise one event: the
//! first writes the crossing, the others find it. An event written here is
//! kept until the queue took it ([`mark_sent`]); a lost send is sent again
//! with the same id. The tables are made by [`migrate`], once per storage.

use super::event::{event_id, AlertEvent, EventType};
use super::threshold::{transitions, Raised, Standing, Threshold, Transition};
use crate::sql::{Sql, SqlError, Value};

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS alert_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    // The crossings raised and not yet resolved, one per threshold.
    "CREATE TABLE IF NOT EXISTS alert_raised (
        threshold TEXT PRIMARY KEY,
        period_start INTEGER NOT NULL,
        resets_at INTEGER NOT NULL
    )",
    // Events, kept until the queue has them (then pruned after a while).
    "CREATE TABLE IF NOT EXISTS alert_outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER
    )",
    "CREATE INDEX IF NOT EXISTS alert_outbox_pending ON alert_outbox (seq) WHERE sent_at IS NULL",
];

/// Sent events are forgotten by the gate this long after they were sent
/// (the delivery records keep them for resends).
pub const SENT_RETENTION_MS: i64 = 7 * 86_400_000;

/// Creates the alert tables if they are missing; idempotent. Every other
/// function here expects them: run this once per storage (in its own
/// transaction, so a rolled-back change cannot take the tables with it).
///
/// # Errors
/// The storage's.
pub fn migrate(sql: &impl Sql) -> Result<(), SqlError> {
    for statement in TABLES {
        sql.exec(statement, &[])?;
    }
    Ok(())
}

fn setting(sql: &impl Sql, key: &str) -> Result<Option<String>, SqlError> {
    Ok(sql
        .exec(
            "SELECT value FROM alert_settings WHERE key = ?1",
            &[key.into()],
        )?
        .first()
        .and_then(|r| r.text("value")))
}

fn set_setting(sql: &impl Sql, key: &str, value: &str) -> Result<(), SqlError> {
    sql.exec(
        "INSERT INTO alert_settings (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[key.into(), value.into()],
    )?;
    Ok(())
}

/// The port's percent thresholds, ascending (none until set).
///
/// # Errors
/// The storage's.
pub fn percents(sql: &impl Sql) -> Result<Vec<u8>, SqlError> {
    Ok(setting(sql, "percents")?
        .and_then(|text| serde_json::from_str::<Vec<u8>>(&text).ok())
        .unwrap_or_default())
}

/// Replaces the port's percent thresholds (validated by the caller, see
/// [`super::threshold::percent_of_json`]; anything outside 1..=100 is
/// dropped); kept sorted, without repeats.
///
/// # Errors
/// The storage's.
pub fn set_percents(sql: &impl Sql, percents: &[u8]) -> Result<Vec<u8>, SqlError> {
    let mut list: Vec<u8> = percents
        .iter()
        .copied()
        .filter(|p| (1..=100).contains(p))
        .collect();
    list.sort_unstable();
    list.dedup();
    let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
    set_setting(sql, "percents", &text)?;
    Ok(list)
}

/// True when the port watches its forecast (the `projected` threshold;
/// off until set).
///
/// # Errors
/// The storage's.
pub fn projected(sql: &impl Sql) -> Result<bool, SqlError> {
    Ok(setting(sql, "projected")?.as_deref() == Some("on"))
}

/// Turns the `projected` threshold on or off; answers the setting.
///
/// # Errors
/// The storage's.
pub fn set_projected(sql: &impl Sql, on: bool) -> Result<bool, SqlError> {
    set_setting(sql, "projected", if on { "on" } else { "off" })?;
    Ok(on)
}

/// A port's alert thresholds as set: the percents of the hard cap and
/// whether the forecast is watched (the soft and hard caps always are).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlertThresholds {
    /// Percents of the hard cap, ascending, without repeats.
    pub percents: Vec<u8>,
    /// The `projected` threshold.
    #[serde(default)]
    pub projected: bool,
}

impl AlertThresholds {
    /// The port's thresholds as stored.
    ///
    /// # Errors
    /// The storage's.
    pub fn read(sql: &impl Sql) -> Result<AlertThresholds, SqlError> {
        Ok(AlertThresholds {
            percents: percents(sql)?,
            projected: projected(sql)?,
        })
    }
}

/// Every threshold of a port with these percents: the soft cap, the hard
/// cap, then the percents, then the forecast when `projected`.
pub fn thresholds(percents: &[u8], projected: bool) -> Vec<Threshold> {
    let mut all = vec![Threshold::Soft, Threshold::Hard];
    all.extend(percents.iter().map(|p| Threshold::Percent(*p)));
    if projected {
        all.push(Threshold::Projected);
    }
    all
}

/// Notices what changed for the port's thresholds since the last call,
/// for the port's `standing` now, and writes each new crossing or
/// resolution to the outbox, in the caller's transaction; answers the
/// events written (the gate calls it after each change:
/// [`crate::gate::Gate::observe_alerts`]).
///
/// # Errors
/// The storage's.
pub fn observe_standing(
    sql: &impl Sql,
    port: &str,
    standing: &Standing,
    now_ms: i64,
) -> Result<Vec<AlertEvent>, SqlError> {
    let all = thresholds(&percents(sql)?, projected(sql)?);
    let raised: Vec<Raised> = sql
        .exec(
            "SELECT threshold, period_start FROM alert_raised ORDER BY rowid",
            &[],
        )?
        .iter()
        .filter_map(|row| {
            Some(Raised {
                threshold: Threshold::parse(&row.text("threshold")?)?,
                period_start: row.int("period_start")?,
            })
        })
        .collect();
    let mut events = Vec::new();
    for transition in transitions(&all, &raised, standing) {
        let (threshold, kind) = match transition {
            Transition::Forgotten(t) => {
                forget(sql, t)?;
                continue;
            }
            Transition::Resolved(t) => {
                forget(sql, t)?;
                (t, EventType::Resolved)
            }
            Transition::Crossed(t) => {
                sql.exec(
                    "INSERT INTO alert_raised (threshold, period_start, resets_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (threshold) DO UPDATE SET period_start = excluded.period_start, \
                     resets_at = excluded.resets_at",
                    &[
                        t.to_string().into(),
                        standing.window.start.timestamp_millis().into(),
                        standing.window.end.timestamp_millis().into(),
                    ],
                )?;
                (t, EventType::Crossed)
            }
        };
        let seq = next_seq(sql)?;
        let event = AlertEvent {
            id: event_id(port, seq),
            kind,
            port: port.to_owned(),
            threshold,
            standing: *standing,
            test: false,
        };
        sql.exec(
            "INSERT INTO alert_outbox (seq, id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            &[
                seq.into(),
                event.id.as_str().into(),
                event.body().to_string().into(),
                now_ms.into(),
            ],
        )?;
        events.push(event);
    }
    Ok(events)
}

/// Puts an event that is not a threshold's into the outbox, in the same
/// transaction as what caused it: `kind` is its `type`, `fields` the rest
/// of its body (an object), to which its `id`, `type` and `port` are added.
/// Returns the event's id.
///
/// # Errors
/// The storage's.
pub fn notice(
    sql: &impl Sql,
    port: &str,
    kind: &str,
    fields: serde_json::Value,
    now_ms: i64,
) -> Result<String, SqlError> {
    let seq = next_seq(sql)?;
    let id = event_id(port, seq);
    let mut body = serde_json::json!({ "id": id, "type": kind, "port": port });
    if let (Some(body), serde_json::Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    sql.exec(
        "INSERT INTO alert_outbox (seq, id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[
            seq.into(),
            id.as_str().into(),
            body.to_string().into(),
            now_ms.into(),
        ],
    )?;
    Ok(id)
}

fn forget(sql: &impl Sql, threshold: Threshold) -> Result<(), SqlError> {
    sql.exec(
        "DELETE FROM alert_raised WHERE threshold = ?1",
        &[threshold.to_string().into()],
    )?;
    Ok(())
}

fn next_seq(sql: &impl Sql) -> Result<u64, SqlError> {
    let seq = setting(sql, "seq")?
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    set_setting(sql, "seq", &seq.to_string())?;
    Ok(seq)
}

/// One event in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Its place in the outbox.
    pub seq: u64,
    /// The event's id.
    pub id: String,
    /// The event's JSON body, as receivers get it.
    pub body: String,
}

/// Up to `limit` events the queue has not taken yet, oldest first.
///
/// # Errors
/// The storage's.
pub fn pending(sql: &impl Sql, limit: u32) -> Result<Vec<Outgoing>, SqlError> {
    Ok(sql
        .exec(
            "SELECT seq, id, body FROM alert_outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?1",
            &[Value::Integer(i64::from(limit))],
        )?
        .iter()
        .filter_map(|row| {
            Some(Outgoing {
                seq: row.int("seq")? as u64,
                id: row.text("id")?,
                body: row.text("body")?,
            })
        })
        .collect())
}

/// Records that the queue took these events.
///
/// # Errors
/// The storage's.
pub fn mark_sent(sql: &impl Sql, seqs: &[u64], now_ms: i64) -> Result<(), SqlError> {
    for seq in seqs {
        sql.exec(
            "UPDATE alert_outbox SET sent_at = ?2 WHERE seq = ?1 AND sent_at IS NULL",
            &[(*seq).into(), now_ms.into()],
        )?;
    }
    Ok(())
}

/// When the earliest raised crossing's period ends (epoch ms): its
/// resolution is due then, with no call needed.
///
/// # Errors
/// The storage's.
pub fn next_reset(sql: &impl Sql) -> Result<Option<i64>, SqlError> {
    Ok(sql
        .exec("SELECT MIN(resets_at) AS at FROM alert_raised", &[])?
        .first()
        .and_then(|r| r.int("at")))
}

/// Forgets events sent before `before` (epoch ms).
///
/// # Errors
/// The storage's.
pub fn prune(sql: &impl Sql, before: i64) -> Result<(), SqlError> {
    sql.exec(
        "DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND sent_at < ?1",
        &[before.into()],
    )?;
    Ok(())
}
