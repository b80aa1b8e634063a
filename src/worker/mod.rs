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
//! instant as a parameter.

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

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    // The gateway settles streamed calls after the answer, so it needs the
    // event's context (`wait_until`); every other path is the HTTP API.
    if gateway::handles(&req.path()) {
        return Ok(gateway::handle(req, env, ctx, now()).await);
    }
    Ok(routes::handle(req, env, now()).await)
}

/// The cron trigger: expires every port's stale holds (they stay charged as
/// their estimate until a late commit corrects them).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let Ok(db) = env.d1("DB") else {
        worker::console_error!("the DB binding is missing");
        return;
    };
    let store = store::Store::new(db, Rc::new(fault::Faults::none()));
    match store.expire_stale(now()).await {
        Ok((expired, deleted)) => worker::console_log!(
            "expired {expired} stale holds, deleted {deleted} old reservations"
        ),
        Err(e) => worker::console_error!("sweep failed: {e:?}"),
    }
}
