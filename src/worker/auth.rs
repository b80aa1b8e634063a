//! Who is calling: the admin (the `ADMIN_TOKEN` secret), an admin key
//! (a role, maybe confined to some ports and groups; kept in D1) or a port
//! key (kept in KV).
//!
//! Secrets travel as `Authorization: Bearer <secret>` (or `x-api-key`, the
//! header Anthropic-style clients send). The admin token is compared in
//! constant time; keys are looked up by their SHA-256 hash
//! ([`hash_secret`], one rule for both kinds), so no store holds a usable
//! key. An admin key's secret starts with
//! [`crate::admin_keys::SECRET_PREFIX`]: only the API's
//! routes look it up (in D1); the gateway takes port keys and the token.

use subtle::ConstantTimeEq;
use worker::Request;

use super::cache;
use super::caller::{admin_key_refused, Caller};
use super::clock;
use super::d1::D1;
use super::http::ApiError;
use super::settings::{hash_secret, Settings};
use crate::admin_keys::{self, SECRET_PREFIX};

/// The secret a request presents, if any: the first well-formed one of
/// `Authorization: Bearer <secret>`, `x-api-key: <secret>` and
/// `x-goog-api-key: <secret>` (Gemini's SDKs). A header of
/// another scheme (say `Basic`, added by a proxy) does not hide a good
/// `x-api-key`.
pub fn presented_secret(req: &Request) -> Option<String> {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let bearer = header("Authorization").and_then(|value| {
        let (scheme, secret) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| secret.trim().to_owned())
    });
    let key_header = |name: &str| {
        header(name)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    bearer
        .filter(|s| !s.is_empty())
        .or_else(|| key_header("x-api-key"))
        .or_else(|| key_header("x-goog-api-key"))
}

/// Authenticates `req`, reading a port key from KV (and remembering it in
/// the isolate: see [`super::port_key`]).
///
/// # Errors
/// 401 `unauthorized` when no secret or an unknown one is presented; 503
/// when KV cannot be read.
pub async fn authenticate(
    req: &Request,
    admin_token: Option<&str>,
    settings: &Settings,
) -> Result<Caller, ApiError> {
    let Some(secret) = presented_secret(req) else {
        return Err(ApiError::new(
            401,
            "unauthorized",
            "send the admin token or a port key as Authorization: Bearer <secret>",
        ));
    };
    let hash = hash_secret(&secret);
    if let Some(admin) = admin_token.filter(|t| !t.is_empty()) {
        // Hashes have equal lengths, so the comparison leaks neither the
        // token's length nor its prefix.
        let same = hash_secret(admin).as_bytes().ct_eq(hash.as_bytes());
        if bool::from(same) {
            return Ok(Caller::Admin);
        }
    }
    if secret.starts_with(SECRET_PREFIX) {
        return Err(admin_key_refused());
    }
    let Some(record) = settings.key(&secret).await? else {
        cache::forget_key(&hash);
        return Err(super::http::not_valid());
    };
    let caller = Caller::Port {
        port: record.port,
        key_id: record.key_id,
    };
    // The next request presenting it reads no KV ([`super::port_key`]).
    cache::remember_key(&hash, caller.clone(), clock::system_ms());
    Ok(caller)
}

/// 401 for a secret that is not (or no longer) valid.
fn invalid_secret() -> ApiError {
    ApiError::new(
        401,
        "unauthorized",
        "the admin token or key is not valid (unknown, expired or revoked)",
    )
}

/// Authenticates `req` for an API route: an admin key's secret is looked
/// up in D1 (valid at `now`: not expired, not revoked, not past a
/// rotation's overlap); any other secret as [`authenticate`] does.
///
/// # Errors
/// 401 `unauthorized`; 503 when D1 or KV cannot be read.
pub async fn authenticate_api(
    req: &Request,
    admin_token: Option<&str>,
    settings: &Settings,
    d1: &D1,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, ApiError> {
    match presented_secret(req) {
        Some(secret) if secret.starts_with(SECRET_PREFIX) => {
            let rows = d1
                .run("d1.read", &[admin_keys::by_secret(&hash_secret(&secret))])
                .await?;
            rows.first()
                .and_then(|rows| rows.first())
                .and_then(|row| admin_keys::valid_key(row, now))
                .map(|key| Caller::Key(Box::new(key)))
                .ok_or_else(invalid_secret)
        }
        _ => authenticate(req, admin_token, settings).await,
    }
}
