//! Groups: budgets above ports (`/v1/groups`). A group's budget has the
//! same fields as a port's, and a budget (a port's or a group's) may name a
//! `parent` group; the chain above is checked here, before anything is
//! saved: the parent must exist, be in the same unit, close no cycle, and
//! leave no port more than [`MAX_DEPTH`] groups deep. The group's object
//! ([`crate::worker::group`]) keeps its budget and lends allowances.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::ctx::Ctx;
use super::group_reads::{client, group_id, state};
use crate::allowance::MAX_DEPTH;
use crate::metrics::GroupLine;
use crate::worker::body::read_json;
use crate::worker::group::protocol::GroupRequest;
use crate::worker::http::{json_response, ApiError};
use crate::Unit;

fn bad_parent(code: &str, message: String) -> ApiError {
    ApiError::bad_field(code, "parent", message)
}

/// What a budget update asks of its parent: `Some(Some(id))` a group,
/// `Some(None)` none, `None` unchanged.
///
/// # Errors
/// 400 when `parent` is neither a group id nor `null`.
pub fn parent_of(update: &Value) -> Result<Option<Option<String>>, ApiError> {
    crate::allowance::parent_update(update).map_err(|e| {
        ApiError::new(400, e.code().as_str(), e.message().to_owned())
            .with_field(e.field().map(str::to_owned))
    })
}

/// The unit an update leaves a budget in (`current` when it names none).
pub fn unit_after(update: &Value, current: Unit) -> Unit {
    update
        .get("unit")
        .and_then(Value::as_str)
        .and_then(|u| u.parse().ok())
        .unwrap_or(current)
}

/// Checks the chain above a budget in `unit` that would name `parent`:
/// `me` is the group being saved (none for a port), `below` the group
/// levels under it. Answers the chain, nearest first.
///
/// # Errors
/// 400 `unknown-parent`, `parent-cycle`, `parent-unit` or `too-deep`
/// (field `parent`); 503 when a group cannot be read.
pub async fn check_chain(
    ctx: &Ctx,
    me: Option<&str>,
    parent: &str,
    unit: Unit,
    below: u8,
) -> Result<Vec<String>, ApiError> {
    let mut chain: Vec<String> = Vec::new();
    let mut at = Some(parent.to_owned());
    while let Some(group) = at {
        if me == Some(group.as_str()) || chain.contains(&group) {
            return Err(bad_parent(
                "parent-cycle",
                format!("group {group:?} would be its own ancestor"),
            ));
        }
        let levels = chain.len() + 1 + usize::from(me.is_some()) + usize::from(below);
        if levels > MAX_DEPTH {
            return Err(bad_parent(
                "too-deep",
                format!("a port may have at most {MAX_DEPTH} groups above it"),
            ));
        }
        let found = state(ctx, &group).await?;
        if !found.exists() {
            return Err(bad_parent(
                "unknown-parent",
                format!("group {group:?} has no budget (PUT /v1/groups/{group}/budget first)"),
            ));
        }
        if chain.is_empty() && found.budget().unit != unit {
            return Err(bad_parent(
                "parent-unit",
                format!(
                    "group {group:?} counts in {}, this budget in {}",
                    found.budget().unit.as_str(),
                    unit.as_str()
                ),
            ));
        }
        chain.push(group);
        at = found.parent;
    }
    Ok(chain)
}

/// `PUT /v1/groups/{group}/budget`: a partial update of the group's
/// budget (the fields of a port's, and `parent`).
pub async fn put(ctx: &mut Ctx, group: &str, req: &mut Request) -> Result<Response, ApiError> {
    group_id(group)?;
    let body = read_json(req).await?;
    let current = state(ctx, group).await?;
    if current.exists() {
        ctx.before = json!({ "group": group, "budget": current.budget_json() });
    }
    let parent = match parent_of(&body)? {
        Some(parent) => parent,
        None => current.parent.clone(),
    };
    let unit = unit_after(&body, current.budget().unit);
    let chain = match &parent {
        Some(parent) => check_chain(ctx, Some(group), parent, unit, current.below).await?,
        None => Vec::new(),
    };
    let answer: Value = client(ctx, group)
        .call(&GroupRequest::Save {
            update: body,
            actor: ctx.caller.actor(),
        })
        .await?;
    if let Some(invalid) = answer.get("invalid") {
        let text = |k: &str| {
            invalid
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Err(
            ApiError::new(400, &text("code"), text("message")).with_field(
                invalid
                    .get("field")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
        );
    }
    // The levels under each group above, for the depth of later saves.
    for (i, above) in chain.iter().enumerate() {
        let below = current.below.saturating_add(1 + i as u8);
        client(ctx, above)
            .call::<Value>(&GroupRequest::Below { below })
            .await?;
    }
    let budget = answer["budget"].clone();
    ctx.settings
        .write(&format!("group:v1:{group}"), budget.to_string())
        .await?;
    Ok(json_response(
        200,
        &json!({ "group": group, "budget": budget }),
    ))
}

/// `GET /v1/groups/{group}/budget`.
pub async fn get(ctx: &mut Ctx, group: &str) -> Result<Response, ApiError> {
    group_id(group)?;
    let found = state(ctx, group).await?;
    if !found.exists() {
        return Err(ApiError::not_found(format!(
            "group {group:?} has no budget"
        )));
    }
    Ok(json_response(
        200,
        &json!({ "group": group, "budget": found.budget_json() }),
    ))
}

/// `GET /v1/groups/{group}/status`: used, held, lent and unused, the
/// cap's state and reset, and each child's line.
pub async fn status(ctx: &mut Ctx, group: &str) -> Result<Response, ApiError> {
    group_id(group)?;
    let status: Value = client(ctx, group).call(&GroupRequest::Status).await?;
    if status["budget"]["updatedAt"].is_null() {
        return Err(ApiError::not_found(format!(
            "group {group:?} has no budget"
        )));
    }
    Ok(json_response(200, &status))
}

/// Where each group with a budget (that the caller reaches) stands, from
/// its object: the lines `GET /v1/metrics` shows.
///
/// # Errors
/// KV or a group's object unreachable.
pub async fn lines(ctx: &mut Ctx) -> Result<Vec<GroupLine>, ApiError> {
    let mut out = Vec::new();
    for (group, _) in ctx.settings.groups().await? {
        if !super::reach::reaches_group(ctx, &group).await? {
            continue;
        }
        let status: Value = client(ctx, &group).call(&GroupRequest::Status).await?;
        if status["budget"]["updatedAt"].is_null() {
            continue;
        }
        if let Ok(line) = serde_json::from_value::<GroupLine>(status) {
            out.push(line);
        }
    }
    Ok(out)
}

/// `GET /v1/groups`: every group with a budget (that the caller reaches),
/// with its budget.
pub async fn list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let groups = ctx.settings.groups().await?;
    let mut items: Vec<Value> = Vec::new();
    for (group, budget) in groups {
        // A confined admin key lists the groups it reaches.
        if super::reach::reaches_group(ctx, &group).await? {
            items.push(json!({ "group": group, "budget": budget }));
        }
    }
    Ok(json_response(200, &json!({ "groups": items })))
}
