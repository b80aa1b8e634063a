//! Who may call: attribution headers, and the port key confirmed with KV.

use worker::Request;

use super::super::auth::Caller;
use super::super::clock;
use super::super::http::ApiError;
use super::super::input;
use super::super::settings::Settings;
use super::cache;

/// A request header as text, if present.
pub(super) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// An attribution header: 1 to `max` characters without control characters.
/// An attribution header, read as UTF-8: 1 to `max` characters by the same
/// rule as the API's text fields ([`input::text_value`]).
pub(super) fn attribution(
    req: &Request,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    input::header_text(header(req, name), name)?
        .map(|value| input::text_value(&value, name, max))
        .transpose()
}

/// Confirms with KV that the port key presented (remembered by this
/// isolate) still acts for `port`.
///
/// # Errors
/// 401 when the key is no longer valid (it was revoked), 403 when it acts
/// for another port, 503 when KV cannot answer (the gate fails closed).
pub(super) async fn confirm_key(
    settings: &Settings,
    secret: Option<&str>,
    key_hash: Option<&str>,
    port: &str,
) -> Result<(), ApiError> {
    let record = match secret {
        Some(secret) => settings.key(secret).await?,
        None => None,
    };
    let Some(record) = record else {
        if let Some(hash) = key_hash {
            cache::forget_key(hash);
        }
        return Err(ApiError::new(
            401,
            "unauthorized",
            "the admin token or port key is not valid",
        ));
    };
    let caller = Caller::Port {
        port: record.port,
        key_id: record.key_id,
    };
    if let Some(hash) = key_hash {
        cache::remember_key(hash, caller.clone(), clock::system_ms());
    }
    caller.may_use_port(port)
}
