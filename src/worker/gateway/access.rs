//! The access phase: who calls (the port key, or the admin token, as the
//! HTTP API reads them), and attribution headers. A port key this isolate
//! read from KV a moment ago is not read again: its hash rides on the hold,
//! and the port's object refuses a revoked one (see `cache`).

use std::rc::Rc;

use worker::Request;

use super::super::auth::{authenticate, presented_secret, Caller};
use super::super::clock;
use super::super::gate::GateClient;
use super::super::http::ApiError;
use super::super::input;
use super::super::settings::{hash_secret, Settings};
use super::{cache, Call};

/// A request header as text, if present.
pub(super) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

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

/// A caller's access to the port: its gate and settings, and what confirms
/// its key.
#[derive(Clone)]
pub(super) struct Access {
    /// The port's gate.
    pub(super) gate: Rc<GateClient>,
    /// KV, with the request's faults.
    pub(super) settings: Settings,
    /// The secret presented, and its hash.
    secret: Option<String>,
    key_hash: Option<String>,
    /// The key was read from KV for this call (not remembered).
    read: bool,
    /// The hash of the port key the caller presents (none for the admin
    /// token): the hold carries it to the port's object.
    pub(super) port_key: Option<String>,
}

impl Access {
    /// Confirms with KV that the key still acts for `port`, unless it was
    /// read for this very call: for answers that reach no hold (token
    /// counting, a request refused as malformed), whose key the port's
    /// object does not see.
    ///
    /// # Errors
    /// As [`confirm_key`].
    pub(super) async fn confirm(&self, port: &str) -> Result<(), ApiError> {
        if self.read {
            return Ok(());
        }
        confirm_key(
            &self.settings,
            self.secret.as_deref(),
            self.key_hash.as_deref(),
            port,
        )
        .await
    }
}

impl Call {
    /// Authenticates the caller for the port. A port key this isolate read
    /// for this port a moment ago is taken as it was read, with no KV read;
    /// the hold carries its hash, and the port's object refuses it if it was
    /// revoked since (see `cache`).
    ///
    /// # Errors
    /// 401, 403; 500 when the Worker is misconfigured; 503 when KV cannot
    /// be read.
    pub(super) async fn admit(&mut self, req: &Request) -> Result<(), ApiError> {
        let Ok(settings) = self.bindings.settings() else {
            worker::console_error!("the BUDGETS binding is missing");
            return Err(ApiError::new(
                500,
                "internal",
                "the Worker is misconfigured",
            ));
        };
        let gate = Rc::new(self.bindings.gate(&self.port)?);
        let now_ms = clock::system_ms();
        let secret = presented_secret(req);
        let key_hash = secret.as_deref().map(hash_secret);
        let remembered = key_hash
            .as_deref()
            .and_then(|hash| cache::key(hash, now_ms))
            .filter(|caller| caller.may_use_port(&self.port).is_ok());
        let read = remembered.is_none();
        let caller = match remembered {
            Some(caller) => caller,
            None => {
                let admin_token = self.bindings.admin_token.as_deref();
                let caller = authenticate(req, admin_token, &settings).await?;
                if let (Some(hash), Caller::Port { .. }) = (&key_hash, &caller) {
                    cache::remember_key(hash, caller.clone(), now_ms);
                }
                caller.may_use_port(&self.port)?;
                caller
            }
        };
        let port_key = match caller {
            Caller::Port { .. } => key_hash.clone(),
            _ => None,
        };
        self.access = Some(Access {
            gate,
            settings,
            secret,
            key_hash,
            read,
            port_key,
        });
        Ok(())
    }
}

/// Confirms with KV that the port key presented (remembered by this
/// isolate) still acts for `port`.
///
/// # Errors
/// 401 when the key is no longer valid (it was revoked), 403 when it acts
/// for another port, 503 when KV cannot answer (the gate fails closed).
async fn confirm_key(
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
        return Err(not_valid());
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

/// 401: the key presented is not (or no longer) valid.
pub(super) fn not_valid() -> ApiError {
    ApiError::new(
        401,
        "unauthorized",
        "the admin token or port key is not valid",
    )
}
