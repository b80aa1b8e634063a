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
//! - [`gateway_settings`]: a port's gateway settings (read, save with `If-Match`).

pub mod alerts;
pub mod budgets;
pub mod credits;
pub mod gateway_settings;
pub mod groups;
pub mod holds;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod ports;
pub mod prices;
pub mod reports;
pub mod usage;

use chrono::{DateTime, Utc};
use worker::{Env, Request, Response};

use super::auth::{authenticate, Caller};
use super::bindings::Bindings;
use super::budget_state::BudgetState;
use super::clock::Clock;
use super::d1::{StoreError, D1};
use super::gate::GateClient;
use super::http::{set, ApiError};
use super::ids::random_id;
use super::input;
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

    /// `port`'s gate.
    pub fn gate(&self, port: &str) -> Result<GateClient, StoreError> {
        self.bindings.gate(port)
    }

    /// Remembers the port's budget state for the answer's headers.
    pub fn remember(&mut self, budget: &Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(*budget, load, self.now));
    }
}

/// Answers an API route's request (its method chosen by the front door):
/// the stores, the caller and its right to the route, then the handler.
/// Every successful answer about a port carries its budget state; errors
/// carry it when the handler had measured it.
pub async fn serve(
    req: &mut Request,
    bindings: Bindings,
    route: &Route,
    handler: super::routes::ApiHandler,
    params: &Params,
) -> Response {
    let (d1, settings) = match (bindings.d1(), bindings.settings()) {
        (Ok(d1), Ok(settings)) => (d1, settings),
        _ => {
            worker::console_error!("the DB or BUDGETS binding is missing");
            return ApiError::new(500, "internal", "the Worker is misconfigured").into_response();
        }
    };
    let caller = match authorize(req, &bindings, &settings, route.auth, params).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let now = bindings.clock.now();
    let mut ctx = Ctx {
        bindings,
        now,
        caller,
        settings,
        d1,
        write_id: random_id("w_"),
        state: None,
    };
    let result = handler(&mut ctx, params, req).await;
    let ok = result.is_ok();
    let mut response = result.unwrap_or_else(ApiError::into_response);
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
    }
    response
}

/// The caller, once it has shown a valid secret, the path's port is a
/// valid port id, and `auth` lets it call the route.
///
/// # Errors
/// 401, 400 `invalid-port`, 403; 503 when KV cannot be read.
async fn authorize(
    req: &Request,
    bindings: &Bindings,
    settings: &Settings,
    auth: Auth,
    params: &Params,
) -> Result<Caller, ApiError> {
    let caller = authenticate(req, bindings.admin_token.as_deref(), settings).await?;
    if params.has_port() {
        input::port(params.port())?;
    }
    match auth {
        Auth::Admin => caller.must_be_admin()?,
        Auth::Port => caller.may_use_port(params.port())?,
        Auth::Caller | Auth::Open => {}
    }
    Ok(caller)
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
