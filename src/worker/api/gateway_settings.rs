//! A port's gateway settings (strict mode, default output bound, models,
//! actions at the caps): read them, and save them whole through the port's
//! gate over `If-Match`, as budgets are saved; a save binds the port's very
//! next gateway call. `GATEWAY_PORT_SETTINGS` stays the deployment's
//! default: a setting the port leaves out is the variable's.

use serde_json::{json, Value};
use worker::{Request, Response};

use super::ctx::Ctx;
use crate::gate::gateway::{GatewaySaveOutcome, SavedGatewaySettings};
use crate::llm::port_settings::PortSettings;
use crate::worker::body::read_json;
use crate::worker::gateway::config::GatewayConfig;
use crate::worker::http::{json_response, set, ApiError};

/// The answer: the saved settings' fields, who saved them and when (the
/// `ETag`), and the deployment's defaults for the port.
fn settings_response(
    ctx: &Ctx,
    port: &str,
    saved: &SavedGatewaySettings,
) -> Result<Response, ApiError> {
    let config = GatewayConfig::of_isolate(ctx.env());
    let mut defaults = config.port_settings(port)?;
    defaults.strict = defaults.strict.or(Some(config.policy.strict));
    defaults.default_max_tokens = defaults
        .default_max_tokens
        .or(Some(config.policy.default_max_tokens));
    let mut body = serde_json::to_value(&saved.settings).unwrap_or_else(|_| json!({}));
    body["port"] = port.into();
    body["updatedAt"] = saved.updated_at.clone().map_or(Value::Null, Value::from);
    body["updatedBy"] = saved.updated_by.clone().map_or(Value::Null, Value::from);
    body["defaults"] = serde_json::to_value(&defaults).unwrap_or_else(|_| json!({}));
    let mut response = json_response(200, &body);
    if let Some(at) = &saved.updated_at {
        set(&mut response, "ETag", &format!("\"{at}\""));
    }
    Ok(response)
}

/// `GET /v1/ports/{port}/gateway`.
pub async fn get(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let saved = ctx.gate(port)?.gateway_settings().await?;
    settings_response(ctx, port, &saved)
}

/// `PUT /v1/ports/{port}/gateway`: the settings whole (a setting left out
/// is the deployment's), validated first (400 with the field, nothing
/// saved), then saved by the port's gate only over the version `If-Match`
/// names (else 412, nothing saved).
pub async fn put(ctx: &mut Ctx, port: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let if_match = req.headers().get("If-Match").ok().flatten();
    let settings = PortSettings::from_json(&body)
        .map_err(|e| ApiError::new(400, e.code, e.message).with_field(Some(e.field)))?;
    let outcome = ctx
        .gate(port)?
        .save_gateway_settings(settings, if_match, &ctx.caller.actor())
        .await?;
    match outcome {
        GatewaySaveOutcome::Saved { saved, before } => {
            // The audit record's value before: the settings this save replaced.
            let mut value = serde_json::to_value(&before.settings).unwrap_or(Value::Null);
            if value.is_object() {
                value["port"] = port.into();
            }
            ctx.before = value;
            settings_response(ctx, port, &saved)
        }
        GatewaySaveOutcome::PreconditionFailed { saved } => Err(ApiError::new(
                412,
                "precondition-failed",
                "the gateway settings changed since the If-Match value was read; read them again and retry",
            ).with_extra(json!({ "gateway": saved.settings }))),
    }
}
