//! Alerts (admin): a port's thresholds and webhook endpoints, the default
//! endpoints, rolling an endpoint's secret, a signed sample, the last
//! deliveries and a resend.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::ctx::{query, Ctx};
use crate::alerts::endpoint::{self, Environment};
use crate::alerts::records::{self, Status, Subject};
use crate::alerts::rotation::{DEFAULT_OVERLAP_HOURS, MAX_OVERLAP_HOURS};
use crate::alerts::threshold::percent_of_json;
use crate::alerts::watch::AlertThresholds;
use crate::alerts::{
    AlertEvent, EventType, Standing, Threshold, MAX_ENDPOINTS, MAX_PERCENT_THRESHOLDS,
};
use crate::worker::alerts::endpoints::{self, Endpoints, Owner};
use crate::worker::alerts::{consumer, AlertConfig, AlertMessage};
use crate::worker::body::read_json;
use crate::worker::d1::StoreError;
use crate::worker::http::{json_response, ApiError};
use crate::worker::ids::random_id;
use crate::worker::input;

/// Deliveries listed unless `limit` says otherwise.
const LISTED_DELIVERIES: u32 = 20;

pub(super) fn kv(ctx: &Ctx) -> Result<worker::kv::KvStore, ApiError> {
    Ok(ctx.bindings.kv()?)
}

/// The thresholds of a `thresholds` field: whole percents 1..=100, at most
/// [`MAX_PERCENT_THRESHOLDS`] of them, and `"projected"` (the forecast).
pub(super) fn thresholds(value: &Value) -> Result<AlertThresholds, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_field(
            "invalid-type",
            "thresholds",
            "thresholds is an array of percents of the hard cap, such as [50, 80, 95], and \"projected\"",
        ));
    };
    let projected = items.iter().any(|item| item == "projected");
    let items: Vec<(usize, &Value)> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| *item != "projected")
        .collect();
    if items.len() > MAX_PERCENT_THRESHOLDS {
        return Err(ApiError::bad_field(
            "too-many-thresholds",
            "thresholds",
            format!("at most {MAX_PERCENT_THRESHOLDS} percent thresholds per port"),
        ));
    }
    let percents = items
        .into_iter()
        .map(|(i, item)| {
            percent_of_json(item).ok_or_else(|| {
                ApiError::bad_field(
                    "invalid-threshold",
                    &format!("thresholds[{i}]"),
                    format!(
                        "a threshold is a whole percent of the hard cap from 1 to 100, or \"projected\", not {item}"
                    ),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(AlertThresholds {
        percents,
        projected,
    })
}

/// The `thresholds` of an answer: the percents, then `"projected"` when
/// the forecast is watched.
pub(super) fn thresholds_json(set: &AlertThresholds) -> Value {
    let mut list: Vec<Value> = set.percents.iter().map(|p| Value::from(*p)).collect();
    if set.projected {
        list.push("projected".into());
    }
    list.into()
}

/// The URLs of a `webhookUrl` field: one URL, a list of up to
/// [`MAX_ENDPOINTS`], or `null` (none), each checked under `env`'s rules.
pub(super) fn urls(value: &Value, env: Environment) -> Result<Vec<String>, ApiError> {
    let list: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            return Err(ApiError::bad_field(
                "invalid-type",
                "webhookUrl",
                "webhookUrl is a URL, a list of URLs, or null",
            ))
        }
    };
    if list.len() > MAX_ENDPOINTS {
        return Err(ApiError::bad_field(
            "too-many-endpoints",
            "webhookUrl",
            format!("at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let field = if value.is_array() {
            format!("webhookUrl[{i}]")
        } else {
            "webhookUrl".to_owned()
        };
        let Value::String(url) = item else {
            return Err(ApiError::bad_field(
                "invalid-type",
                &field,
                "a webhook URL is a string",
            ));
        };
        let url = endpoint::check(url, env)
            .map_err(|r| ApiError::bad_field(r.code, &field, r.message))?;
        if !out.contains(&url) {
            out.push(url);
        }
    }
    Ok(out)
}

/// `webhookUrl` as answered: the URL, the list when several, else null.
fn url_json(saved: &Endpoints) -> Value {
    match saved.endpoints.as_slice() {
        [] => Value::Null,
        [one] => one.url.clone().into(),
        many => many
            .iter()
            .map(|e| e.url.clone())
            .collect::<Vec<_>>()
            .into(),
    }
}

/// The endpoints as answered at `now`; a secret only for `fresh` URLs
/// (shown once); when a rotation's overlap lasts, its end.
pub(super) fn endpoints_json(
    saved: &Endpoints,
    fresh: &[String],
    now: DateTime<Utc>,
    answer: &mut Map<String, Value>,
) {
    let list: Vec<Value> = saved
        .endpoints
        .iter()
        .map(|e| {
            let mut item = json!({ "url": e.url, "createdAt": e.created_at });
            if fresh.contains(&e.url) {
                item["secret"] = e.secret.clone().into();
            }
            if let Some(at) = &e.rotated_at {
                item["rotatedAt"] = at.clone().into();
            }
            if let Some(ends) = e.overlap_ends(now) {
                item["previousSecretExpiresAt"] = ends.into();
            }
            item
        })
        .collect();
    answer.insert("webhookUrl".into(), url_json(saved));
    if let [one] = saved.endpoints.as_slice() {
        if fresh.contains(&one.url) {
            answer.insert("secret".into(), one.secret.clone().into());
        }
    }
    answer.insert("endpoints".into(), list.into());
}

async fn port_answer(
    ctx: &Ctx,
    port: &str,
    thresholds: AlertThresholds,
    saved: &Endpoints,
    fresh: &[String],
) -> Result<Response, ApiError> {
    let default = endpoints::read(&kv(ctx)?, Owner::Default).await?;
    let mut answer = Map::new();
    answer.insert("port".into(), port.into());
    answer.insert("thresholds".into(), thresholds_json(&thresholds));
    endpoints_json(saved, fresh, ctx.now, &mut answer);
    answer.insert(
        "usesDefault".into(),
        (saved.endpoints.is_empty() && !default.endpoints.is_empty()).into(),
    );
    Ok(json_response(200, &Value::Object(answer)))
}

/// The JSON body of a read's answer: the audit record's value before a
/// change, in the shape of the change's own answer.
pub(super) async fn body_of(mut answer: Response) -> Value {
    answer.json::<Value>().await.unwrap_or(Value::Null)
}

/// `GET /v1/ports/{port}/alerts`: the port's percent thresholds and
/// endpoints, without secrets.
pub async fn get(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let set = ctx.gate(port)?.alerts(None, None).await?;
    let saved = endpoints::read(&kv(ctx)?, Owner::Port(port)).await?;
    port_answer(ctx, port, set, &saved, &[]).await
}

/// `PUT /v1/ports/{port}/alerts`: `thresholds` and `webhookUrl`, each
/// replaced when given. Everything is checked before anything is saved.
pub async fn put(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["thresholds", "webhookUrl"])?;
    ctx.before = body_of(get(ctx, port).await?).await;
    let env = AlertConfig::of(ctx.env()).environment;
    let new_thresholds = map.get("thresholds").map(thresholds).transpose()?;
    let new_urls = map.get("webhookUrl").map(|v| urls(v, env)).transpose()?;
    let kv = kv(ctx)?;
    let (saved, fresh) = match new_urls {
        Some(urls) => endpoints::replace(&kv, Owner::Port(port), &urls, ctx.now).await?,
        None => (endpoints::read(&kv, Owner::Port(port)).await?, Vec::new()),
    };
    let (percents, projected) = match new_thresholds {
        Some(set) => (Some(set.percents), Some(set.projected)),
        None => (None, None),
    };
    let set = ctx.gate(port)?.alerts(percents, projected).await?;
    port_answer(ctx, port, set, &saved, &fresh).await
}

/// `GET /v1/alerts`: the default endpoints (for ports without their own).
pub async fn get_default(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let saved = endpoints::read(&kv(ctx)?, Owner::Default).await?;
    let mut answer = Map::new();
    endpoints_json(&saved, &[], ctx.now, &mut answer);
    Ok(json_response(200, &Value::Object(answer)))
}

/// `PUT /v1/alerts`: `{"webhookUrl": ...}`, the default endpoints.
pub async fn put_default(ctx: &mut Ctx, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["webhookUrl"])?;
    let env = AlertConfig::of(ctx.env()).environment;
    let value = map.get("webhookUrl").ok_or_else(|| {
        ApiError::bad_field("missing-field", "webhookUrl", "webhookUrl is required")
    })?;
    let urls = urls(value, env)?;
    ctx.before = body_of(get_default(ctx).await?).await;
    let (saved, fresh) = endpoints::replace(&kv(ctx)?, Owner::Default, &urls, ctx.now).await?;
    let mut answer = Map::new();
    endpoints_json(&saved, &fresh, ctx.now, &mut answer);
    Ok(json_response(200, &Value::Object(answer)))
}

/// `POST /v1/ports/{port}/alerts/rotate` (`port`) and `POST
/// /v1/alerts/rotate` (the default endpoints): `{"webhookUrl": "...",
/// "overlapHours": 24}` gives that endpoint a new secret, answered once;
/// deliveries are signed with the new and the old secret until the overlap
/// ends (by the Worker's clock), then with the new one only. 404
/// `webhook-endpoint-not-found` when the owner has no endpoint at that
/// URL; nothing changes on any error.
pub async fn rotate(
    ctx: &mut Ctx,
    port: Option<&str>,
    req: &mut Request,
) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["webhookUrl", "overlapHours"])?;
    let url = match map.get("webhookUrl") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_field(
                "missing-field",
                "webhookUrl",
                "webhookUrl, the URL of the endpoint whose secret to rotate, is required",
            ))
        }
        Some(Value::String(url)) => url.clone(),
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid-type",
                "webhookUrl",
                "webhookUrl is the URL of one saved endpoint",
            ))
        }
    };
    let hours =
        input::whole(map, "overlapHours", 0..=MAX_OVERLAP_HOURS)?.unwrap_or(DEFAULT_OVERLAP_HOURS);
    let owner = port.map_or(Owner::Default, Owner::Port);
    let kv = kv(ctx)?;
    let Some((saved, rotated)) = endpoints::rotate(&kv, owner, &url, ctx.now, hours).await? else {
        let whose = match port {
            Some(port) => format!(
                "port {port} has no webhook endpoint {url} of its own (the default endpoints rotate at POST /v1/alerts/rotate)"
            ),
            None => format!("the default endpoints do not include {url}"),
        };
        return Err(ApiError::new(404, "webhook-endpoint-not-found", whose));
    };
    let mut answer = Map::new();
    if let Some(port) = port {
        answer.insert("port".into(), port.into());
    }
    answer.insert("webhookUrl".into(), rotated.url.clone().into());
    answer.insert("secret".into(), rotated.secret.clone().into());
    answer.insert("rotatedAt".into(), crate::time::iso(ctx.now).into());
    answer.insert("overlapHours".into(), hours.into());
    answer.insert(
        "previousSecretExpiresAt".into(),
        rotated.previous_secret_expires_at.clone().into(),
    );
    let mut listed = Map::new();
    endpoints_json(&saved, &[], ctx.now, &mut listed);
    answer.insert(
        "endpoints".into(),
        listed.remove("endpoints").unwrap_or_default(),
    );
    Ok(json_response(200, &Value::Object(answer)))
}

/// `POST /v1/ports/{port}/alerts/test`: a sample `threshold-crossed`
/// event (`"test": true`, the port's real numbers), signed and posted to
/// each of the port's endpoints now; answers how each receiver answered.
pub async fn test(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let targets = endpoints::effective(&kv(ctx)?, port).await?;
    if targets.is_empty() {
        return Err(ApiError::new(
            409,
            "no-webhook-endpoint",
            format!("neither port {port} nor the default has a webhook endpoint"),
        ));
    }
    let view = ctx.gate(port)?.view(None, false).await?;
    ctx.remember(&view.budget.budget, &view.load);
    let event = AlertEvent {
        id: random_id("evt_test_"),
        kind: EventType::Crossed,
        port: port.to_owned(),
        threshold: Threshold::Soft,
        standing: Standing::of_budget(
            &view.budget.budget,
            view.load.used_amount(view.budget.budget.unit),
            ctx.now,
        ),
        test: true,
    };
    let body = event.body().to_string();
    let config = AlertConfig::of(ctx.env());
    let mut deliveries = Vec::new();
    for target in &targets {
        let subject = Subject {
            port,
            event_id: &event.id,
            endpoint: &target.url,
            body: &body,
        };
        let now = ctx.now.timestamp_millis();
        ctx.d1
            .run("d1.alerts", &[records::attempt(&subject, now)])
            .await?;
        let outcome = consumer::post(target, &event.id, &body, &config, ctx.now).await;
        let status = if outcome.delivered() {
            Status::Delivered
        } else {
            Status::Failed
        };
        ctx.d1
            .run(
                "d1.alerts",
                &[records::finish(
                    port,
                    &event.id,
                    &target.url,
                    status,
                    outcome.response_code,
                    outcome.error.as_deref(),
                    now,
                )],
            )
            .await?;
        deliveries.push(json!({
            "endpoint": target.url,
            "delivered": outcome.delivered(),
            "responseCode": outcome.response_code,
            "error": outcome.error,
        }));
    }
    Ok(json_response(
        200,
        &json!({ "eventId": event.id, "event": event.body(), "deliveries": deliveries }),
    ))
}

/// `GET /v1/ports/{port}/alerts/deliveries?limit=`: the last deliveries,
/// newest first.
pub async fn deliveries(ctx: &mut Ctx, port: &str, req: &Request) -> Result<Response, ApiError> {
    let limit = match query(req, "limit") {
        None => LISTED_DELIVERIES,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "invalid-value",
                    "limit",
                    "limit is a whole number from 1 to 100",
                )
            })?,
    };
    let rows = ctx
        .d1
        .run("d1.read", &[records::recent(port, limit)])
        .await?;
    let list: Vec<Value> = rows
        .first()
        .map(|rows| rows.iter().map(records::row_json).collect())
        .unwrap_or_default();
    Ok(json_response(
        200,
        &json!({ "port": port, "deliveries": list }),
    ))
}

/// `POST /v1/ports/{port}/alerts/deliveries/{eventId}/resend`: the event
/// again, with the same id, to the port's current endpoints (through the
/// queue, with its retries).
pub async fn resend(ctx: &mut Ctx, port: &str, event_id: &str) -> Result<Response, ApiError> {
    let rows = ctx
        .d1
        .run("d1.read", &[records::body_of(port, event_id)])
        .await?;
    let Some(body) = rows
        .first()
        .and_then(|r| r.first())
        .and_then(|r| r.text("body"))
    else {
        return Err(ApiError::new(
            404,
            "event-not-found",
            format!("port {port} has no delivered event {event_id}"),
        ));
    };
    let message = AlertMessage {
        port: port.to_owned(),
        event_id: event_id.to_owned(),
        body,
        endpoint: None,
        now: ctx.clock().header_value(),
    };
    consumer::enqueue(ctx.env(), &message).await.map_err(|e| {
        ApiError::from(StoreError::Unavailable {
            message: format!("the alert queue: {e}"),
        })
    })?;
    Ok(json_response(
        202,
        &json!({ "port": port, "eventId": event_id, "queued": true }),
    ))
}
