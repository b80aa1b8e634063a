//! Port keys (admin): issue one (shown once), list, revoke.

use serde_json::json;
use worker::Response;

use super::Ctx;
use crate::worker::http::{json_response, ApiError};

/// `GET /v1/ports/{port}/keys`.
pub async fn list(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let keys = ctx.settings.keys(port).await?;
    Ok(json_response(
        200,
        &json!({
            "port": port,
            "keys": keys.iter().map(|k| json!({"keyId": k.key_id, "createdAt": k.created_at})).collect::<Vec<_>>(),
        }),
    ))
}

/// `POST /v1/ports/{port}/keys`.
pub async fn issue(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
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

/// `DELETE /v1/ports/{port}/keys/{keyId}`.
pub async fn revoke(ctx: &mut Ctx, port: &str, key_id: &str) -> Result<Response, ApiError> {
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
