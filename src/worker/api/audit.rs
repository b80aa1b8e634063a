//! The audit trail (`GET /v1/audit`) and its writing.
//!
//! Every admin change (a route the table gives an admin role, any method
//! but `GET`) writes one record ([`crate::audit`]). Where the change itself
//! is a D1 write (admin keys), the record is a statement of the same batch:
//! both or neither. Everything else lives in a port's or group's object or
//! in KV, which D1 cannot join in a transaction: the record is written
//! after the change succeeded ([`after_change`]), and a change that failed
//! writes none. A record that cannot be written after a change succeeded
//! (D1 down past its retries) is logged as an error; the change stands.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use worker::{Method, Request, Response};

use super::ctx::{query, wants_csv, Ctx};
use super::reach::confined;
use super::reports::page_of;
use crate::audit::{self, Change, Filter};
use crate::sql::Statement;
use crate::worker::http::{csv_response, json_response, set, ApiError};
use crate::worker::routes::row::{Auth, Params, Route};

/// True when `route` is an admin change: audited.
pub fn audited(route: &Route) -> bool {
    route.method != Method::Get && matches!(route.auth, Auth::Admin(_))
}

/// The action a route's change is recorded as: its method and path pattern.
pub fn action(route: &Route) -> String {
    format!("{} {}", route.method, route.path)
}

/// The statement that records `change` by the caller, at the request's
/// instant.
pub fn record(ctx: &Ctx, change: &Change) -> Statement {
    audit::insert(ctx.now, &ctx.caller.audit_actor(), change)
}

/// Writes the record of a change that succeeded: `before` as the handler
/// read it, `after` as it gave it or else the answer's body.
pub async fn after_change(ctx: &mut Ctx, params: &Params, response: &mut Response) {
    let after = match ctx.after.take() {
        Some(after) => after,
        None => match response.cloned() {
            Ok(mut copy) => copy.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        },
    };
    let named = |name: &str| Some(params.get(name).to_owned()).filter(|v| !v.is_empty());
    let change = Change {
        action: std::mem::take(&mut ctx.action),
        port: named("port"),
        group: named("group"),
        before: audit::without_secrets(std::mem::take(&mut ctx.before)),
        after: audit::without_secrets(after),
    };
    let statement = record(ctx, &change);
    if let Err(e) = ctx.d1.run("d1.audit", &[statement]).await {
        worker::console_error!(
            "the audit record of {} was not written: {e:?}",
            change.action
        );
    }
}

/// The statement that prunes records past the Worker's retention
/// (`AUDIT_RETENTION_DAYS`, default [`audit::DEFAULT_RETENTION_DAYS`]) at
/// `now`.
pub fn prune(env: &worker::Env, now: DateTime<Utc>) -> Statement {
    let days = crate::worker::bindings::text_setting(env, "AUDIT_RETENTION_DAYS")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(audit::DEFAULT_RETENTION_DAYS);
    audit::prune(audit::prune_before(now, days))
}

/// An instant filter of the query (`since`, `until`).
///
/// # Errors
/// 400 `invalid-instant`.
fn instant_of(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match query(req, name) {
        None => Ok(None),
        Some(text) => crate::time::parse_rfc3339(&text).map(Some).ok_or_else(|| {
            ApiError::bad_field(
                "invalid-instant",
                name,
                format!("{name} must be an ISO 8601 date-time with a time zone"),
            )
        }),
    }
}

/// `GET /v1/audit?port=&actor=&since=&until=&limit=&cursor=&format=csv`:
/// newest first. A confined key sees only the records of what it reaches.
pub async fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let (limit, cursor) = page_of(req)?;
    let port = query(req, "port");
    if let Some(port) = &port {
        crate::worker::input::port(port)?;
    }
    let mut filter = Filter {
        port,
        actor: query(req, "actor"),
        since: instant_of(req, "since")?,
        until: instant_of(req, "until")?,
        reach: None,
    };
    if let Some(scope) = confined(&ctx.caller).cloned() {
        let mut ports = scope.ports.clone();
        if !scope.groups.is_empty() {
            // The ports below the key's groups, as the port list knows them.
            for listed in super::standings::standings(ctx).await? {
                if !ports.contains(&listed.port) {
                    ports.push(listed.port);
                }
            }
        }
        filter.reach = Some((ports, scope.groups.clone()));
    }
    let rows = ctx
        .d1
        .run("d1.read", &[audit::page(&filter, cursor, limit)])
        .await?;
    let records: Vec<_> = rows[0].iter().map(audit::record_of).collect();
    let next = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.seq.to_string()))
        .flatten();
    if wants_csv(req) {
        let mut response = csv_response(audit::csv(&records));
        if let Some(next) = &next {
            set(&mut response, "X-Next-Cursor", next);
        }
        return Ok(response);
    }
    let body = json!({
        "records": records.iter().map(audit::Record::json).collect::<Vec<_>>(),
        "nextCursor": next,
    });
    Ok(json_response(200, &body))
}
