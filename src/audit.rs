//! The audit trail: one record per change (budgets, caps, prices, port
//! keys, alerts, gateway settings, credits and raises, groups, admin
//! keys), kept in D1 (`audit_log`) for a configured number of days.
//!
//! A record says when (the Worker's clock), who (an admin key's id and
//! name, or `admin-token`; never a secret), what (the route), where (a port
//! or a group) and the value before and after, as JSON. This module builds
//! the statements and reads the rows; the Worker decides when to write
//! (see `docs/api.md`, "Audit trail", for the atomicity rule).

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use crate::sql::{Row, Statement, Value};
use crate::text::csv_field;
use crate::time::{instant, iso, ms};

/// Records older than this many days are pruned unless the Worker's
/// `AUDIT_RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// The actor of the admin token.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// An admin key's id, or [`ADMIN_TOKEN_ACTOR`].
    pub id: String,
    /// The key's name, when it has one.
    pub name: Option<String>,
}

/// What changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The route: method and path pattern (`PUT /v1/ports/{port}/budget`).
    pub action: String,
    /// The port changed, if any.
    pub port: Option<String>,
    /// The group changed, if any.
    pub group: Option<String>,
    /// The value before (`null`: none, or not read).
    pub before: Json,
    /// The value after (`null`: none, say after a delete).
    pub after: Json,
}

/// A record as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Its sequence number (newest highest): the paging cursor.
    pub seq: u64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What.
    pub change: Change,
}

fn json_text(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        v => Value::Text(v.to_string()),
    }
}

/// The statement that writes one record at `at`.
pub fn insert(at: DateTime<Utc>, actor: &Actor, change: &Change) -> Statement {
    Statement::new(
        "INSERT INTO audit_log (at, actor_id, actor_name, action, port_id, group_id, \
         before_json, after_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            ms(at).into(),
            actor.id.as_str().into(),
            actor.name.clone().into(),
            change.action.as_str().into(),
            change.port.clone().into(),
            change.group.clone().into(),
            json_text(&change.before),
            json_text(&change.after),
        ],
    )
}

/// The statement that deletes the records written before `before`.
pub fn prune(before: DateTime<Utc>) -> Statement {
    Statement::new(
        "DELETE FROM audit_log WHERE at < ?1",
        vec![ms(before).into()],
    )
}

/// The instant before which records are pruned at `now`, keeping
/// `retention_days`.
pub fn prune_before(now: DateTime<Utc>, retention_days: i64) -> DateTime<Utc> {
    now - chrono::Duration::days(retention_days.max(1))
}

/// Which records a page shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only this port's records.
    pub port: Option<String>,
    /// Only this actor's (a key id or `admin-token`).
    pub actor: Option<String>,
    /// Only records at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only records before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only records of these ports or groups (a confined key's reach);
    /// `None`: all.
    pub reach: Option<(Vec<String>, Vec<String>)>,
}

/// The statement of a page of records under `filter`, newest first,
/// starting before `cursor` (a record's `seq`).
pub fn page(filter: &Filter, cursor: Option<u64>, limit: u32) -> Statement {
    let list = |names: &[String]| Value::Text(Json::from(names.to_vec()).to_string());
    let (ports, groups) = match &filter.reach {
        Some((ports, groups)) => (list(ports), list(groups)),
        None => (Value::Null, Value::Null),
    };
    Statement::new(
        "SELECT seq, at, actor_id, actor_name, action, port_id, group_id, before_json, after_json \
         FROM audit_log WHERE seq < ?1 \
         AND (?2 IS NULL OR port_id = ?2) AND (?3 IS NULL OR actor_id = ?3) \
         AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5) \
         AND (?6 IS NULL OR port_id IN (SELECT value FROM json_each(?6)) \
              OR group_id IN (SELECT value FROM json_each(?7))) \
         ORDER BY seq DESC LIMIT ?8",
        vec![
            cursor.unwrap_or(i64::MAX as u64).into(),
            filter.port.clone().into(),
            filter.actor.clone().into(),
            filter.since.map(ms).into(),
            filter.until.map(ms).into(),
            ports,
            groups,
            i64::from(limit).into(),
        ],
    )
}

/// A record of a row of [`page`].
pub fn record_of(row: &Row) -> Record {
    let json_of = |column: &str| {
        row.text(column)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Json::Null)
    };
    Record {
        seq: row.count("seq"),
        at: instant(row.int("at").unwrap_or(0)),
        actor: Actor {
            id: row.text("actor_id").unwrap_or_default(),
            name: row.text("actor_name"),
        },
        change: Change {
            action: row.text("action").unwrap_or_default(),
            port: row.text("port_id"),
            group: row.text("group_id"),
            before: json_of("before_json"),
            after: json_of("after_json"),
        },
    }
}

impl Record {
    /// The record on the wire.
    pub fn json(&self) -> Json {
        json!({
            "seq": self.seq,
            "at": iso(self.at),
            "actorId": self.actor.id,
            "actorName": self.actor.name,
            "action": self.change.action,
            "port": self.change.port,
            "group": self.change.group,
            "before": self.change.before,
            "after": self.change.after,
        })
    }
}

/// The CSV columns of [`csv`], in order.
pub const CSV_COLUMNS: [&str; 9] = [
    "seq",
    "at",
    "actorId",
    "actorName",
    "action",
    "port",
    "group",
    "before",
    "after",
];

/// Records as CSV under a header line of [`CSV_COLUMNS`]; `before` and
/// `after` are their JSON text (empty for none).
pub fn csv(records: &[Record]) -> String {
    let mut text = CSV_COLUMNS.join(",");
    text.push('\n');
    let json_cell = |v: &Json| match v {
        Json::Null => String::new(),
        v => v.to_string(),
    };
    for r in records {
        let fields = [
            r.seq.to_string(),
            iso(r.at),
            r.actor.id.clone(),
            r.actor.name.clone().unwrap_or_default(),
            r.change.action.clone(),
            r.change.port.clone().unwrap_or_default(),
            r.change.group.clone().unwrap_or_default(),
            json_cell(&r.change.before),
            json_cell(&r.change.after),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        text.push_str(&line.join(","));
        text.push('\n');
    }
    text
}

/// True for a field that holds a secret: `key`, `secret`, or a name ending
/// in `Secret` (a webhook's `previousSecret`).
fn is_secret_field(name: &str) -> bool {
    name == "key" || name == "secret" || name.ends_with("Secret")
}

/// `value` without any field that holds a secret, at any depth: what an
/// answer (a key shown once, a webhook's new signing secret) may be
/// recorded as.
pub fn without_secrets(value: Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.into_iter()
                .filter(|(name, _)| !is_secret_field(name))
                .map(|(name, v)| (name, without_secrets(v)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}
