//! A port's budget: read it, and save a partial update through the port's
//! gate, which checks `If-Match` and the core's rules and binds the saved
//! budget to the very next call (KV gets a copy, for listing ports).

use serde_json::json;
use worker::{Request, Response};

use super::ctx::Ctx;
use super::groups;
use super::json::budget_response;
use crate::gate::SaveOutcome;
use crate::worker::body::read_json;
use crate::worker::http::ApiError;

/// `GET /v1/ports/{port}/budget`.
pub async fn get(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let view = ctx.gate(port)?.view(None, false).await?;
    ctx.remember(&view.budget.budget, &view.load);
    Ok(budget_response(port, &view.budget))
}

/// `PUT /v1/ports/{port}/budget`: a partial update, merged and validated by
/// the core inside the port's gate, only over the version `If-Match` names
/// (its `ETag`, quoted or not; `*` matches any), else 412 and nothing
/// saved. The gate runs one save at a time, so concurrent saves never lose
/// an update. `{}` changes nothing (not even `updatedAt`).
pub async fn put(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let if_match = req.headers().get("If-Match").ok().flatten();
    // A parent (named now, or kept while the unit changes): its chain is
    // checked before anything is saved.
    let named = groups::parent_of(&body)?;
    let current = ctx.gate(port)?.view(None, false).await?.budget;
    // The audit record's value before (a port never saved has none).
    if current.updated_at.is_some() {
        let mut before = current.json();
        before["port"] = port.into();
        ctx.before = before;
    }
    if named.as_ref().is_some_and(Option::is_some) || body.get("unit").is_some() {
        let parent = match named {
            Some(parent) => parent,
            None => current.parent.clone(),
        };
        if let Some(parent) = parent {
            let unit = groups::unit_after(&body, current.budget.unit);
            groups::check_chain(ctx, None, &parent, unit, 0).await?;
        }
    }
    let outcome = ctx
        .gate(port)?
        .save_budget(body, if_match, &ctx.caller.actor())
        .await?;
    match outcome {
        SaveOutcome::Saved { budget } | SaveOutcome::Unchanged { budget } => {
            Ok(budget_response(port, &budget))
        }
        SaveOutcome::PreconditionFailed { budget } => Err(ApiError::new(
            412,
            "precondition-failed",
            "the budget changed since the If-Match value was read; read it again and retry",
        )
        .with_extra(json!({ "budget": budget.json() }))),
        SaveOutcome::Invalid {
            code,
            field,
            message,
        } => Err(ApiError::new(400, &code, message).with_field(field)),
    }
}
