//! The Cloudflare Worker: the gate that enforces each port's budget over
//! HTTP, with budgets in Workers KV and the ledger in D1.
//!
//! - [`routes`]: the HTTP API under `/v1` (documented in `docs/api.md`).
//! - [`store`]: the D1 ledger, rollup and reservations; the LLM gateway
//!   calls [`store::Store::reserve`], [`store::Store::commit`] and
//!   [`store::Store::release`] directly.
//! - [`settings`]: budgets and hashed port keys in KV.
//! - [`auth`], [`input`], [`http`]: who calls, strict input, answers.
//! - [`fault`]: the fault-injection seam the tests use (off in production).
//!
//! The clock is read in one place, [`now`]; everything below takes the
//! instant as a parameter. When `FAULT_INJECTION` is `on` (tests only), an
//! `x-now` request header (RFC 3339) stands in for the clock, so tests can
//! cross a period reset; otherwise the header is ignored.

pub mod auth;
pub mod fault;
pub mod gateway;
pub mod http;
pub mod input;
pub mod routes;
pub mod settings;
pub mod store;

use std::rc::Rc;

use chrono::{DateTime, TimeZone, Utc};
use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

/// The current instant, from the runtime's clock.
pub fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(js_sys::Date::now() as i64)
        .single()
        .unwrap_or_default()
}

/// True when the Worker's `FAULT_INJECTION` variable is `on` (the tests'
/// seams: `x-fault`, `x-now`).
pub fn test_seams_on(env: &Env) -> bool {
    env.var("FAULT_INJECTION")
        .map(|v| v.to_string() == "on")
        .unwrap_or(false)
}

/// The request's instant: the runtime's clock, or the `x-now` header when
/// the test seams are on and it holds an RFC 3339 instant.
fn request_now(req: &Request, env: &Env) -> DateTime<Utc> {
    if test_seams_on(env) {
        let header = req.headers().get("x-now").ok().flatten();
        if let Some(at) = header.and_then(|h| DateTime::parse_from_rfc3339(h.trim()).ok()) {
            return at.with_timezone(&Utc);
        }
    }
    now()
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let now = request_now(&req, &env);
    // The gateway settles streamed calls after the answer, so it needs the
    // event's context (`wait_until`); every other path is the HTTP API.
    if gateway::handles(&req.path()) {
        return Ok(gateway::handle(req, env, ctx, now).await);
    }
    Ok(routes::handle(req, env, now).await)
}

/// The cron trigger: expires every port's stale holds (each becomes a
/// ledger row at its estimate until a late commit corrects it) and prunes
/// old reservations and rollup rows.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let Ok(db) = env.d1("DB") else {
        worker::console_error!("the DB binding is missing");
        return;
    };
    let store = store::Store::new(db, Rc::new(fault::Faults::none()));
    match store.expire_stale(now()).await {
        Ok(counts) => worker::console_log!(
            "expired {} stale holds, deleted {} old reservations and {} old rollup rows",
            counts.expired_holds,
            counts.deleted_reservations,
            counts.deleted_rollup_rows
        ),
        Err(e) => worker::console_error!("sweep failed: {e:?}"),
    }
}
