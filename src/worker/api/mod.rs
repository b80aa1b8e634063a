//! The HTTP API under `/v1` (see `docs/api.md`): the caller's right to a
//! route, the request's context, and one module per resource (the routes
//! themselves are the table in [`super::routes`]). Handlers parse strictly, and every budget
//! rule and every write is the port gate's
//! ([`GateClient`](crate::worker::gate::GateClient)), one request to
//! the port's object; reports read the ledger of record (D1).
//!
//! - [`budgets`]: a port's budget (read, partial update with `If-Match`).
//! - [`groups`]: groups, budgets above ports (budget, status, list).
//! - [`holds`]: check, reservations (hold, commit, release, list).
//! - [`usage`]: usage writes and the period's usage.
//! - [`reports`]: breakdown, ledger (JSON and CSV), status.
//! - [`ports`]: the port list. [`keys`]: port keys.
//! - [`prices`]: the price table (read; set and delete a model's price).
//! - [`credits`]: credits and temporary raises.
//! - [`alerts`]: thresholds, webhook endpoints, deliveries (admin).
//! - [`admin_keys`]: admin keys with roles (owner). [`audit`]: the audit
//!   trail, written here for every admin change ([`serve`]) and read.
//! - [`reach`]: the ports and groups an admin key's scope reaches.
//! - [`ctx`]: one request's context; [`standings`]: where every port
//!   stands (the port list, the metrics); [`group_reads`]: a group read
//!   for a request.
//! - [`gateway_settings`]: a port's gateway settings (read, save with `If-Match`).

pub mod admin_keys;
pub mod alerts;
pub mod audit;
pub mod budgets;
pub mod credits;
pub mod ctx;
pub mod gateway_settings;
pub mod group_alerts;
pub mod group_reads;
pub mod groups;
pub mod holds;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod ports;
pub mod prices;
pub mod reach;
pub mod reports;
pub mod standings;
pub mod usage;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Method, Request, Response};

use super::auth::{authenticate_api, presented_secret};
use super::bindings::Bindings;
use super::caller::Caller;
use super::d1::D1;
use super::http::{set, ApiError};
use super::ids::random_id;
use super::input;
use super::port_key::{self, PresentedKey};
use super::routes::row::{ApiHandler, Auth, Params, Route};
use super::settings::Settings;
use ctx::Ctx;

/// Answers an API route's request (its method chosen by the front door):
/// the stores, the caller and its right to the route (an admin key's role
/// and scope), then the handler, then the audit record of an admin change
/// that succeeded. Every successful answer about a port carries its budget
/// state; errors carry it when the handler had measured it.
pub async fn serve(
    req: &mut Request,
    bindings: Bindings,
    route: &Route,
    handler: ApiHandler,
    params: &Params,
) -> Response {
    let Ok(d1) = bindings.d1() else {
        worker::console_error!("the DB binding is missing");
        return ApiError::new(500, "internal", "the Worker is misconfigured").into_response();
    };
    let settings = bindings.settings();
    let now = bindings.clock.now();
    let (caller, key) =
        match authorize(req, &bindings, &settings, &d1, now, route.auth, params).await {
            Ok(authorized) => authorized,
            Err(e) => return e.into_response(),
        };
    let mut ctx = Ctx {
        bindings,
        now,
        caller,
        settings,
        d1,
        write_id: random_id("w_"),
        state: None,
        group_soft: None,
        before: serde_json::Value::Null,
        after: None,
        action: audit::action(route),
        audited: false,
        key: key.map(Rc::new),
    };
    if let (Caller::Key(key), Some(needed)) = (&ctx.caller, route.auth.role()) {
        let reads = route.method == Method::Get;
        if let Err(e) = reach::check(&ctx, key, needed, reads, params).await {
            return e.into_response();
        }
    }
    let mut result = handler(&mut ctx, params, req).await;
    if let Some(key) = &ctx.key {
        // No trip to the port's gate confirmed the remembered key: KV does,
        // before anything is answered.
        if let Err(e) = key.confirm(&ctx.settings).await {
            ctx.state = None;
            ctx.group_soft = None;
            result = Err(e.into());
        }
    }
    let ok = result.is_ok();
    let mut response = result.unwrap_or_else(ApiError::into_response);
    let succeeded = ok && (200..300).contains(&response.status_code());
    if succeeded && audit::audited(route) && !ctx.audited {
        audit::after_change(&mut ctx, params, &mut response).await;
    }
    if params.has_port() {
        let port = params.port();
        if ctx.state.is_none() && ok && route.budget_state {
            if let Ok(view) = async { ctx.gate(port)?.view(None, false).await }.await {
                ctx.remember(&view.budget.budget, &view.load);
            }
        }
        if let Some(state) = &ctx.state {
            state.apply(&mut response);
        }
        if let Some(group) = &ctx.group_soft {
            crate::worker::budget_state::group_over_soft(&mut response, group);
        }
    }
    response
}

/// The caller, once it has shown a valid secret, the path's port is a
/// valid port id, and `auth` lets it call the route (an admin key's role;
/// its scope is judged next, by [`reach::check`]), with the port key it
/// presents, if any. A port key the isolate remembers for the path's port
/// is taken with no KV read, and returned unconfirmed
/// ([`crate::worker::port_key`]).
///
/// # Errors
/// 401, 400 `invalid-port`, 403; 503 when KV or D1 cannot be read.
async fn authorize(
    req: &Request,
    bindings: &Bindings,
    settings: &Settings,
    d1: &D1,
    now: DateTime<Utc>,
    auth: Auth,
    params: &Params,
) -> Result<(Caller, Option<PresentedKey>), ApiError> {
    if let (Auth::Port(_), true, Some(secret)) = (auth, params.has_port(), presented_secret(req)) {
        if let Some((caller, key)) = port_key::remembered(&secret, params.port()) {
            return Ok((caller, Some(key)));
        }
    }
    let admin_token = bindings.admin_token.as_deref();
    let caller = authenticate_api(req, admin_token, settings, d1, now).await?;
    if params.has_port() {
        input::port(params.port())?;
    }
    match (auth, &caller) {
        (Auth::Admin(_), _) => caller.must_be_admin()?,
        (Auth::Port(_), Caller::Port { .. }) => caller.may_use_port(params.port())?,
        (Auth::Port(_) | Auth::Caller | Auth::Open, _) => {}
    }
    let key = match (&caller, presented_secret(req)) {
        (Caller::Port { port, .. }, Some(secret)) => Some(PresentedKey::read(&secret, port)),
        _ => None,
    };
    Ok((caller, key))
}

/// The API's OpenAPI 3.1 document (`docs/openapi.json`), for anyone.
pub fn openapi() -> Response {
    const DOCUMENT: &str = include_str!("../../../docs/openapi.json");
    let mut response =
        Response::ok(DOCUMENT).unwrap_or_else(|_| Response::empty().expect("an empty response"));
    set(
        &mut response,
        "Content-Type",
        "application/json; charset=utf-8",
    );
    set(&mut response, "X-Content-Type-Options", "nosniff");
    set(&mut response, "Cache-Control", "public, max-age=300");
    response
}
