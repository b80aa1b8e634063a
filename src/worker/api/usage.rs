//! Usage: a call counted without a reservation, exactly once per request
//! id, and the period's usage as the gate counts it.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::ctx::{query, Ctx};
use super::json::{self, remaining, replayed};
use crate::gate::{CallUsage, RecordOutcome};
use crate::time::iso;
use crate::worker::body::read_json;
use crate::worker::http::{json_response, ApiError};
use crate::worker::ids::{fingerprint, random_id};
use crate::worker::input;
use crate::worker::refusals::{total_too_large, unpriced};
use crate::TokenCounts;

/// Every field a usage write may carry (a commit: all but `requestId` and
/// `occurredAt`).
pub const USAGE_FIELDS: &[&str] = &[
    "feature",
    "provider",
    "model",
    "inputTokens",
    "cachedInputTokens",
    "cacheWriteTokens",
    "outputTokens",
    "reasoningTokens",
    "userId",
    "requestId",
    "occurredAt",
];

/// Reads the usage fields of a commit or a usage write: token counts by
/// kind (the cached and cache-write parts within the input, reasoning within
/// the output), provider, model and attribution.
///
/// # Errors
/// The input rules' 400s; `too-many-tokens` when input + output passes
/// 2^53 - 1; `invalid-value` when a part is larger than its whole.
pub fn call_usage(map: &Map<String, Value>, feature_required: bool) -> Result<CallUsage, ApiError> {
    let count = |name: &str, required: bool| -> Result<u64, ApiError> {
        Ok(input::tokens(map, name, required)?.unwrap_or(0))
    };
    let tokens = TokenCounts {
        input_tokens: count("inputTokens", true)?,
        cached_input_tokens: count("cachedInputTokens", false)?,
        cache_write_tokens: count("cacheWriteTokens", false)?,
        output_tokens: count("outputTokens", true)?,
        reasoning_tokens: count("reasoningTokens", false)?,
    };
    tokens.check()?;
    Ok(CallUsage {
        feature: input::text(map, "feature", feature_required, 64)?,
        provider: input::text(map, "provider", true, 64)?.unwrap_or_default(),
        model: input::text(map, "model", true, 128)?.unwrap_or_default(),
        user_id: input::text(map, "userId", false, 128)?,
        tokens,
        cost_usd: None,
        price_version: None,
        price_source: None,
    })
}

/// `usage` priced at settlement with the price in force now (the table's,
/// for its model or its dated model's base); `cost_usd` stays `None` for a
/// model the table does not know (the gate then uses the port's fallback
/// price, or the hold).
///
/// # Errors
/// KV's (503).
pub async fn priced(ctx: &Ctx, mut usage: CallUsage) -> Result<CallUsage, ApiError> {
    usage.cost_usd = ctx
        .settings
        .cost_now(&usage.model, &usage.tokens, ctx.now)
        .await?;
    Ok(usage)
}

/// The fingerprint of a usage body: a replay with another body conflicts.
pub fn usage_fingerprint(usage: &CallUsage, occurred_at: Option<DateTime<Utc>>) -> String {
    fingerprint(&json!({
        "feature": usage.feature,
        "provider": usage.provider,
        "model": usage.model,
        "userId": usage.user_id,
        "tokens": usage.tokens,
        "occurredAt": occurred_at.map(iso),
    }))
}

/// `POST /v1/ports/{port}/usage`: a call made without a reservation.
pub async fn record(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, USAGE_FIELDS)?;
    let usage = call_usage(map, true)?;
    let request_id = input::request_id(map, "requestId")?;
    let usage = priced(ctx, usage).await?;
    let occurred_at = input::instant(map, "occurredAt")?;
    if occurred_at.is_some_and(|at| at > ctx.now) {
        return Err(ApiError::bad_field(
            "occurred-in-future",
            "occurredAt",
            "occurredAt must not be in the future",
        ));
    }
    let hash = usage_fingerprint(&usage, occurred_at);
    let request_id = request_id.unwrap_or_else(|| random_id("req_"));
    let answer = ctx
        .gate(port)?
        .record(
            &usage,
            &request_id,
            &hash,
            &ctx.write_id,
            occurred_at.unwrap_or(ctx.now),
        )
        .await?;
    let budget = answer.budget.budget;
    // The budget and load the gate decided under, once for every outcome.
    ctx.remember_answer(&answer);
    match answer.result {
        RecordOutcome::Recorded {
            entry,
            load,
            replayed: again,
        } => {
            let body = json!({
                "entry": json::entry(port, &entry),
                "usage": json::load(&load),
                "remaining": remaining(&budget, &load, ctx.now),
            });
            Ok(replayed(json_response(201, &body), again))
        }
        RecordOutcome::Conflict { entry, .. } => Err(ApiError::conflict(
            "request-id-conflict",
            "this requestId was already counted with a different body",
        )
        .with_extra(json!({ "entry": json::entry(port, &entry) }))),
        RecordOutcome::TooLarge { refusal, .. } => Err(total_too_large(&refusal)),
        RecordOutcome::Unpriced { .. } => Err(unpriced(Some(&usage.model))),
    }
}

/// `GET /v1/ports/{port}/usage?feature=...`: what the gate counts now.
pub async fn get(ctx: &mut Ctx, port: &str, req: &Request) -> Result<Response, ApiError> {
    let feature = query(req, "feature");
    if let Some(f) = &feature {
        input::text_value(f, "feature", 64)?;
    }
    let view = ctx.gate(port)?.view(feature.as_deref(), false).await?;
    let budget = view.budget.budget;
    let window = budget.window(ctx.now);
    let mut body = json::load(&view.load);
    body["port"] = port.into();
    body["feature"] = feature.clone().into();
    body["period"] = budget.period.as_str().into();
    body["periodStart"] = iso(window.start).into();
    body["resetsAt"] = iso(window.end).into();
    let own = crate::Period::ALL
        .iter()
        .position(|p| *p == budget.period)
        .map_or(view.load, |i| view.by_period[i]);
    ctx.remember(&budget, &own);
    Ok(json_response(200, &body))
}
