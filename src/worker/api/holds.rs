//! Check and reservations: a question to the gate, and holds taken,
//! committed and released in the port's gate, one atomic step each.

use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::ctx::{query, Ctx};
use super::json::{self, remaining, replayed};
use super::usage::{call_usage, priced, usage_fingerprint, USAGE_FIELDS};
use crate::gate::{CommitOutcome, HoldRequest, HoldState, Judged, ReleaseOutcome, ReserveOutcome};
use crate::pricing::usd_number;
use crate::time::iso;
use crate::worker::body::read_json;
use crate::worker::http::{json_response, ApiError};
use crate::worker::ids::{fingerprint, random_id};
use crate::worker::input;
use crate::worker::refusals::{
    group_unavailable, refusal, refusal_body, total_too_large, unpriced,
};

/// Default and largest hold lifetime, seconds.
const DEFAULT_TTL_SECONDS: u64 = 300;
const MAX_TTL_SECONDS: u64 = 3600;
/// Holds listed at most.
const MAX_LISTED: u32 = 500;

/// The fields of an estimate, beside `feature` and `userId`.
const ESTIMATE_FIELDS: &[&str] = &[
    "estimatedTokens",
    "estimatedUsd",
    "model",
    "estimatedInputTokens",
    "estimatedOutputTokens",
];

/// A call's estimate: tokens, and money when it is priced.
struct Estimate {
    tokens: u64,
    /// Micro-dollars: the caller's `estimatedUsd`, or the bound of the
    /// model's token estimates at the table's price.
    usd: Option<u64>,
    /// The model named, if any.
    model: Option<String>,
    /// The token estimates of a model the table does not price.
    unpriced: Option<(u64, u64)>,
}

impl Estimate {
    /// The body fields that make two requests the same request.
    fn fingerprint(&self) -> Value {
        json!({
            "estimatedTokens": self.tokens,
            "estimatedUsd": self.usd,
            "model": self.model,
            "unpriced": self.unpriced,
        })
    }

    /// The estimate as the gate judges it.
    fn judged(&self) -> crate::gate::Estimate {
        crate::gate::Estimate {
            tokens: self.tokens,
            usd: self.usd,
            unpriced: self.unpriced,
        }
    }
}

/// Reads an estimate: `estimatedTokens`, and `estimatedUsd` or `model`
/// with `estimatedInputTokens` and `estimatedOutputTokens` (priced by the
/// table in force: the input at its highest input price plus the output
/// at the output price). `estimatedTokens` defaults to the two estimates'
/// sum.
async fn estimate(ctx: &Ctx, map: &Map<String, Value>) -> Result<Estimate, ApiError> {
    let usd = match map.get("estimatedUsd") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(crate::pricing::usd_micros(
            n.as_f64().unwrap_or(f64::NAN),
            "estimatedUsd",
        )?),
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid-type",
                "estimatedUsd",
                "estimatedUsd must be a number of dollars",
            ))
        }
    };
    let model = input::text(map, "model", false, 128)?;
    let input_tokens = input::tokens(map, "estimatedInputTokens", model.is_some())?;
    let output_tokens = input::tokens(map, "estimatedOutputTokens", model.is_some())?;
    if model.is_none() {
        if let Some(name) = ["estimatedInputTokens", "estimatedOutputTokens"]
            .into_iter()
            .find(|f| map.get(*f).is_some_and(|v| !v.is_null()))
        {
            return Err(ApiError::bad_field(
                "missing-field",
                "model",
                format!("{name} is priced by its model: give model too"),
            ));
        }
    }
    let split = input_tokens.zip(output_tokens);
    let tokens = match input::tokens(map, "estimatedTokens", split.is_none())? {
        Some(n) => n,
        None => {
            let (i, o) = split.unwrap_or_default();
            crate::amount::checked_total(i, o).ok_or_else(|| {
                ApiError::bad_field(
                    "too-many-tokens",
                    "estimatedOutputTokens",
                    format!(
                        "estimatedInputTokens + estimatedOutputTokens must be at most {}",
                        crate::MAX_TOKENS
                    ),
                )
            })?
        }
    };
    let (mut priced, mut unpriced) = (None, None);
    if let (Some(model), Some((i, o))) = (&model, split) {
        match ctx
            .settings
            .bound_now(
                model,
                i,
                o,
                crate::pricing::billing::ServiceTier::Standard,
                ctx.now,
            )
            .await?
        {
            Some(bound) => priced = Some(bound),
            None => unpriced = Some((i, o)),
        }
    }
    Ok(Estimate {
        tokens,
        usd: usd.or(priced),
        model,
        unpriced: if usd.is_some() { None } else { unpriced },
    })
}

/// `POST /v1/ports/{port}/check`: a question; reserves nothing. It judges
/// the port's cap first, then the caps inside the port that apply to the
/// call's `feature` and `userId`, as a reservation would be judged; a
/// refusal names its `scope` (`port`, `feature` or `user`) and `scopeId`.
pub async fn check(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let mut allowed = vec!["feature", "userId"];
    allowed.extend_from_slice(ESTIMATE_FIELDS);
    let map = input::object(&body, &allowed)?;
    let estimate = estimate(ctx, map).await?;
    let feature = input::text(map, "feature", false, 64)?.unwrap_or_else(|| "default".into());
    let user_id = input::text(map, "userId", false, 128)?;
    let checked = ctx
        .gate(port)?
        .check(&feature, user_id.as_deref(), estimate.tokens)
        .await?;
    let view = checked.view;
    let budget = view.budget.budget;
    ctx.remember(&budget, &view.load);
    // The very rule a reservation is held by, in the gate.
    let Judged::Decided { decision, .. } =
        crate::gate::credits::judge_in(&budget, &view.room, &estimate.judged(), ctx.now)
    else {
        return Err(unpriced(estimate.model.as_deref()));
    };
    let mut answer = json::decision(&decision, budget.unit);
    match (&decision, checked.sub_cap) {
        (crate::Decision::Allowed { .. }, Some(r)) => answer = refusal_body(&r),
        _ => {
            answer["scope"] = "port".into();
            answer["scopeId"] = Value::Null;
        }
    }
    answer["room"] = super::json::room_view_json(&view.room, budget.unit);
    answer["heldTokens"] = view.load.held_tokens.into();
    answer["heldUsd"] = usd_number(view.load.held_usd).into();
    Ok(json_response(200, &answer))
}

/// `POST /v1/ports/{port}/reservations`: check and hold in one step.
pub async fn reserve(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let mut allowed = vec!["feature", "userId", "requestId", "ttlSeconds"];
    allowed.extend_from_slice(ESTIMATE_FIELDS);
    let map = input::object(&body, &allowed)?;
    let estimate = estimate(ctx, map).await?;
    let feature = input::text(map, "feature", false, 64)?.unwrap_or_else(|| "default".into());
    let user_id = input::text(map, "userId", false, 128)?;
    let request_id = input::request_id(map, "requestId")?;
    let ttl_seconds =
        input::whole(map, "ttlSeconds", 1..=MAX_TTL_SECONDS)?.unwrap_or(DEFAULT_TTL_SECONDS);
    let hold = HoldRequest {
        estimated_tokens: estimate.tokens,
        estimated_usd: estimate.usd,
        unpriced_estimate: estimate.unpriced,
        body_hash: fingerprint(&json!({
            "estimate": estimate.fingerprint(),
            "feature": feature,
            "userId": user_id,
            "ttlSeconds": ttl_seconds,
        })),
        feature,
        user_id,
        request_id: request_id.unwrap_or_else(|| random_id("req_")),
        ttl_seconds,
        hold_id: random_id("rsv_"),
    };
    let answer = ctx.gate(port)?.reserve(&hold).await?;
    let budget = answer.budget.budget;
    // The budget and load the gate decided under, once for every outcome.
    ctx.remember_answer(&answer);
    match answer.result {
        ReserveOutcome::Held {
            hold,
            replayed: again,
            ..
        } => {
            // The port's load as the gate answered it (a shard's shows its
            // whole port's).
            let load = answer.load;
            let mut body = json::hold(port, &hold);
            body["remaining"] = remaining(&budget, &load, ctx.now);
            body["usage"] = json::load(&load);
            body["resetsAt"] = iso(budget.window(ctx.now).end).into();
            Ok(replayed(json_response(201, &body), again))
        }
        ReserveOutcome::Refused { refusal: r, .. } => Err(refusal(&r, ctx.now)),
        ReserveOutcome::Conflict { existing, .. } => Err(ApiError::conflict(
            "request-id-conflict",
            "this requestId was used for another reservation with a different body",
        )
        .with_extra(json!({ "reservation": json::hold(port, &existing) }))),
        ReserveOutcome::TooLarge { refusal: r, .. } => Err(total_too_large(&r)),
        ReserveOutcome::Unpriced { .. } => Err(unpriced(estimate.model.as_deref())),
        ReserveOutcome::Short { group, .. } => Err(group_unavailable(&group)),
    }
}

fn not_found(port: &str, id: &str) -> ApiError {
    ApiError::new(
        404,
        "reservation-not-found",
        format!("port {port} has no reservation {id}"),
    )
}

/// `POST /v1/ports/{port}/reservations/{id}/commit`: settle with the real
/// usage, exactly once.
pub async fn commit(
    ctx: &mut Ctx,
    port: &str,
    id: &str,
    req: &mut Request,
) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let fields: Vec<&str> = USAGE_FIELDS
        .iter()
        .copied()
        .filter(|f| !matches!(*f, "requestId" | "occurredAt"))
        .collect();
    let map = input::object(&body, &fields)?;
    let usage = call_usage(map, false)?;
    let hash = usage_fingerprint(&usage, None);
    let usage = priced(ctx, usage).await?;
    let answer = ctx
        .gate(port)?
        .commit(id, &usage, &hash, &ctx.write_id)
        .await?;
    let budget = answer.budget.budget;
    // The budget and load the gate decided under, once for every outcome.
    ctx.remember_answer(&answer);
    match answer.result {
        CommitOutcome::Committed {
            hold,
            entry,
            replayed: again,
            ..
        } => {
            let load = answer.load;
            let body = json!({
                "reservation": json::hold(port, &hold),
                "entry": json::entry(port, &entry),
                "usage": json::load(&load),
                "remaining": remaining(&budget, &load, ctx.now),
            });
            Ok(replayed(json_response(200, &body), again))
        }
        CommitOutcome::NotFound { .. } => Err(not_found(port, id)),
        CommitOutcome::Conflict { hold, .. } => {
            let (code, message) = match hold.state {
                HoldState::Released => (
                    "reservation-released",
                    "the reservation was released; record the usage with POST .../usage instead",
                ),
                HoldState::Committed => (
                    "request-id-conflict",
                    "the reservation was already committed with different usage",
                ),
                _ => (
                    "request-id-conflict",
                    "the reservation's requestId was already counted by another usage write",
                ),
            };
            Err(ApiError::conflict(code, message)
                .with_extra(json!({ "reservation": json::hold(port, &hold) })))
        }
        CommitOutcome::TooLarge { refusal: r, .. } => Err(total_too_large(&r)),
        CommitOutcome::Unpriced { .. } => Err(unpriced(Some(&usage.model))),
    }
}

/// `POST /v1/ports/{port}/reservations/{id}/release`: give a hold back.
pub async fn release(ctx: &mut Ctx, port: &str, id: &str) -> Result<Response, ApiError> {
    let answer = ctx.gate(port)?.release(id).await?;
    let budget = answer.budget.budget;
    // The budget and load the gate decided under, once for every outcome.
    ctx.remember_answer(&answer);
    match answer.result {
        ReleaseOutcome::Released { hold, .. } => {
            let load = answer.load;
            let body = json!({
                "reservation": json::hold(port, &hold),
                "usage": json::load(&load),
                "remaining": remaining(&budget, &load, ctx.now),
            });
            Ok(json_response(200, &body))
        }
        ReleaseOutcome::NotFound { .. } => Err(not_found(port, id)),
        ReleaseOutcome::Conflict { hold, .. } => {
            let (code, message) = if hold.state == HoldState::Expired {
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
            Err(ApiError::conflict(code, message)
                .with_extra(json!({ "reservation": json::hold(port, &hold) })))
        }
    }
}

/// `GET /v1/ports/{port}/reservations/{id}`: one reservation.
pub async fn get(ctx: &mut Ctx, port: &str, id: &str) -> Result<Response, ApiError> {
    match ctx.gate(port)?.hold(id).await? {
        Some(hold) => Ok(json_response(200, &json::hold(port, &hold))),
        None => Err(not_found(port, id)),
    }
}

/// `GET /v1/ports/{port}/reservations?state=open|all&limit=N`: open holds
/// and expired ones not yet committed late (`open`, the default), or every
/// reservation kept (`all`), newest first.
pub async fn list(ctx: &mut Ctx, port: &str, req: &Request) -> Result<Response, ApiError> {
    let all = match query(req, "state").as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid-value",
                "state",
                "state must be open or all",
            ))
        }
    };
    let limit = match query(req, "limit") {
        None => 100,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LISTED).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "invalid-value",
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LISTED}"),
                )
            })?,
    };
    let holds = ctx.gate(port)?.holds(all, limit).await?;
    Ok(json_response(
        200,
        &json!({
            "port": port,
            "reservations": holds.iter().map(|h| json::hold(port, h)).collect::<Vec<Value>>(),
        }),
    ))
}
