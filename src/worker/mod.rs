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
//! The clock is read in one place, [`clock`]; everything below takes the
//! instant (or the request's [`clock::Clock`]) as a parameter. When
//! `FAULT_INJECTION` is `on` (tests only), an `x-now` request header
//! (RFC 3339) fixes the clock for that request, so tests run at any instant
//! and cross period resets on purpose; otherwise the header is ignored.

pub mod auth;
pub mod clock;
pub mod fault;
pub mod gateway;
pub mod http;
pub mod input;
pub mod routes;
pub mod settings;
pub mod store;

use std::rc::Rc;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

use clock::Clock;

/// True when the Worker's `FAULT_INJECTION` variable is `on` (the tests'
/// seams: `x-fault`, `x-now`).
pub fn test_seams_on(env: &Env) -> bool {
    env.var("FAULT_INJECTION")
        .map(|v| v.to_string() == "on")
        .unwrap_or(false)
}

/// The request's clock: the runtime's, or the `x-now` header's instant when
/// the test seams are on.
fn request_clock(req: &Request, env: &Env) -> Clock {
    let header = req.headers().get(clock::NOW_HEADER).ok().flatten();
    Clock::for_request(test_seams_on(env), header.as_deref())
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let clock = request_clock(&req, &env);
    // The gateway settles streamed calls after the answer, so it needs the
    // event's context (`wait_until`) and the clock itself; every other path
    // is the HTTP API, answered at one instant.
    if gateway::handles(&req.path()) {
        return Ok(gateway::handle(req, env, ctx, clock).await);
    }
    Ok(routes::handle(req, env, clock.now()).await)
}

/// The cron trigger: expires every port's stale holds (each becomes a
/// ledger row at its estimate until a late commit corrects it) and prunes
/// old reservations and rollup rows. Its instant is the event's scheduled
/// time (a test triggers it at the instant it runs as).
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = clock::instant_of_ms(event.schedule());
    let Ok(db) = env.d1("DB") else {
        worker::console_error!("the DB binding is missing");
        return;
    };
    let store = store::Store::new(db, Rc::new(fault::Faults::none()));
    match store.expire_stale(now).await {
        Ok(counts) => worker::console_log!(
            "expired {} stale holds, deleted {} old reservations and {} old rollup rows",
            counts.expired_holds,
            counts.deleted_reservations,
            counts.deleted_rollup_rows
        ),
        Err(e) => worker::console_error!("sweep failed: {e:?}"),
    }
}
