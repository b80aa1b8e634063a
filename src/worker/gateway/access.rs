//! The access phase: who calls (the port key, or the admin token, as the
//! HTTP API reads them), and attribution headers. A port key this isolate
//! read from KV a moment ago is not read again: its hash rides on the hold,
//! and the port's object refuses a revoked one (see [`port_key`]).

use std::rc::Rc;

use worker::Request;

use super::super::auth::{authenticate, presented_secret};
use super::super::caller::Caller;
use super::super::gate::GateClient;
use super::super::http::ApiError;
use super::super::input;
use super::super::port_key::{self, PresentedKey};
use super::super::settings::Settings;
use super::Call;

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

/// A caller's access to the port: its gate and settings, and the port key
/// it presents.
#[derive(Clone)]
pub(super) struct Access {
    /// The port's gate.
    pub(super) gate: Rc<GateClient>,
    /// KV, with the request's faults.
    pub(super) settings: Settings,
    /// The port key the caller presents (none for the admin token): the
    /// hold carries its hash to the port's object.
    pub(super) key: Option<Rc<PresentedKey>>,
}

impl Access {
    /// Confirms with KV that the key still acts for the port, unless it
    /// was confirmed for this very call: for answers that reach no hold
    /// (token counting, a request refused as malformed), whose key the
    /// port's object does not see.
    ///
    /// # Errors
    /// 401 when the key is no longer valid (it was revoked), 503 when KV
    /// cannot answer (the gate fails closed).
    pub(super) async fn confirm(&self) -> Result<(), ApiError> {
        match &self.key {
            Some(key) => Ok(key.confirm(&self.settings).await?),
            None => Ok(()),
        }
    }
}

impl Call {
    /// Authenticates the caller for the port. A port key this isolate
    /// remembers for this port is taken as it was read, with no KV read;
    /// the hold carries its hash, and the port's object refuses it if it
    /// was revoked since (see [`port_key`]).
    ///
    /// # Errors
    /// 401, 403; 500 when the Worker is misconfigured; 503 when KV cannot
    /// be read.
    pub(super) async fn admit(&mut self, req: &Request) -> Result<(), ApiError> {
        let settings = self.bindings.settings();
        let gate = Rc::new(self.bindings.gate(&self.port)?);
        let secret = presented_secret(req);
        let key = match secret
            .as_deref()
            .and_then(|s| port_key::remembered(s, &self.port))
        {
            Some((_, key)) => Some(key),
            None => {
                let admin_token = self.bindings.admin_token.as_deref();
                let caller = authenticate(req, admin_token, &settings).await?;
                caller.may_use_port(&self.port)?;
                match (caller, secret) {
                    (Caller::Port { .. }, Some(secret)) => {
                        Some(PresentedKey::read(&secret, &self.port))
                    }
                    _ => None,
                }
            }
        };
        self.access = Some(Access {
            gate,
            settings,
            key: key.map(Rc::new),
        });
        Ok(())
    }
}
