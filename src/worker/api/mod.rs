//! The HTTP API under `/v1` (see `docs/api.md`): the caller's right to a
//! route, the request's context, and one module per resource (the routes
//! themselves are the table in [`super::routes`]). Handlers parse strictly, and every budget
//! rule and every write is the port gate's ([`GateClient`]), one request to
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
//! - [`gateway_settings`]: a port's gateway settings (read, save with `If-Match`).

pub mod admin_keys;
pub mod alerts;
pub mod audit;
pub mod budgets;
pub mod credits;
pub mod gateway_settings;
pub mod group_alerts;
pub mod groups;
pub mod holds;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod ports;
pub mod prices;
pub mod reach;
pub mod reports;
pub mod usage;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Env, Method, Request, Response};

use super::auth::{authenticate_api, presented_secret};
use super::bindings::Bindings;
use super::budget_state::BudgetState;
use super::caller::Caller;
use super::clock::Clock;
use super::d1::{StoreError, D1};
use super::gate::GateClient;
use super::http::{set, ApiError};
use super::ids::random_id;
use super::input;
use super::port_key::{self, PresentedKey};
use super::routes::{Auth, Params, Route};
use super::settings::Settings;
use crate::gate::PortLoad;
use crate::Budget;

/// One request's context.
pub struct Ctx {
    /// The request's bindings (its clock and faults included).
    pub bindings: Bindings,
    /// The instant the request is answered at.
    pub now: DateTime<Utc>,
    /// Who calls.
    pub caller: Caller,
    /// KV: budgets as listed, port keys.
    pub settings: Settings,
    /// D1: the ledger of record, for reports.
    pub d1: D1,
    /// This request's id: a write it makes is known as its own on retries.
    pub write_id: String,
    /// The port's budget state, once a handler has measured it.
    state: Option<BudgetState>,
    /// The group above the port over its soft cap, as the port's gate
    /// answered.
    group_soft: Option<String>,
    /// The changed value before the change, as a handler read it, for the
    /// audit record (`null`: none, or not read).
    pub before: serde_json::Value,
    /// The changed value after, when the answer's body is not it (say it
    /// holds a secret); else the answer's body is recorded.
    pub after: Option<serde_json::Value>,
    /// The route as an audit record's action (`PUT /v1/ports/{port}/budget`).
    pub action: String,
    /// The handler wrote the change's audit record itself (in the change's
    /// own D1 batch).
    pub audited: bool,
    /// The port key the caller presents: the port's own object sees its
    /// hash on the request's first trip there; one the isolate remembered
    /// is confirmed by that trip, or by KV after the handler if none was
    /// made ([`crate::worker::port_key`]).
    key: Option<Rc<PresentedKey>>,
}

impl Ctx {
    /// The request's clock (to carry to work done later, such as a queued
    /// delivery).
    pub fn clock(&self) -> Clock {
        self.bindings.clock
    }

    /// The Worker's environment.
    pub fn env(&self) -> &Env {
        &self.bindings.env
    }

    /// `port`'s gate (reached with the caller's unconfirmed port key, if
    /// any: the gate refuses a revoked one before it does anything).
    pub fn gate(&self, port: &str) -> Result<GateClient, StoreError> {
        Ok(self.bindings.gate(port)?.presenting(self.key.clone()))
    }

    /// Remembers the port's budget state for the answer's headers.
    pub fn remember(&mut self, budget: &Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(*budget, load, self.now));
    }

    /// Remembers the state a change of the port's gate answered: its
    /// budget and load, and a group above it over its soft cap.
    pub fn remember_answer<T>(&mut self, answer: &crate::worker::gate::protocol::Answered<T>) {
        self.remember(&answer.budget.budget, &answer.load);
        self.group_soft.clone_from(&answer.group_soft);
    }
}

/// Answers an API route's request (its method chosen by the front door):
/// the stores, the caller and its right to the route (an admin key's role
/// and scope), then the handler, then the audit record of an admin change
/// that succeeded. Every successful answer about a port carries its budget
/// state; errors carry it when the handler had measured it.
pub async fn serve(
    req: &mut Request,
    bindings: Bindings,
    route: &Route,
    handler: super::routes::ApiHandler,
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

/// True when the request asks for CSV (`format=csv`, or `Accept:
/// text/csv`).
pub fn wants_csv(req: &Request) -> bool {
    query(req, "format").as_deref() == Some("csv")
        || req
            .headers()
            .get("Accept")
            .ok()
            .flatten()
            .is_some_and(|a| a.contains("text/csv"))
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

/// A query parameter of the request URL.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
