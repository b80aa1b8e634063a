//! The HTTP API under `/v1` (see `docs/api.md`): routing, auth, and one
//! handler per route. Handlers parse strictly, ask the core for every
//! budget rule, and let the store do every write atomically.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};
use worker::{Env, Method, Request, Response};

use super::auth::{authenticate, Caller};
use super::fault::Faults;
use super::http::{
    csv_field, csv_response, discard_body, json_response, known_method, method_not_allowed,
    options_response, read_json, refusal, set, without_body, ApiError, BudgetState,
};
use super::input;
use super::settings::{iso, Settings, StoredBudget};
use super::store::{
    fingerprint, random_id, CallUsage, CommitOutcome, HoldRequest, LedgerEntry, PortLoad,
    RecordOutcome, ReleaseOutcome, Reservation, ReservationState, ReserveOutcome, Store,
    StoreError,
};
use crate::{cap_status, evaluate, Budget, Decision, Period, PeriodWindow, RawBudget};

/// Default and largest hold lifetime, seconds.
const DEFAULT_TTL_SECONDS: u64 = 300;
const MAX_TTL_SECONDS: u64 = 3600;
/// Ledger page sizes.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Ports,
    Budget(String),
    Check(String),
    Reservations(String),
    Commit(String, String),
    Release(String, String),
    Usage(String),
    Breakdown(String),
    Ledger(String),
    Status(String),
    Keys(String),
    Key(String, String),
}

impl Route {
    /// The route of a path, if any.
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let own = |s: &str| s.to_owned();
        Some(match segments.as_slice() {
            ["v1", "ports"] => Route::Ports,
            ["v1", "ports", port, rest @ ..] => match rest {
                ["budget"] => Route::Budget(own(port)),
                ["check"] => Route::Check(own(port)),
                ["reservations"] => Route::Reservations(own(port)),
                ["reservations", id, "commit"] => Route::Commit(own(port), own(id)),
                ["reservations", id, "release"] => Route::Release(own(port), own(id)),
                ["usage"] => Route::Usage(own(port)),
                ["breakdown"] => Route::Breakdown(own(port)),
                ["ledger"] => Route::Ledger(own(port)),
                ["status"] => Route::Status(own(port)),
                ["keys"] => Route::Keys(own(port)),
                ["keys", id] => Route::Key(own(port), own(id)),
                // The gateway's paths never reach this router: the fetch
                // entry hands them to `super::gateway` first.
                _ => return None,
            },
            _ => return None,
        })
    }

    fn port(&self) -> Option<&str> {
        match self {
            Route::Ports => None,
            Route::Budget(p)
            | Route::Check(p)
            | Route::Reservations(p)
            | Route::Commit(p, _)
            | Route::Release(p, _)
            | Route::Usage(p)
            | Route::Breakdown(p)
            | Route::Ledger(p)
            | Route::Status(p)
            | Route::Keys(p)
            | Route::Key(p, _) => Some(p),
        }
    }

    /// The methods the route answers.
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Budget(_) => &[Method::Get, Method::Put],
            Route::Usage(_) | Route::Keys(_) => &[Method::Get, Method::Post],
            Route::Check(_) | Route::Reservations(_) | Route::Commit(..) | Route::Release(..) => {
                &[Method::Post]
            }
            Route::Key(..) => &[Method::Delete],
            Route::Ports | Route::Breakdown(_) | Route::Ledger(_) | Route::Status(_) => {
                &[Method::Get]
            }
        }
    }

    /// True when only the admin may call it with `method`.
    fn admin_only(&self, method: &Method) -> bool {
        match self {
            Route::Ports | Route::Keys(_) | Route::Key(..) => true,
            Route::Budget(_) => *method == Method::Put,
            _ => false,
        }
    }
}

/// One request's context.
struct Ctx {
    store: Store,
    settings: Settings,
    now: DateTime<Utc>,
    caller: Caller,
    /// The port's budget state, once a handler has measured it.
    state: Option<BudgetState>,
    /// The port's budget, once read (one KV read per request).
    budget: Option<StoredBudget>,
}

impl Ctx {
    /// `port`'s budget, read from KV once per request.
    async fn budget(&mut self, port: &str) -> Result<StoredBudget, StoreError> {
        if let Some(stored) = &self.budget {
            return Ok(stored.clone());
        }
        let stored = self.settings.budget(port).await?;
        self.budget = Some(stored.clone());
        Ok(stored)
    }

    fn remember(&mut self, budget: Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(budget, load, self.now));
    }
}

/// Answers one request. A body no handler read (an early refusal) is
/// drained first, so the client's keep-alive connection survives it.
pub async fn handle(mut req: Request, env: Env, now: DateTime<Utc>) -> Response {
    let response = answer(&mut req, env, now).await;
    discard_body(&mut req).await;
    response
}

async fn answer(req: &mut Request, env: Env, now: DateTime<Utc>) -> Response {
    let path = req.path();
    let Some(route) = Route::parse(&path) else {
        return ApiError::not_found(format!("no route for {path}")).into_response();
    };
    let (method, head) = match known_method(req) {
        Some(Method::Options) => return options_response(route.methods()),
        Some(Method::Head) if route.methods().contains(&Method::Get) => (Method::Get, true),
        Some(m) if route.methods().contains(&m) => (m, false),
        _ => return method_not_allowed(&path, route.methods()).into_response(),
    };
    let response = serve(req, env, now, &route, &method).await;
    if head {
        without_body(response)
    } else {
        response
    }
}

async fn serve(
    req: &mut Request,
    env: Env,
    now: DateTime<Utc>,
    route: &Route,
    method: &Method,
) -> Response {
    let faults_on = super::test_seams_on(&env);
    let faults = Rc::new(Faults::from_header(
        faults_on,
        req.headers().get("x-fault").ok().flatten(),
    ));
    let (db, kv) = match (env.d1("DB"), env.kv("BUDGETS")) {
        (Ok(db), Ok(kv)) => (db, kv),
        _ => {
            worker::console_error!("the DB or BUDGETS binding is missing");
            return ApiError::new(500, "internal", "the Worker is misconfigured").into_response();
        }
    };
    let store = Store::new(db, faults.clone());
    let settings = Settings::new(kv, faults);
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
        store,
        settings,
        now,
        caller,
        state: None,
        budget: None,
    };
    let result = dispatch(&mut ctx, route, method, req).await;
    let ok = result.is_ok();
    let mut response = result.unwrap_or_else(ApiError::into_response);
    if let Some(port) = route.port() {
        // Every successful answer about a port carries its budget state;
        // errors carry it when the handler had measured it.
        if ctx.state.is_none() && ok && !matches!(route, Route::Keys(_) | Route::Key(..)) {
            if let Ok(budget) = ctx.budget(port).await {
                let window = budget.budget.period.window(now);
                if let Ok(load) = ctx.store.load(port, &window, None).await {
                    ctx.remember(budget.budget, &load);
                }
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
        (Route::Ports, _) => list_ports(ctx).await,
        (Route::Budget(port), Method::Get) => get_budget(ctx, port).await,
        (Route::Budget(port), _) => put_budget(ctx, port, req).await,
        (Route::Check(port), _) => check(ctx, port, req).await,
        (Route::Reservations(port), _) => reserve(ctx, port, req).await,
        (Route::Commit(port, id), _) => commit(ctx, port, id, req).await,
        (Route::Release(port, id), _) => release(ctx, port, id).await,
        (Route::Usage(port), Method::Post) => record_usage(ctx, port, req).await,
        (Route::Usage(port), _) => get_usage(ctx, port, req).await,
        (Route::Breakdown(port), _) => breakdown(ctx, port).await,
        (Route::Ledger(port), _) => ledger(ctx, port, req).await,
        (Route::Status(port), _) => status(ctx, port).await,
        (Route::Keys(port), Method::Get) => list_keys(ctx, port).await,
        (Route::Keys(port), _) => issue_key(ctx, port).await,
        (Route::Key(port, id), _) => revoke_key(ctx, port, id).await,
    }
}

// ---------------------------------------------------------------- JSON shapes

fn remaining_json(budget: &Budget, gate_tokens: u64) -> Value {
    if budget.enabled {
        budget.hard_cap_tokens.saturating_sub(gate_tokens).into()
    } else {
        Value::Null
    }
}

fn reservation_json(r: &Reservation) -> Value {
    json!({
        "id": r.id,
        "port": r.port,
        "requestId": r.request_id,
        "feature": r.feature,
        "estimatedTokens": r.estimated_tokens,
        "state": r.state.as_str(),
        "actualTokens": r.actual_tokens,
        "createdAt": iso(r.created_at),
        "expiresAt": iso(r.expires_at),
        "settledAt": r.settled_at.map(iso),
    })
}

fn entry_json(e: &LedgerEntry) -> Value {
    json!({
        "id": e.id,
        "portId": e.port,
        "userId": e.user_id,
        "feature": e.feature,
        "provider": e.provider,
        "model": e.model,
        "inputTokens": e.input_tokens,
        "outputTokens": e.output_tokens,
        "totalTokens": e.total_tokens,
        "requestId": e.request_id,
        "reservationId": e.reservation_id,
        "estimated": e.estimated,
        "createdAt": iso(e.created_at),
    })
}

fn load_json(load: &PortLoad) -> Value {
    json!({
        "usedTokens": load.used_tokens,
        "calls": load.calls,
        "heldTokens": load.held_tokens,
        "expiredHoldTokens": load.expired_tokens,
        "gateTokens": load.gate_tokens(),
    })
}

fn decision_json(decision: &Decision) -> Value {
    match decision {
        Decision::Allowed {
            remaining,
            used_tokens,
            soft_cap,
            window,
        } => json!({
            "ok": true,
            "remaining": remaining,
            "usedTokens": used_tokens,
            "softCap": soft_cap,
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
        }),
        Decision::Refused {
            reason,
            used_tokens,
            cap_tokens,
            window,
        } => json!({
            "ok": false,
            "reason": reason.as_str(),
            "usedTokens": used_tokens,
            "capTokens": cap_tokens,
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
        }),
    }
}

/// A load with the window it was counted over.
fn period_load_json(load: &PortLoad, window: &PeriodWindow) -> Value {
    let mut body = load_json(load);
    body["periodStart"] = iso(window.start).into();
    body["resetsAt"] = iso(window.end).into();
    body
}

fn cap_status_json(budget: &Budget, gate_tokens: u64, now: DateTime<Utc>) -> Value {
    let status = cap_status(budget, gate_tokens, now);
    json!({
        "state": status.state.as_str(),
        "usedTokens": status.used_tokens,
        "softCapTokens": status.soft_cap_tokens,
        "hardCapTokens": status.hard_cap_tokens,
        "softPercent": status.soft_percent,
        "hardPercent": status.hard_percent,
        "remaining": status.remaining,
        "periodStart": iso(status.window.start),
        "resetsAt": iso(status.window.end),
    })
}

fn replayed(mut response: Response, replayed: bool) -> Response {
    if replayed {
        set(&mut response, "Idempotent-Replayed", "true");
    }
    response
}

// ---------------------------------------------------------------- handlers

/// A budget answer, with its `updatedAt` as the `ETag` (for `If-Match`).
fn budget_response(port: &str, stored: &StoredBudget) -> Response {
    let mut body = stored.json();
    body["port"] = port.into();
    let mut response = json_response(200, &body);
    if let Some(at) = &stored.updated_at {
        set(&mut response, "ETag", &format!("\"{at}\""));
    }
    response
}

async fn get_budget(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let stored = ctx.budget(port).await?;
    Ok(budget_response(port, &stored))
}

/// A partial update. KV has no compare-and-swap, so two concurrent partial
/// updates could each merge over the same old value and one lose fields:
/// a client that cares sends `If-Match: <updatedAt>` and gets 412 when the
/// budget changed since it read it. `{}` changes nothing (not even
/// `updatedAt`).
async fn put_budget(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let empty = body.as_object().is_some_and(|fields| fields.is_empty());
    let update: RawBudget = serde_json::from_value(body)
        .map_err(|e| ApiError::new(400, "invalid-json", e.to_string()))?;
    let current = ctx.budget(port).await?;
    if let Some(expected) = req.headers().get("If-Match").ok().flatten() {
        let expected = expected.trim();
        let matches = expected == "*"
            || current
                .updated_at
                .as_deref()
                .is_some_and(|at| expected.trim_matches('"') == at);
        if !matches {
            return Err(ApiError {
                extra: Some(json!({ "budget": current.json() })),
                ..ApiError::new(
                    412,
                    "precondition-failed",
                    "the budget changed since the If-Match value was read; read it again and retry",
                )
            });
        }
    }
    if empty {
        return Ok(budget_response(port, &current));
    }
    let next = current.budget.merge(&update)?;
    let saved = ctx
        .settings
        .save_budget(port, next, &ctx.caller.actor(), ctx.now)
        .await?;
    // The gateway's few seconds of memory must not outlive a change made here.
    super::gateway::cache::forget_budget(port);
    ctx.budget = Some(saved.clone());
    Ok(budget_response(port, &saved))
}

async fn check(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["estimatedTokens", "feature"])?;
    let estimated = input::tokens(map, "estimatedTokens", true)?.unwrap_or(0);
    input::text(map, "feature", false, 64)?;
    let budget = ctx.budget(port).await?.budget;
    let window = budget.period.window(ctx.now);
    let load = ctx.store.load(port, &window, None).await?;
    ctx.remember(budget, &load);
    let decision = evaluate(&budget, load.gate_tokens(), estimated, ctx.now);
    let mut answer = decision_json(&decision);
    answer["heldTokens"] = load.held_tokens.into();
    Ok(json_response(200, &answer))
}

async fn reserve(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(
        &body,
        &["estimatedTokens", "feature", "requestId", "ttlSeconds"],
    )?;
    let estimated_tokens = input::tokens(map, "estimatedTokens", true)?.unwrap_or(0);
    let feature = input::text(map, "feature", false, 64)?.unwrap_or_else(|| "default".into());
    let request_id = input::request_id(map, "requestId")?;
    let ttl_seconds =
        input::whole(map, "ttlSeconds", 1..=MAX_TTL_SECONDS)?.unwrap_or(DEFAULT_TTL_SECONDS);
    let budget = ctx.budget(port).await?.budget;
    let hold = HoldRequest {
        estimated_tokens,
        body_hash: fingerprint(&json!({
            "estimatedTokens": estimated_tokens,
            "feature": feature,
            "ttlSeconds": ttl_seconds,
        })),
        feature,
        request_id: request_id.unwrap_or_else(|| random_id("req_")),
        ttl_seconds,
    };
    match ctx.store.reserve(port, &budget, &hold, ctx.now).await? {
        ReserveOutcome::Held {
            reservation,
            load,
            replayed: again,
        } => {
            ctx.remember(budget, &load);
            let mut body = reservation_json(&reservation);
            body["remaining"] = remaining_json(&budget, load.gate_tokens());
            body["usage"] = load_json(&load);
            body["resetsAt"] = iso(budget.period.window(ctx.now).end).into();
            Ok(replayed(json_response(201, &body), again))
        }
        ReserveOutcome::Refused { decision, load } => {
            ctx.remember(budget, &load);
            Err(refusal(&decision, ctx.now))
        }
        ReserveOutcome::Conflict { existing, load } => {
            ctx.remember(budget, &load);
            Err(ApiError {
                extra: Some(json!({ "reservation": reservation_json(&existing) })),
                ..ApiError::conflict(
                    "request-id-conflict",
                    "this requestId was used for another reservation with a different body",
                )
            })
        }
    }
}

/// Reads the usage fields of a commit or a usage write.
fn call_usage(
    map: &serde_json::Map<String, Value>,
    feature_required: bool,
) -> Result<CallUsage, ApiError> {
    let input_tokens = input::tokens(map, "inputTokens", true)?.unwrap_or(0);
    let output_tokens = input::tokens(map, "outputTokens", true)?.unwrap_or(0);
    if input_tokens.saturating_add(output_tokens) > crate::MAX_TOKENS {
        return Err(ApiError::bad_field(
            "too-many-tokens",
            "outputTokens",
            format!(
                "inputTokens + outputTokens must be at most {}",
                crate::MAX_TOKENS
            ),
        ));
    }
    Ok(CallUsage {
        feature: input::text(map, "feature", feature_required, 64)?,
        provider: input::text(map, "provider", true, 64)?.unwrap_or_default(),
        model: input::text(map, "model", true, 128)?.unwrap_or_default(),
        user_id: input::text(map, "userId", false, 128)?,
        input_tokens,
        output_tokens,
    })
}

fn usage_fingerprint(usage: &CallUsage, occurred_at: Option<DateTime<Utc>>) -> String {
    fingerprint(&json!({
        "feature": usage.feature,
        "provider": usage.provider,
        "model": usage.model,
        "userId": usage.user_id,
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "occurredAt": occurred_at.map(iso),
    }))
}

async fn commit(
    ctx: &mut Ctx,
    port: &str,
    id: &str,
    req: &mut Request,
) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(
        &body,
        &[
            "inputTokens",
            "outputTokens",
            "provider",
            "model",
            "feature",
            "userId",
        ],
    )?;
    let usage = call_usage(map, false)?;
    let budget = ctx.budget(port).await?.budget;
    let hash = usage_fingerprint(&usage, None);
    match ctx
        .store
        .commit(port, id, &usage, &hash, &budget, ctx.now)
        .await?
    {
        CommitOutcome::Committed {
            reservation,
            entry,
            load,
            replayed: again,
        } => {
            ctx.remember(budget, &load);
            let body = json!({
                "reservation": reservation_json(&reservation),
                "entry": entry_json(&entry),
                "usage": load_json(&load),
                "remaining": remaining_json(&budget, load.gate_tokens()),
            });
            Ok(replayed(json_response(200, &body), again))
        }
        CommitOutcome::NotFound => Err(ApiError::new(
            404,
            "reservation-not-found",
            format!("port {port} has no reservation {id}"),
        )),
        CommitOutcome::Conflict { reservation, load } => {
            ctx.remember(budget, &load);
            let (code, message) = match reservation.state {
                ReservationState::Released => (
                    "reservation-released",
                    "the reservation was released; record the usage with POST .../usage instead",
                ),
                ReservationState::Committed => (
                    "request-id-conflict",
                    "the reservation was already committed with different usage",
                ),
                _ => (
                    "request-id-conflict",
                    "the reservation's requestId was already counted by another usage write",
                ),
            };
            Err(ApiError {
                extra: Some(json!({ "reservation": reservation_json(&reservation) })),
                ..ApiError::conflict(code, message)
            })
        }
    }
}

async fn release(ctx: &mut Ctx, port: &str, id: &str) -> Result<Response, ApiError> {
    let budget = ctx.budget(port).await?.budget;
    match ctx.store.release(port, id, &budget, ctx.now).await? {
        ReleaseOutcome::Released { reservation, load } => {
            ctx.remember(budget, &load);
            let body = json!({
                "reservation": reservation_json(&reservation),
                "usage": load_json(&load),
                "remaining": remaining_json(&budget, load.gate_tokens()),
            });
            Ok(json_response(200, &body))
        }
        ReleaseOutcome::NotFound => Err(ApiError::new(
            404,
            "reservation-not-found",
            format!("port {port} has no reservation {id}"),
        )),
        ReleaseOutcome::Conflict { reservation, load } => {
            ctx.remember(budget, &load);
            let (code, message) = if reservation.state == ReservationState::Expired {
                (
                    "reservation-expired",
                    "the reservation expired and is charged as its estimate; commit the actual usage to correct it",
                )
            } else {
                (
                    "reservation-committed",
                    "the reservation was committed; it cannot be released",
                )
            };
            Err(ApiError {
                extra: Some(json!({ "reservation": reservation_json(&reservation) })),
                ..ApiError::conflict(code, message)
            })
        }
    }
}

async fn record_usage(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(
        &body,
        &[
            "feature",
            "provider",
            "model",
            "inputTokens",
            "outputTokens",
            "userId",
            "requestId",
            "occurredAt",
        ],
    )?;
    let usage = call_usage(map, true)?;
    let request_id = input::request_id(map, "requestId")?;
    let occurred_at = input::instant(map, "occurredAt")?;
    if occurred_at.is_some_and(|at| at > ctx.now) {
        return Err(ApiError::bad_field(
            "occurred-in-future",
            "occurredAt",
            "occurredAt must not be in the future",
        ));
    }
    let budget = ctx.budget(port).await?.budget;
    let hash = usage_fingerprint(&usage, occurred_at);
    let request_id = request_id.unwrap_or_else(|| random_id("req_"));
    match ctx
        .store
        .record(
            port,
            &usage,
            &request_id,
            &hash,
            occurred_at.unwrap_or(ctx.now),
            &budget,
            ctx.now,
        )
        .await?
    {
        RecordOutcome::Recorded {
            entry,
            load,
            replayed: again,
        } => {
            ctx.remember(budget, &load);
            let body = json!({
                "entry": entry_json(&entry),
                "usage": load_json(&load),
                "remaining": remaining_json(&budget, load.gate_tokens()),
            });
            Ok(replayed(json_response(201, &body), again))
        }
        RecordOutcome::Conflict { entry, load } => {
            ctx.remember(budget, &load);
            Err(ApiError {
                extra: Some(json!({ "entry": entry_json(&entry) })),
                ..ApiError::conflict(
                    "request-id-conflict",
                    "this requestId was already counted with a different body",
                )
            })
        }
    }
}

/// A query parameter of the request URL.
fn query(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn get_usage(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let feature = query(req, "feature");
    if let Some(f) = &feature {
        let map = serde_json::Map::from_iter([("feature".to_owned(), Value::from(f.clone()))]);
        input::text(&map, "feature", false, 64)?;
    }
    let budget = ctx.budget(port).await?.budget;
    let window = budget.period.window(ctx.now);
    let load = ctx.store.load(port, &window, feature.as_deref()).await?;
    let mut body = load_json(&load);
    body["port"] = port.into();
    body["feature"] = feature.clone().into();
    body["period"] = budget.period.as_str().into();
    body["periodStart"] = iso(window.start).into();
    body["resetsAt"] = iso(window.end).into();
    if feature.is_none() {
        ctx.remember(budget, &load);
    }
    Ok(json_response(200, &body))
}

async fn breakdown(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let budget = ctx.budget(port).await?.budget;
    let window = budget.period.window(ctx.now);
    let rows = ctx.store.breakdown(port, &window).await?;
    Ok(json_response(
        200,
        &json!({
            "port": port,
            "period": budget.period.as_str(),
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
            "breakdown": rows,
        }),
    ))
}

async fn ledger(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let limit = match query(req, "limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "invalid-value",
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let cursor = match query(req, "cursor") {
        None => None,
        Some(text) => Some(text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_field(
                "invalid-cursor",
                "cursor",
                "cursor must be a nextCursor from a previous page",
            )
        })?),
    };
    let csv = query(req, "format").as_deref() == Some("csv")
        || req
            .headers()
            .get("Accept")
            .ok()
            .flatten()
            .is_some_and(|a| a.contains("text/csv"));
    let rows = ctx.store.ledger_page(port, cursor, limit).await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    if csv {
        let mut text = String::from(
            "id,createdAt,portId,userId,feature,provider,model,inputTokens,outputTokens,totalTokens,requestId,reservationId,estimated\n",
        );
        for r in &rows {
            let fields = [
                r.id.to_string(),
                iso(r.created_at),
                r.port.clone(),
                r.user_id.clone().unwrap_or_default(),
                r.feature.clone(),
                r.provider.clone(),
                r.model.clone(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                r.total_tokens.to_string(),
                r.request_id.clone(),
                r.reservation_id.clone().unwrap_or_default(),
                u8::from(r.estimated).to_string(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            text.push_str(&line.join(","));
            text.push('\n');
        }
        let mut response = csv_response(text);
        if let Some(next) = &next {
            set(&mut response, "X-Next-Cursor", next);
        }
        return Ok(response);
    }
    Ok(json_response(
        200,
        &json!({
            "port": port,
            "rows": rows.iter().map(entry_json).collect::<Vec<_>>(),
            "nextCursor": next,
        }),
    ))
}

async fn status(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let stored = ctx.budget(port).await?;
    let budget = stored.budget;
    let window = budget.period.window(ctx.now);
    // What the gate would count under each period kind, so that a preview of
    // another period (the admin page's) uses the rollup's exact figures.
    let [day, week, month] = Period::ALL.map(|period| period.window(ctx.now));
    let (by_day, by_week, by_month, breakdown, daily, recent, open) = futures_util::try_join!(
        ctx.store.load(port, &day, None),
        ctx.store.load(port, &week, None),
        ctx.store.load(port, &month, None),
        ctx.store.breakdown(port, &window),
        ctx.store.daily(port, &window),
        ctx.store.ledger_page(port, None, 20),
        ctx.store.open_reservations(port),
    )?;
    // The budget's own period is one of the three: no fourth read.
    let load = match budget.period {
        Period::Day => by_day,
        Period::Week => by_week,
        Period::Month => by_month,
    };
    let keys = if ctx.caller == Caller::Admin {
        Some(ctx.settings.keys(port).await?)
    } else {
        None
    };
    ctx.remember(budget, &load);
    let body = json!({
        "port": port,
        "budget": stored.json(),
        "period": budget.period.as_str(),
        "periodStart": iso(window.start),
        "resetsAt": iso(window.end),
        "usage": load_json(&load),
        "usageByPeriod": {
            "day": period_load_json(&by_day, &day),
            "week": period_load_json(&by_week, &week),
            "month": period_load_json(&by_month, &month),
        },
        "capStatus": cap_status_json(&budget, load.gate_tokens(), ctx.now),
        "breakdown": breakdown,
        "daily": daily.iter().map(|d| json!({
            "date": d.day.format("%Y-%m-%d").to_string(),
            "tokens": d.tokens,
            "calls": d.calls,
        })).collect::<Vec<_>>(),
        "recentLedger": recent.iter().map(entry_json).collect::<Vec<_>>(),
        "reservations": open.iter().map(reservation_json).collect::<Vec<_>>(),
        "keys": keys.map(|keys| keys.iter().map(|k| json!({
            "keyId": k.key_id,
            "createdAt": k.created_at,
        })).collect::<Vec<_>>()),
    });
    Ok(json_response(200, &body))
}

async fn list_ports(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (saved, loads) = futures_util::try_join!(
        ctx.settings.budget_ports(),
        ctx.store.all_ports_load(ctx.now),
    )?;
    let mut budgets: std::collections::BTreeMap<String, Option<StoredBudget>> =
        saved.into_iter().collect();
    for port in loads
        .used
        .iter()
        .map(|(p, _, _)| p)
        .chain(loads.holds.iter().map(|(p, _)| p))
    {
        budgets.entry(port.clone()).or_insert(None);
    }
    // Budgets saved without metadata (or ports with usage only) are read
    // one by one; a port with neither has the defaults.
    let missing: Vec<&String> = budgets
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(p, _)| p)
        .collect();
    let read: Vec<Result<StoredBudget, _>> =
        join_all(missing.iter().map(|p| ctx.settings.budget(p))).await;
    let read: Vec<(String, StoredBudget)> = missing
        .into_iter()
        .cloned()
        .zip(read)
        .map(|(p, b)| b.map(|b| (p, b)))
        .collect::<Result<_, _>>()?;
    for (port, stored) in read {
        budgets.insert(port, Some(stored));
    }
    let list: Vec<Value> = budgets
        .iter()
        .filter_map(|(port, stored)| {
            let stored = stored.as_ref()?;
            let window = stored.budget.period.window(ctx.now);
            let load = loads.load_of(port, &window);
            Some(json!({
                "port": port,
                "budget": stored.json(),
                "usedTokens": load.used_tokens,
                "heldTokens": load.held_tokens,
                "capStatus": cap_status_json(&stored.budget, load.gate_tokens(), ctx.now),
            }))
        })
        .collect();
    Ok(json_response(200, &json!({ "ports": list })))
}

async fn list_keys(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let keys = ctx.settings.keys(port).await?;
    Ok(json_response(
        200,
        &json!({
            "port": port,
            "keys": keys.iter().map(|k| json!({"keyId": k.key_id, "createdAt": k.created_at})).collect::<Vec<_>>(),
        }),
    ))
}

async fn issue_key(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let issued = ctx.settings.issue_key(port, ctx.now).await?;
    Ok(json_response(
        201,
        &json!({
            "port": port,
            "keyId": issued.record.key_id,
            "key": issued.key,
            "createdAt": issued.record.created_at,
        }),
    ))
}

async fn revoke_key(ctx: &mut Ctx, port: &str, key_id: &str) -> Result<Response, ApiError> {
    if ctx.settings.revoke_key(port, key_id).await? {
        Ok(json_response(
            200,
            &json!({ "port": port, "keyId": key_id, "revoked": true }),
        ))
    } else {
        Err(ApiError::new(
            404,
            "key-not-found",
            format!("port {port} has no key {key_id}"),
        ))
    }
}
