//! `GET` and `PUT /v1/groups/{group}/alerts`: a group's alerts as a
//! port's. It always watches its soft and hard caps; these add percents of
//! its hard cap and its own webhook endpoints (its events go to them, else
//! to the default ones). The forecast (`"projected"`) is a port's only.

use serde_json::{Map, Value};
use worker::{Request, Response};

use super::alerts::{body_of, endpoints_json, kv, thresholds, urls};
use super::ctx::Ctx;
use super::group_reads::{client, group_id, state};
use crate::worker::alerts::endpoints::{self, Endpoints, Owner};
use crate::worker::alerts::AlertConfig;
use crate::worker::body::read_json;
use crate::worker::group::protocol::GroupRequest;
use crate::worker::http::{json_response, ApiError};
use crate::worker::input;

/// 404 unless `group` has a budget.
async fn existing(ctx: &Ctx, group: &str) -> Result<(), ApiError> {
    group_id(group)?;
    if state(ctx, group).await?.exists() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "group {group:?} has no budget"
        )))
    }
}

async fn answer(
    ctx: &Ctx,
    group: &str,
    percents: &[u8],
    saved: &Endpoints,
    fresh: &[String],
) -> Result<Response, ApiError> {
    let default = endpoints::read(&kv(ctx)?, Owner::Default).await?;
    let mut answer = Map::new();
    answer.insert("group".into(), group.into());
    answer.insert(
        "thresholds".into(),
        percents.iter().map(|p| Value::from(*p)).collect(),
    );
    endpoints_json(saved, fresh, ctx.now, &mut answer);
    answer.insert(
        "usesDefault".into(),
        (saved.endpoints.is_empty() && !default.endpoints.is_empty()).into(),
    );
    Ok(json_response(200, &Value::Object(answer)))
}

/// The percents the group's object answers.
fn percents_of(value: &Value) -> Vec<u8> {
    value["percents"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| p.as_u64().and_then(|p| u8::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /v1/groups/{group}/alerts`: the group's percents and endpoints,
/// without secrets.
pub async fn get(ctx: &mut Ctx, group: &str) -> Result<Response, ApiError> {
    existing(ctx, group).await?;
    let set: Value = client(ctx, group)
        .call(&GroupRequest::Alerts { percents: None })
        .await?;
    let saved = endpoints::read(&kv(ctx)?, Owner::Group(group)).await?;
    answer(ctx, group, &percents_of(&set), &saved, &[]).await
}

/// `PUT /v1/groups/{group}/alerts`: `thresholds` (percents of the hard
/// cap) and `webhookUrl`, each replaced when given. Everything is checked
/// before anything is saved.
pub async fn put(ctx: &mut Ctx, group: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["thresholds", "webhookUrl"])?;
    let env = AlertConfig::of(ctx.env()).environment;
    let new_thresholds = map.get("thresholds").map(thresholds).transpose()?;
    if new_thresholds.as_ref().is_some_and(|t| t.projected) {
        return Err(ApiError::bad_field(
            "invalid-threshold",
            "thresholds",
            "a group watches percents of its hard cap; \"projected\" is a port's threshold",
        ));
    }
    let new_urls = map.get("webhookUrl").map(|v| urls(v, env)).transpose()?;
    existing(ctx, group).await?;
    ctx.before = body_of(get(ctx, group).await?).await;
    let kv = kv(ctx)?;
    let (saved, fresh) = match new_urls {
        Some(urls) => endpoints::replace(&kv, Owner::Group(group), &urls, ctx.now).await?,
        None => (endpoints::read(&kv, Owner::Group(group)).await?, Vec::new()),
    };
    let set: Value = client(ctx, group)
        .call(&GroupRequest::Alerts {
            percents: new_thresholds.map(|t| t.percents),
        })
        .await?;
    answer(ctx, group, &percents_of(&set), &saved, &fresh).await
}
