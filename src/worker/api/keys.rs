//! Port keys (admin): issue one (shown once), list, revoke.

use serde::Serialize;
use worker::Response;

use super::ctx::Ctx;
use crate::worker::http::{typed_json_response, ApiError};

/// A key as listed (never the key itself).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedKey<'a> {
    key_id: &'a str,
    created_at: &'a str,
}

/// The answer to `GET /v1/ports/{port}/keys`.
#[derive(Serialize)]
struct KeyList<'a> {
    port: &'a str,
    keys: Vec<ListedKey<'a>>,
}

/// The answer to `POST /v1/ports/{port}/keys`: the key, shown once.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedKey<'a> {
    port: &'a str,
    key_id: &'a str,
    key: &'a str,
    created_at: &'a str,
}

/// The answer to `DELETE /v1/ports/{port}/keys/{keyId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RevokedKey<'a> {
    port: &'a str,
    key_id: &'a str,
    revoked: bool,
}

/// `GET /v1/ports/{port}/keys`.
pub async fn list(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let keys = ctx.settings.keys(port).await?;
    let keys = keys
        .iter()
        .map(|k| ListedKey {
            key_id: &k.key_id,
            created_at: &k.created_at,
        })
        .collect();
    Ok(typed_json_response(200, &KeyList { port, keys }))
}

/// `POST /v1/ports/{port}/keys`.
pub async fn issue(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let issued = ctx.settings.issue_key(port, ctx.now).await?;
    ctx.after = Some(serde_json::json!({
        "port": port,
        "keyId": issued.record.key_id,
        "createdAt": issued.record.created_at,
    }));
    let body = IssuedKey {
        port,
        key_id: &issued.record.key_id,
        key: &issued.key,
        created_at: &issued.record.created_at,
    };
    Ok(typed_json_response(201, &body))
}

/// `DELETE /v1/ports/{port}/keys/{keyId}`: the port's gate learns the
/// key's hash first (every later gateway call presenting it is refused
/// there, whatever an isolate remembers of the key), then the key leaves
/// KV. A failure of either answers 503 and revoking again finishes.
pub async fn revoke(ctx: &mut Ctx, port: &str, key_id: &str) -> Result<Response, ApiError> {
    ctx.before = serde_json::json!({ "port": port, "keyId": key_id });
    let Some(key) = ctx.settings.key_entry(port, key_id).await? else {
        return Err(ApiError::new(
            404,
            "key-not-found",
            format!("port {port} has no key {key_id}"),
        ));
    };
    ctx.gate(port)?
        .revoke_keys(vec![key.entry.hash.clone()])
        .await?;
    ctx.settings.remove_key(port, &key).await?;
    let body = RevokedKey {
        port,
        key_id,
        revoked: true,
    };
    Ok(typed_json_response(200, &body))
}
