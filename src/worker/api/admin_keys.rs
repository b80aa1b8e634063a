//! Admin keys (owner): issue one with a role and an optional scope (the
//! secret shown once), list them, revoke one, rotate one with an overlap.
//! Each change and its audit record are one D1 batch: both or neither.

use chrono::Duration;
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::audit::record;
use super::ctx::Ctx;
use crate::access::{Role, Scope};
use crate::admin_keys::{self, AdminKey, MAX_OVERLAP_SECONDS, SECRET_PREFIX};
use crate::audit::Change;
use crate::worker::body::read_json;
use crate::worker::http::{json_response, ApiError};
use crate::worker::ids::random_id;
use crate::worker::input;
use crate::worker::settings::{hash_secret, new_secret};

/// The longest key name.
const MAX_NAME: usize = 100;
/// The most ports or groups a key is confined to.
const MAX_SCOPE: usize = 100;
/// A rotation's overlap when the request names none: one hour.
const DEFAULT_OVERLAP_SECONDS: i64 = 3_600;

/// A list of port or group ids (`field`), empty when absent.
///
/// # Errors
/// 400 `invalid-type`, `invalid-value`.
fn ids(map: &Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_field(
            "invalid-value",
            field,
            format!(
                "{field} must be a list of at most {MAX_SCOPE} ids of 1 to 64 characters of \
                 A-Z, a-z, 0-9, '.', '_' or '-'"
            ),
        )
    };
    match map.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_SCOPE => {
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let id = item.as_str().filter(|s| crate::allowance::valid_id(s));
                let id = id.ok_or_else(bad)?.to_owned();
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Ok(out)
        }
        Some(_) => Err(bad()),
    }
}

/// The key of the request body of `POST /v1/admin-keys`, issued at `ctx.now`.
///
/// # Errors
/// 400 with the field.
fn new_key(ctx: &Ctx, body: &Value) -> Result<AdminKey, ApiError> {
    let map = input::object(body, &["name", "role", "ports", "groups", "expiresAt"])?;
    let name = input::text(map, "name", true, MAX_NAME)?.unwrap_or_default();
    let role = input::text(map, "role", true, 16)?.unwrap_or_default();
    let role = Role::parse(&role).ok_or_else(|| {
        ApiError::bad_field(
            "invalid-value",
            "role",
            "role must be viewer, editor or owner",
        )
    })?;
    let expires_at = input::instant(map, "expiresAt")?;
    if expires_at.is_some_and(|t| t <= ctx.now) {
        return Err(ApiError::bad_field(
            "invalid-value",
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    Ok(AdminKey {
        key_id: random_id("adm_"),
        name,
        role,
        scope: Scope {
            ports: ids(map, "ports")?,
            groups: ids(map, "groups")?,
        },
        expires_at,
        created_at: ctx.now,
        rotated_at: None,
        revoked_at: None,
    })
}

/// The key's wire form with its secret (shown this once).
fn with_secret(key: &AdminKey, secret: &str) -> Value {
    let mut body = key.json();
    body["key"] = Value::from(secret);
    body
}

/// The change record of an admin-key route.
fn change(ctx: &Ctx, before: Value, after: Value) -> Change {
    Change {
        action: ctx.action.clone(),
        port: None,
        group: None,
        before,
        after,
    }
}

/// `POST /v1/admin-keys`.
pub async fn issue(ctx: &mut Ctx, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let key = new_key(ctx, &body)?;
    let secret = new_secret(SECRET_PREFIX);
    let mut statements = admin_keys::insert(&key, &hash_secret(&secret));
    let audit = change(ctx, Value::Null, key.json());
    statements.push(record(ctx, &audit));
    ctx.d1.run("d1.admin-keys", &statements).await?;
    ctx.audited = true;
    Ok(json_response(201, &with_secret(&key, &secret)))
}

/// `GET /v1/admin-keys`: every key, never a secret.
pub async fn list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let rows = ctx.d1.run("d1.read", &[admin_keys::list()]).await?;
    let keys: Vec<Value> = rows[0]
        .iter()
        .filter_map(admin_keys::key_of)
        .map(|k| k.json())
        .collect();
    Ok(json_response(200, &json!({ "keys": keys })))
}

/// The key `key_id` when it is not revoked.
///
/// # Errors
/// 404 `admin-key-not-found`.
async fn live_key(ctx: &Ctx, key_id: &str) -> Result<AdminKey, ApiError> {
    let rows = ctx.d1.run("d1.read", &[admin_keys::get(key_id)]).await?;
    rows[0]
        .first()
        .and_then(admin_keys::key_of)
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(|| {
            ApiError::new(
                404,
                "admin-key-not-found",
                format!("there is no admin key {key_id} (or it was revoked)"),
            )
        })
}

/// `DELETE /v1/admin-keys/{id}`: every secret of the key stops working.
pub async fn revoke(ctx: &mut Ctx, key_id: &str) -> Result<Response, ApiError> {
    let before = live_key(ctx, key_id).await?;
    let after = AdminKey {
        revoked_at: Some(ctx.now),
        ..before.clone()
    };
    let mut statements = admin_keys::revoke(key_id, ctx.now);
    let audit = change(ctx, before.json(), after.json());
    statements.push(record(ctx, &audit));
    ctx.d1.run("d1.admin-keys", &statements).await?;
    ctx.audited = true;
    Ok(json_response(200, &after.json()))
}

/// `POST /v1/admin-keys/{id}/rotate` (`{"overlapSeconds": n}`, default an
/// hour, at most 30 days): a new secret, shown once; the old one stays
/// valid for the overlap.
pub async fn rotate(ctx: &mut Ctx, key_id: &str, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_json(req).await?;
    let map = input::object(&body, &["overlapSeconds"])?;
    let overlap = input::whole(map, "overlapSeconds", 0..=MAX_OVERLAP_SECONDS as u64)?
        .map_or(DEFAULT_OVERLAP_SECONDS, |s| s as i64);
    let before = live_key(ctx, key_id).await?;
    let after = AdminKey {
        rotated_at: Some(ctx.now),
        ..before.clone()
    };
    let old_until = ctx.now + Duration::seconds(overlap);
    let secret = new_secret(SECRET_PREFIX);
    let mut statements = admin_keys::rotate(key_id, &hash_secret(&secret), ctx.now, old_until);
    let audit = change(ctx, before.json(), after.json());
    statements.push(record(ctx, &audit));
    ctx.d1.run("d1.admin-keys", &statements).await?;
    ctx.audited = true;
    let mut answer = with_secret(&after, &secret);
    answer["previousValidUntil"] = Value::from(crate::time::iso(old_until));
    Ok(json_response(200, &answer))
}
