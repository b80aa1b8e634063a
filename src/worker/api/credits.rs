//! A port's room beyond its cap: credits (grant, list, void) and
//! temporary raises (add, list, end). Every rule and write is the port
//! gate's ([`crate::gate::credits`]); this reads the request strictly and
//! shapes the answer, amounts in the budget's unit (whole tokens, or
//! decimal dollars).

use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::ctx::Ctx;
use super::json::{instant_or_null, replayed, room_json};
use crate::gate::credits::{CreditView, GrantOp, GrantOutcome};
use crate::gate::store::credits::RaiseRow;
use crate::worker::body::read_json;
use crate::worker::http::{json_response, ApiError};
use crate::worker::ids::random_id;
use crate::worker::input;

fn credit_json(c: &CreditView) -> Value {
    let unit = c.row.unit;
    let a = |n: u64| unit.amount_json(n);
    json!({
        "id": c.row.credit.id,
        "requestId": c.row.request_id,
        "unit": unit.as_str(),
        "amount": a(c.row.credit.amount),
        "spent": a(c.row.credit.spent),
        "left": a(c.left),
        "expiresAt": instant_or_null(c.row.credit.expires_at),
        "expired": c.expired,
        "voidedAt": instant_or_null(c.row.credit.voided_at),
        "note": c.row.note,
        "createdAt": instant_or_null(Some(c.row.credit.created_at)),
    })
}

fn raise_json(r: &RaiseRow, now: i64) -> Value {
    let unit = r.unit;
    let a = |n: u64| unit.amount_json(n);
    json!({
        "id": r.raise.id,
        "requestId": r.request_id,
        "unit": unit.as_str(),
        "extra": a(r.raise.extra),
        "softExtra": a(r.raise.soft()),
        "startsAt": instant_or_null(Some(r.raise.starts_at)),
        "endsAt": instant_or_null(Some(r.raise.ends_at)),
        "inForce": r.raise.in_force(now),
        "endedAt": instant_or_null(r.ended_at),
        "note": r.note,
        "createdAt": instant_or_null(Some(r.created_at)),
    })
}

fn amount_field(
    map: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<Value>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) if required => Err(ApiError::bad_field(
            "missing-field",
            name,
            format!("{name} is required"),
        )),
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::bad_field(
            "invalid-type",
            name,
            format!("{name} must be a number"),
        )),
    }
}

fn unit_field(map: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match map.get("unit") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "tokens" || s == "usd" => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_field(
            "invalid-value",
            "unit",
            "unit must be \"tokens\" or \"usd\"",
        )),
    }
}

/// Sends `op` to the port's gate and shapes its answer (`created`: the
/// status of a new grant or raise).
async fn run(ctx: &mut Ctx, port: &str, op: GrantOp, created: u16) -> Result<Response, ApiError> {
    let answer = ctx.gate(port)?.grants(op).await?;
    let unit = answer.budget.budget.unit;
    ctx.remember_answer(&answer);
    let now = ctx.now.timestamp_millis();
    match answer.result {
        GrantOutcome::Credit {
            credit,
            replayed: again,
            room,
        } => {
            let body = json!({ "credit": credit_json(&credit), "room": room_json(&room, unit) });
            Ok(replayed(
                json_response(if again { 200 } else { created }, &body),
                again,
            ))
        }
        GrantOutcome::Credits { credits, room } => Ok(json_response(
            200,
            &json!({
                "credits": credits.iter().map(credit_json).collect::<Vec<_>>(),
                "room": room_json(&room, unit),
            }),
        )),
        GrantOutcome::Raise {
            raise,
            replayed: again,
            room,
        } => {
            let body = json!({ "raise": raise_json(&raise, now), "room": room_json(&room, unit) });
            Ok(replayed(
                json_response(if again { 200 } else { created }, &body),
                again,
            ))
        }
        GrantOutcome::Raises { raises, room } => Ok(json_response(
            200,
            &json!({
                "raises": raises.iter().map(|r| raise_json(r, now)).collect::<Vec<_>>(),
                "room": room_json(&room, unit),
            }),
        )),
        GrantOutcome::NotFound => Err(ApiError::not_found(format!(
            "port {port} has no credit or raise with that id"
        ))),
        GrantOutcome::Conflict => Err(ApiError::conflict(
            "request-id-conflict",
            "this requestId was used for another write with a different body",
        )),
        GrantOutcome::Invalid {
            code,
            field,
            message,
        } => Err(ApiError::new(400, &code, message).with_field(field)),
    }
}

/// `POST /v1/ports/{port}/credits` (admin): grants credits.
pub async fn grant(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["amount", "unit", "expiresAt", "note", "requestId"])?;
    let amount = amount_field(map, "amount", true)?.unwrap_or_default();
    let op = GrantOp::Grant {
        id: random_id("cr_"),
        request_id: input::request_id(map, "requestId")?.unwrap_or_else(|| random_id("req_")),
        amount,
        unit: unit_field(map)?,
        expires_at: input::instant(map, "expiresAt")?.map(|t| t.timestamp_millis()),
        note: input::text(map, "note", false, 200)?,
    };
    run(ctx, port, op, 201).await
}

/// `GET /v1/ports/{port}/credits`: every grant with what is left.
pub async fn list_credits(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    run(ctx, port, GrantOp::Credits, 200).await
}

/// The audit record's value before a credit is voided or a raise ended:
/// that grant as the port's lists show it (`null` for an unknown id, which
/// the change itself then refuses).
async fn before(ctx: &mut Ctx, port: &str, op: GrantOp, id: &str) -> Result<(), ApiError> {
    let answer = ctx.gate(port)?.grants(op).await?;
    let now = ctx.now.timestamp_millis();
    ctx.before = match answer.result {
        GrantOutcome::Credits { credits, .. } => credits
            .iter()
            .find(|c| c.row.credit.id == id)
            .map_or(Value::Null, |c| json!({ "credit": credit_json(c) })),
        GrantOutcome::Raises { raises, .. } => raises
            .iter()
            .find(|r| r.raise.id == id)
            .map_or(Value::Null, |r| json!({ "raise": raise_json(r, now) })),
        _ => Value::Null,
    };
    Ok(())
}

/// `DELETE /v1/ports/{port}/credits/{id}` (admin): voids what is left.
pub async fn void(ctx: &mut Ctx, port: &str, id: &str) -> Result<Response, ApiError> {
    before(ctx, port, GrantOp::Credits, id).await?;
    run(ctx, port, GrantOp::Void { id: id.to_owned() }, 200).await
}

/// `POST /v1/ports/{port}/raises` (admin): adds a temporary raise.
pub async fn raise(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(
        &body,
        &[
            "extra",
            "softExtra",
            "unit",
            "startsAt",
            "endsAt",
            "note",
            "requestId",
        ],
    )?;
    let extra = amount_field(map, "extra", true)?.unwrap_or_default();
    let ends_at = input::instant(map, "endsAt")?
        .ok_or_else(|| ApiError::bad_field("missing-field", "endsAt", "endsAt is required"))?;
    let op = GrantOp::Raise {
        id: random_id("rz_"),
        request_id: input::request_id(map, "requestId")?.unwrap_or_else(|| random_id("req_")),
        extra,
        soft_extra: amount_field(map, "softExtra", false)?,
        unit: unit_field(map)?,
        starts_at: input::instant(map, "startsAt")?.map(|t| t.timestamp_millis()),
        ends_at: ends_at.timestamp_millis(),
        note: input::text(map, "note", false, 200)?,
    };
    run(ctx, port, op, 201).await
}

/// `GET /v1/ports/{port}/raises`: every raise.
pub async fn list_raises(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    run(ctx, port, GrantOp::Raises, 200).await
}

/// `DELETE /v1/ports/{port}/raises/{id}` (admin): ends a raise now.
pub async fn end_raise(ctx: &mut Ctx, port: &str, id: &str) -> Result<Response, ApiError> {
    before(ctx, port, GrantOp::Raises, id).await?;
    run(ctx, port, GrantOp::EndRaise { id: id.to_owned() }, 200).await
}
