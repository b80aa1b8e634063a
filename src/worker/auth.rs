//! Who is calling: the admin (the `ADMIN_TOKEN` secret) or a port key.
//!
//! Secrets travel as `Authorization: Bearer <secret>` (or `x-api-key`, the
//! header Anthropic-style clients send). The admin token is compared in
//! constant time; port keys are looked up by their SHA-256 hash, so KV never
//! holds a usable key.

use subtle::ConstantTimeEq;
use worker::Request;

use super::http::ApiError;
use super::settings::{hash_secret, Settings};

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Holds the admin token: may do everything.
    Admin,
    /// Holds a port key: may check, reserve, record and read its own port.
    Port {
        /// The port the key acts for.
        port: String,
        /// The key's public id.
        key_id: String,
    },
}

impl Caller {
    /// A short name for audit fields (`admin` or the key id).
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".to_owned(),
            Caller::Port { key_id, .. } => key_id.clone(),
        }
    }

    /// 403 unless this caller may act on `port`.
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn may_use_port(&self, port: &str) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Port { port: own, .. } if own == port => Ok(()),
            Caller::Port { .. } => Err(ApiError::new(
                403,
                "forbidden",
                "this key belongs to another port",
            )),
        }
    }

    /// 403 unless this caller is the admin.
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn must_be_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Port { .. } => Err(ApiError::new(
                403,
                "forbidden",
                "this route needs the admin token",
            )),
        }
    }
}

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

/// Authenticates `req`.
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
    if let Some(admin) = admin_token.filter(|t| !t.is_empty()) {
        // Hashes have equal lengths, so the comparison leaks neither the
        // token's length nor its prefix.
        let same = hash_secret(admin)
            .as_bytes()
            .ct_eq(hash_secret(&secret).as_bytes());
        if bool::from(same) {
            return Ok(Caller::Admin);
        }
    }
    match settings.key(&secret).await? {
        Some(record) => Ok(Caller::Port {
            port: record.port,
            key_id: record.key_id,
        }),
        None => Err(ApiError::new(
            401,
            "unauthorized",
            "the admin token or port key is not valid",
        )),
    }
}
