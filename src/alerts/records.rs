//! The record of alert deliveries in the ledger of record's database (D1,
//! migration `0006`), as statements: one row per event and endpoint, with
//! its status, tries and the receiver's last response code.

use crate::sql::{Row, Statement, Value};

/// Where one event's delivery to one endpoint stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Queued or being retried.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// The last try failed; more tries follow.
    Failed,
    /// Every try failed: the event went to the dead-letter queue.
    Dead,
    /// Neither the port nor the default has an endpoint.
    NoEndpoint,
    /// The endpoint was removed before the event reached it.
    Dropped,
}

impl Status {
    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Dead => "dead",
            Status::NoEndpoint => "no-endpoint",
            Status::Dropped => "dropped",
        }
    }
}

/// What a delivery row is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The port.
    pub port: &'a str,
    /// The event's id.
    pub event_id: &'a str,
    /// The endpoint's URL (empty for [`Status::NoEndpoint`]).
    pub endpoint: &'a str,
    /// The event's JSON body, as sent.
    pub body: &'a str,
}

fn field(body: &str, name: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get(name).map(|f| match f {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
        .unwrap_or_default()
}

/// Starts (or, on a resend, restarts) a delivery: status `status`, no tries.
pub fn start(s: &Subject<'_>, status: Status, now_ms: i64) -> Statement {
    Statement::new(
        "INSERT INTO alert_deliveries (port_id, event_id, endpoint, event_type, threshold, body, \
           status, attempts, response_code, error, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, NULL, ?8, ?8) \
         ON CONFLICT (port_id, event_id, endpoint) DO UPDATE SET status = excluded.status, \
           attempts = 0, response_code = NULL, error = NULL, updated_at = excluded.updated_at",
        vec![
            s.port.into(),
            s.event_id.into(),
            s.endpoint.into(),
            field(s.body, "type").into(),
            field(s.body, "threshold").into(),
            s.body.into(),
            status.as_str().into(),
            now_ms.into(),
        ],
    )
}

/// Counts a try; answers (via [`attempts_of`]) how many there were.
pub fn attempt(s: &Subject<'_>, now_ms: i64) -> Statement {
    Statement::new(
        "INSERT INTO alert_deliveries (port_id, event_id, endpoint, event_type, threshold, body, \
           status, attempts, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 1, ?7, ?7) \
         ON CONFLICT (port_id, event_id, endpoint) DO UPDATE SET attempts = attempts + 1, \
           updated_at = excluded.updated_at \
         RETURNING attempts",
        vec![
            s.port.into(),
            s.event_id.into(),
            s.endpoint.into(),
            field(s.body, "type").into(),
            field(s.body, "threshold").into(),
            s.body.into(),
            now_ms.into(),
        ],
    )
}

/// The try count [`attempt`] answered.
pub fn attempts_of(rows: &[Row]) -> u32 {
    rows.first()
        .and_then(|r| r.int("attempts"))
        .map_or(1, |n| n.clamp(1, i64::from(u32::MAX)) as u32)
}

/// Records how a try ended: its status, the receiver's response code (if
/// it answered) and what went wrong (if anything). A row already `dead`
/// stays so.
pub fn finish(
    port: &str,
    event_id: &str,
    endpoint: &str,
    status: Status,
    response_code: Option<u16>,
    error: Option<&str>,
    now_ms: i64,
) -> Statement {
    Statement::new(
        "UPDATE alert_deliveries SET status = ?4, response_code = COALESCE(?5, response_code), \
           error = ?6, updated_at = ?7 \
         WHERE port_id = ?1 AND event_id = ?2 AND endpoint = ?3 AND status <> 'dead'",
        vec![
            port.into(),
            event_id.into(),
            endpoint.into(),
            status.as_str().into(),
            response_code.map_or(Value::Null, |c| i64::from(c).into()),
            error.map_or(Value::Null, Value::from),
            now_ms.into(),
        ],
    )
}

/// Marks a delivery dead (it reached the dead-letter queue).
pub fn dead(port: &str, event_id: &str, endpoint: &str, now_ms: i64) -> Statement {
    Statement::new(
        "UPDATE alert_deliveries SET status = 'dead', updated_at = ?4 \
         WHERE port_id = ?1 AND event_id = ?2 AND endpoint = ?3",
        vec![port.into(), event_id.into(), endpoint.into(), now_ms.into()],
    )
}

/// How many deliveries are in each status, over every port (the rows kept:
/// see the pruning of the record): `status`, `count`.
pub fn count_by_status() -> Statement {
    Statement::new(
        "SELECT status, COUNT(*) AS count FROM alert_deliveries GROUP BY status ORDER BY status",
        vec![],
    )
}

/// The port's last `limit` deliveries, newest first.
pub fn recent(port: &str, limit: u32) -> Statement {
    Statement::new(
        "SELECT event_id, endpoint, event_type, threshold, body, status, attempts, response_code, \
           error, created_at, updated_at FROM alert_deliveries WHERE port_id = ?1 \
         ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        vec![port.into(), Value::Integer(i64::from(limit))],
    )
}

/// One event's body, if the port has it on record.
pub fn body_of(port: &str, event_id: &str) -> Statement {
    Statement::new(
        "SELECT body FROM alert_deliveries WHERE port_id = ?1 AND event_id = ?2 LIMIT 1",
        vec![port.into(), event_id.into()],
    )
}

/// A delivery row as the API shows it.
pub fn row_json(row: &Row) -> serde_json::Value {
    let at = |name: &str| {
        row.int(name)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(crate::time::iso)
    };
    let endpoint = row.text("endpoint").filter(|e| !e.is_empty());
    serde_json::json!({
        "eventId": row.text("event_id"),
        "type": row.text("event_type"),
        "threshold": row.text("threshold").map(|t| t.parse::<u64>().map_or(serde_json::Value::from(t), Into::into)),
        "endpoint": endpoint,
        "status": row.text("status"),
        "attempts": row.int("attempts"),
        "responseCode": row.int("response_code"),
        "error": row.text("error"),
        "createdAt": at("created_at"),
        "updatedAt": at("updated_at"),
        "event": row.text("body").and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
    })
}
