//! The HTTP API under `/v1` (see `docs/api.md`): routing, methods, auth,
//! and one module per resource. Handlers parse strictly, and every budget
//! rule and every write is the port gate's ([`GateClient`]), one request to
//! the port's object; reports read the ledger of record (D1).
//!
//! - [`budgets`]: a port's budget (read, partial update with `If-Match`).
//! - [`holds`]: check, reservations (hold, commit, release, list).
//! - [`usage`]: usage writes and the period's usage.
//! - [`reports`]: breakdown, ledger (JSON and CSV), status.
//! - [`ports`]: the port list. [`keys`]: port keys.
//! - [`prices`]: the price table (read; set and delete a model's price).
//! - [`alerts`]: thresholds, webhook endpoints, deliveries (admin).

pub mod alerts;
pub mod budgets;
pub mod holds;
pub mod json;
pub mod keys;
pub mod ports;
pub mod prices;
pub mod reports;
pub mod usage;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Env, Method, Request, Response};

use super::auth::{authenticate, Caller};
use super::clock::Clock;
use super::d1::{StoreError, D1};
use super::fault::Faults;
use super::gate::GateClient;
use super::http::{
    discard_body, known_method, method_not_allowed, options_response, set, without_body, ApiError,
    BudgetState,
};
use super::ids::random_id;
use super::input;
use super::settings::Settings;
use crate::gate::PortLoad;
use crate::Budget;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Ports,
    Prices,
    Price(String),
    Budget(String),
    Check(String),
    Reservations(String),
    Reservation(String, String),
    Commit(String, String),
    Release(String, String),
    Usage(String),
    Breakdown(String),
    Ledger(String),
    Status(String),
    Keys(String),
    Key(String, String),
    DefaultAlerts,
    DefaultAlertRotate,
    Alerts(String),
    AlertRotate(String),
    AlertTest(String),
    AlertDeliveries(String),
    AlertResend(String, String),
}

impl Route {
    /// The route of a path, if any.
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let own = |s: &str| s.to_owned();
        Some(match segments.as_slice() {
            ["v1", "ports"] => Route::Ports,
            ["v1", "prices"] => Route::Prices,
            ["v1", "prices", model] => Route::Price(own(model)),
            ["v1", "alerts"] => Route::DefaultAlerts,
            ["v1", "alerts", "rotate"] => Route::DefaultAlertRotate,
            ["v1", "ports", port, rest @ ..] => match rest {
                ["budget"] => Route::Budget(own(port)),
                ["check"] => Route::Check(own(port)),
                ["reservations"] => Route::Reservations(own(port)),
                ["reservations", id] => Route::Reservation(own(port), own(id)),
                ["reservations", id, "commit"] => Route::Commit(own(port), own(id)),
                ["reservations", id, "release"] => Route::Release(own(port), own(id)),
                ["usage"] => Route::Usage(own(port)),
                ["breakdown"] => Route::Breakdown(own(port)),
                ["ledger"] => Route::Ledger(own(port)),
                ["status"] => Route::Status(own(port)),
                ["keys"] => Route::Keys(own(port)),
                ["keys", id] => Route::Key(own(port), own(id)),
                ["alerts"] => Route::Alerts(own(port)),
                ["alerts", "test"] => Route::AlertTest(own(port)),
                ["alerts", "rotate"] => Route::AlertRotate(own(port)),
                ["alerts", "deliveries"] => Route::AlertDeliveries(own(port)),
                ["alerts", "deliveries", id, "resend"] => Route::AlertResend(own(port), own(id)),
                // The gateway's paths never reach this router: the fetch
                // entry hands them to `super::gateway` first.
                _ => return None,
            },
            _ => return None,
        })
    }

    fn port(&self) -> Option<&str> {
        match self {
            Route::Ports
            | Route::Prices
            | Route::Price(_)
            | Route::DefaultAlerts
            | Route::DefaultAlertRotate => None,
            Route::Budget(p)
            | Route::Check(p)
            | Route::Reservations(p)
            | Route::Reservation(p, _)
            | Route::Commit(p, _)
            | Route::Release(p, _)
            | Route::Usage(p)
            | Route::Breakdown(p)
            | Route::Ledger(p)
            | Route::Status(p)
            | Route::Keys(p)
            | Route::Key(p, _)
            | Route::Alerts(p)
            | Route::AlertTest(p)
            | Route::AlertRotate(p)
            | Route::AlertDeliveries(p)
            | Route::AlertResend(p, _) => Some(p),
        }
    }

    /// The methods the route answers (GET implies HEAD).
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Price(_) => &[Method::Get, Method::Put, Method::Delete],
            Route::Budget(_) | Route::Alerts(_) | Route::DefaultAlerts => {
                &[Method::Get, Method::Put]
            }
            Route::AlertTest(_)
            | Route::AlertRotate(_)
            | Route::DefaultAlertRotate
            | Route::AlertResend(..) => &[Method::Post],
            Route::Usage(_) | Route::Keys(_) | Route::Reservations(_) => {
                &[Method::Get, Method::Post]
            }
            Route::Check(_) | Route::Commit(..) | Route::Release(..) => &[Method::Post],
            Route::Key(..) => &[Method::Delete],
            Route::Ports
            | Route::Prices
            | Route::Breakdown(_)
            | Route::Ledger(_)
            | Route::Status(_)
            | Route::AlertDeliveries(_)
            | Route::Reservation(..) => &[Method::Get],
        }
    }

    /// True when only the admin may call it with `method`.
    fn admin_only(&self, method: &Method) -> bool {
        match self {
            Route::Ports
            | Route::Keys(_)
            | Route::Key(..)
            | Route::DefaultAlerts
            | Route::DefaultAlertRotate
            | Route::Alerts(_)
            | Route::AlertTest(_)
            | Route::AlertRotate(_)
            | Route::AlertDeliveries(_)
            | Route::AlertResend(..) => true,
            Route::Budget(_) => *method == Method::Put,
            Route::Price(_) => *method != Method::Get,
            _ => false,
        }
    }
}

/// One request's context.
pub struct Ctx {
    env: Env,
    clock: Clock,
    /// The instant the request is answered at.
    pub now: DateTime<Utc>,
    /// Who calls.
    pub caller: Caller,
    faults_header: Option<String>,
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
        self.clock
    }

    /// `port`'s gate.
    pub fn gate(&self, port: &str) -> Result<GateClient, StoreError> {
        GateClient::new(&self.env, port, self.clock, self.faults_header.clone())
    }

    /// Remembers the port's budget state for the answer's headers.
    pub fn remember(&mut self, budget: &Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(*budget, load, self.now));
    }
}

/// Answers one request. A body no handler read (an early refusal) is
/// drained first, so the client's keep-alive connection survives it.
pub async fn handle(mut req: Request, env: Env, clock: Clock) -> Response {
    let response = answer(&mut req, env, clock).await;
    discard_body(&mut req).await;
    response
}

async fn answer(req: &mut Request, env: Env, clock: Clock) -> Response {
    let path = req.path();
    if path.trim_end_matches('/') == "/v1/openapi.json" {
        return openapi(req);
    }
    let Some(route) = Route::parse(&path) else {
        return ApiError::not_found(format!("no route for {path}")).into_response();
    };
    let (method, head) = match known_method(req) {
        Some(Method::Options) => return options_response(route.methods()),
        Some(Method::Head) if route.methods().contains(&Method::Get) => (Method::Get, true),
        Some(m) if route.methods().contains(&m) => (m, false),
        _ => return method_not_allowed(&path, route.methods()).into_response(),
    };
    let response = serve(req, env, clock, &route, &method).await;
    if head {
        without_body(response)
    } else {
        response
    }
}

async fn serve(
    req: &mut Request,
    env: Env,
    clock: Clock,
    route: &Route,
    method: &Method,
) -> Response {
    let seams = super::test_seams_on(&env);
    let faults_header = req
        .headers()
        .get("x-fault")
        .ok()
        .flatten()
        .filter(|_| seams);
    let faults = Rc::new(Faults::from_header(seams, faults_header.clone()));
    let (db, kv) = match (env.d1("DB"), env.kv("BUDGETS")) {
        (Ok(db), Ok(kv)) => (db, kv),
        _ => {
            worker::console_error!("the DB or BUDGETS binding is missing");
            return ApiError::new(500, "internal", "the Worker is misconfigured").into_response();
        }
    };
    let settings = Settings::new(kv, faults.clone());
    let admin_token = env
        .secret("ADMIN_TOKEN")
        .map(|s| s.to_string())
        .or_else(|_| env.var("ADMIN_TOKEN").map(|v| v.to_string()))
        .ok();
    let caller = match authenticate(req, admin_token.as_deref(), &settings).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Some(port) = route.port() {
        if let Err(e) = input::port(port) {
            return e.into_response();
        }
    }
    let authorized = if route.admin_only(method) {
        caller.must_be_admin()
    } else {
        route
            .port()
            .map_or(Ok(()), |port| caller.may_use_port(port))
    };
    if let Err(e) = authorized {
        return e.into_response();
    }

    let mut ctx = Ctx {
        d1: D1::new(db, faults),
        env,
        clock,
        now: clock.now(),
        caller,
        faults_header,
        settings,
        write_id: random_id("w_"),
        state: None,
    };
    let result = dispatch(&mut ctx, route, method, req).await;
    let ok = result.is_ok();
    let mut response = result.unwrap_or_else(ApiError::into_response);
    if let Some(port) = route.port() {
        // Every successful answer about a port carries its budget state;
        // errors carry it when the handler had measured it.
        if ctx.state.is_none() && ok && !matches!(route, Route::Keys(_) | Route::Key(..)) {
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

async fn dispatch(
    ctx: &mut Ctx,
    route: &Route,
    method: &Method,
    req: &mut Request,
) -> Result<Response, ApiError> {
    match (route, method) {
        (Route::Ports, _) => ports::list(ctx).await,
        (Route::Prices, _) => prices::list(ctx).await,
        (Route::Price(model), Method::Get) => prices::get(ctx, &prices::model_id(model)?).await,
        (Route::Price(model), Method::Put) => {
            prices::put(ctx, &prices::model_id(model)?, req).await
        }
        (Route::Price(model), _) => prices::delete(ctx, &prices::model_id(model)?).await,
        (Route::Budget(port), Method::Get) => budgets::get(ctx, port).await,
        (Route::Budget(port), _) => budgets::put(ctx, port, req).await,
        (Route::Check(port), _) => holds::check(ctx, port, req).await,
        (Route::Reservations(port), Method::Get) => holds::list(ctx, port, req).await,
        (Route::Reservations(port), _) => holds::reserve(ctx, port, req).await,
        (Route::Reservation(port, id), _) => holds::get(ctx, port, id).await,
        (Route::Commit(port, id), _) => holds::commit(ctx, port, id, req).await,
        (Route::Release(port, id), _) => holds::release(ctx, port, id).await,
        (Route::Usage(port), Method::Post) => usage::record(ctx, port, req).await,
        (Route::Usage(port), _) => usage::get(ctx, port, req).await,
        (Route::Breakdown(port), _) => reports::breakdown(ctx, port).await,
        (Route::Ledger(port), _) => reports::ledger(ctx, port, req).await,
        (Route::Status(port), _) => reports::status(ctx, port).await,
        (Route::Keys(port), Method::Get) => keys::list(ctx, port).await,
        (Route::Keys(port), _) => keys::issue(ctx, port).await,
        (Route::Key(port, id), _) => keys::revoke(ctx, port, id).await,
        (Route::DefaultAlerts, Method::Get) => alerts::get_default(ctx).await,
        (Route::DefaultAlerts, _) => alerts::put_default(ctx, req).await,
        (Route::Alerts(port), Method::Get) => alerts::get(ctx, port).await,
        (Route::Alerts(port), _) => alerts::put(ctx, port, req).await,
        (Route::AlertTest(port), _) => alerts::test(ctx, port).await,
        (Route::AlertRotate(port), _) => alerts::rotate(ctx, Some(port), req).await,
        (Route::DefaultAlertRotate, _) => alerts::rotate(ctx, None, req).await,
        (Route::AlertDeliveries(port), _) => alerts::deliveries(ctx, port, req).await,
        (Route::AlertResend(port, id), _) => alerts::resend(ctx, port, id).await,
    }
}

/// The API's OpenAPI 3.1 document (`docs/openapi.json`), for anyone: `GET`
/// and `HEAD`, `OPTIONS`, else 405.
fn openapi(req: &Request) -> Response {
    const DOCUMENT: &str = include_str!("../../../docs/openapi.json");
    const METHODS: &[Method] = &[Method::Get];
    match known_method(req) {
        Some(Method::Options) => options_response(METHODS),
        Some(Method::Get) | Some(Method::Head) => {
            let mut response = Response::ok(DOCUMENT)
                .unwrap_or_else(|_| Response::empty().expect("an empty response"));
            set(
                &mut response,
                "Content-Type",
                "application/json; charset=utf-8",
            );
            set(&mut response, "X-Content-Type-Options", "nosniff");
            set(&mut response, "Cache-Control", "public, max-age=300");
            if known_method(req) == Some(Method::Head) {
                without_body(response)
            } else {
                response
            }
        }
        _ => method_not_allowed("/v1/openapi.json", METHODS).into_response(),
    }
}

/// A query parameter of the request URL.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
