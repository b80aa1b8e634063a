//! The Cloudflare Worker: the gate that enforces each port's budget over
//! HTTP, one Durable Object per port, with D1 as the ledger of record and
//! budgets and keys in Workers KV.
//!
//! - [`door`]: the front door every request comes in by: its [`bindings`]
//!   read once, its route found in the one table, [`routes`].
//! - [`api`]: the HTTP API under `/v1` (documented in `docs/api.md`).
//! - [`gateway`]: the LLM gateway (`docs/gateway.md`).
//! - [`gate`]: `PortGate`, the Durable Object that is each port's gate
//!   (holds, counters, exactly-once, expiry, the outbox to D1), and the
//!   client the API and the gateway reach it with.
//! - [`alerts`]: threshold events through a queue to signed webhooks.
//! - [`d1`]: the ledger of record's statements run on D1.
//! - [`settings`]: budgets (as listed) and hashed port keys in KV.
//! - [`auth`], [`input`], [`http`], [`ids`]: who calls, strict input,
//!   answers, identifiers.
//! - [`clock`]: the one clock. [`fault`]: the test seams (off in production;
//!   switched by [`bindings::seams_on`]).
//!
//! The clock is read in one place, [`clock`]; everything below takes the
//! instant (or the request's [`clock::Clock`]) as a parameter. When
//! `FAULT_INJECTION` is `on` (tests only), an `x-now` request header
//! (RFC 3339) fixes the clock for that request, so tests run at any instant
//! and cross period resets on purpose; otherwise the header is ignored.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod bindings;
pub mod body;
pub mod budget_state;
pub mod cache;
pub mod caller;
pub mod clock;
pub mod d1;
pub mod door;
pub mod fault;
pub mod gate;
pub mod gateway;
pub mod group;
pub mod http;
pub mod ids;
pub mod input;
pub mod port_key;
pub mod prices;
pub mod refusals;
pub mod routes;
pub mod settings;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

use bindings::Bindings;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let bindings = Bindings::of_request(&req, env);
    Ok(door::answer(req, bindings, ctx).await)
}

/// The cron trigger (daily): prunes the ledger of record's rollup of
/// periods that started more than [`ROLLUP_RETENTION_DAYS`] ago (no page
/// shows them; the ledger keeps every call), the audit records past their
/// retention (`AUDIT_RETENTION_DAYS`, 400 by default), and the reservations kept in
/// D1 from before the gate moved into each port's object, once settled
/// long ago. Holds expire in their port's object, by its alarm. Its instant
/// is the event's scheduled time (a test triggers it at the instant it runs
/// as).
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = clock::instant_of_ms(event.schedule());
    let bindings = Bindings::of_event(env);
    let Ok(d1) = bindings.d1() else {
        worker::console_error!("the DB binding is missing");
        return;
    };
    let day = 86_400_000;
    let before = now.timestamp_millis() - ROLLUP_RETENTION_DAYS * day;
    let settled = now.timestamp_millis() - crate::gate::HOLD_RETENTION_DAYS * day;
    let statements = [
        crate::ledger::reports::prune_rollup(before),
        crate::sql::Statement::new(
            "DELETE FROM reservations WHERE settled_at IS NOT NULL AND settled_at < ?1",
            vec![settled.into()],
        ),
        api::audit::prune(&bindings.env, now),
    ];
    match d1.run("d1.prune", &statements).await {
        Ok(_) => worker::console_log!("pruned the rollup before {before} and old reservations"),
        Err(e) => worker::console_error!("pruning failed: {e:?}"),
    }
}

/// Rollup rows of periods that started longer ago than this are deleted by
/// the cron trigger: more than a year, so every page's periods stay.
pub const ROLLUP_RETENTION_DAYS: i64 = 400;
