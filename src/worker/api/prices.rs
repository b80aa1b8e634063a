//! The price table: read it (anyone authenticated), set and delete a
//! model's price (admin). An entry is validated by the core by the rule
//! the shipped table is read by ([`BilledPrice::from_json`]: input-size
//! tiers, 1-hour cache writes, service tiers); nothing is saved on a 400.
//! A change may be scheduled for a later instant (`effectiveFrom`).

use serde_json::{json, Value};
use worker::{Request, Response};

use super::ctx::Ctx;
use chrono::{DateTime, Utc};

use crate::pricing::billing::BilledPrice;
use crate::pricing::versions::PriceVersion;
use crate::pricing::DEFAULT_PRICES_JSON;
use crate::time::iso;
use crate::worker::body::read_json;
use crate::worker::http::{json_response, ApiError};
use crate::worker::input;
use crate::worker::prices::price_row;

/// The model id of a path segment: percent-decoded (so ids with `/` or
/// `:` can be named), then 1 to 128 characters shown as written.
///
/// # Errors
/// `invalid-value`.
pub fn model_id(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        // `%` begins an escape, always: two hex digits, or the path is
        // malformed (never read as a literal `%`).
        let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else {
            return Err(ApiError::bad_field(
                "invalid-value",
                "model",
                "the model id in the path has a malformed percent-encoding (% must be followed by two hex digits; a % itself is %25)",
            ));
        };
        out.push((high * 16 + low) as u8);
        i += 3;
    }
    let text = String::from_utf8(out)
        .map_err(|_| ApiError::bad_field("invalid-value", "model", "the model id must be UTF-8"))?;
    input::text_value(&text, "model", 128)
}

/// `GET /v1/prices`: every priced model, by model, with the shipped
/// figures' date and sources.
pub async fn list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let table = ctx.settings.prices(ctx.now).await?;
    let scheduled = ctx.settings.scheduled_all(ctx.now).await?;
    let shipped: Value = serde_json::from_str(DEFAULT_PRICES_JSON).unwrap_or_default();
    let rows: Vec<Value> = table
        .iter()
        .filter_map(|(m, _)| {
            let mut row = price_row(m, &table.billed_of(m)?);
            if let Some((_, changes)) = scheduled.iter().find(|(model, _)| model == m) {
                row["scheduled"] = changes.iter().map(PriceVersion::json).collect();
            }
            Some(row)
        })
        .collect();
    Ok(json_response(
        200,
        &json!({
            "asOf": shipped["asOf"],
            "sources": shipped["sources"],
            "prices": rows,
        }),
    ))
}

fn price_not_found(model: &str) -> ApiError {
    ApiError::new(
        404,
        "price-not-found",
        format!("the price table has no price for {model:?}"),
    )
    .with_extra(json!({ "model": model }))
}

/// `GET /v1/prices/{model}`: the price a call for `model` is charged (a
/// dated id's base model's when it has none of its own).
pub async fn get(ctx: &mut Ctx, model: &str) -> Result<Response, ApiError> {
    let table = ctx.settings.prices_for(model, ctx.now).await?;
    let (Some((priced_as, _)), Some(price)) = (table.priced_as(model), table.billed_of(model))
    else {
        return Err(price_not_found(model));
    };
    let mut row = price_row(priced_as, &price);
    row["model"] = model.into();
    row["pricedAs"] = priced_as.into();
    let scheduled = ctx.settings.scheduled_prices(priced_as, ctx.now).await?;
    if !scheduled.is_empty() {
        row["scheduled"] = scheduled.iter().map(PriceVersion::json).collect();
    }
    Ok(json_response(200, &row))
}

/// `model`'s own price row (not a base model's), `null` when it has none:
/// the audit record's value before a change.
async fn own_price(ctx: &Ctx, model: &str) -> Result<Value, ApiError> {
    let table = ctx.settings.prices_for(model, ctx.now).await?;
    Ok(match (table.priced_as(model), table.billed_of(model)) {
        (Some((priced_as, _)), Some(price)) if priced_as == model => price_row(model, &price),
        _ => Value::Null,
    })
}

/// The instant a price change takes effect: the body's `effectiveFrom`
/// (taken out of it), now when it has none. A change never takes effect
/// before now: what a past call cost is not rewritten.
///
/// # Errors
/// `invalid-instant`, `invalid-type`, `effective-from-past`.
fn effective_from(body: &mut Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let Some(fields) = body.as_object_mut() else {
        return Ok(now);
    };
    let from = input::instant(fields, "effectiveFrom")?;
    fields.remove("effectiveFrom");
    match from {
        None => Ok(now),
        Some(from) if from < now => Err(ApiError::bad_field(
            "effective-from-past",
            "effectiveFrom",
            format!(
                "effectiveFrom {} is before now ({}): a price change takes effect now or later, never rewriting what past calls cost",
                iso(from),
                iso(now)
            ),
        )),
        Some(from) => Ok(from),
    }
}

/// `PUT /v1/prices/{model}` (admin): sets `model`'s price, a whole entry
/// as billed (the fields a shipped entry may have), in force from now or
/// from the later instant `effectiveFrom` names (a new version from then;
/// the price in force until then stays).
pub async fn put(ctx: &mut Ctx, model: &str, req: &mut Request) -> Result<Response, ApiError> {
    let mut body = read_json(req).await?;
    let from = effective_from(&mut body, ctx.now)?;
    for name in ["inputPerMTok", "outputPerMTok"] {
        if body.is_object() && body.get(name).is_none_or(Value::is_null) {
            return Err(ApiError::bad_field(
                "missing-field",
                name,
                format!("a price needs {name} (dollars per million tokens)"),
            ));
        }
    }
    let price = BilledPrice::from_json(&body)?;
    ctx.before = own_price(ctx, model).await?;
    ctx.settings.set_price(model, &price, from, ctx.now).await?;
    let mut row = price_row(model, &price);
    row["effectiveFrom"] = iso(from).into();
    Ok(json_response(200, &row))
}

/// `DELETE /v1/prices/{model}` (admin): removes `model`'s price.
pub async fn delete(ctx: &mut Ctx, model: &str) -> Result<Response, ApiError> {
    ctx.before = own_price(ctx, model).await?;
    if ctx.settings.remove_price(model, ctx.now).await? {
        Ok(json_response(
            200,
            &json!({ "model": model, "deleted": true }),
        ))
    } else {
        Err(price_not_found(model))
    }
}
