//! The estimate phase: everything a call needs before its hold (the
//! provider key, attribution, the port's settings over the gateway's, and
//! the body made ready for the upstream with its estimate).

use serde_json::{Map, Value};
use worker::Request;

use super::super::http::ApiError;
use super::super::input;
use super::access::{attribution, header};
use super::provider::{self, EstimatePolicy, Prepared};
use super::{read_body, Call};

/// A call made ready for its hold.
pub(super) struct Ready {
    /// The provider key.
    pub(super) provider_key: String,
    /// `x-budget-feature` (default `default`).
    pub(super) feature: String,
    /// `x-budget-user`.
    pub(super) user_id: Option<String>,
    /// `Idempotency-Key`: the ledger request id of the call's first attempt.
    pub(super) idempotency_key: Option<String>,
    /// The body for the upstream, its estimate and model.
    pub(super) prepared: Prepared,
}

impl Call {
    /// What a token count needs: the provider key and the request body
    /// (JSON, at most [`super::MAX_REQUEST_BYTES`]) as sent.
    pub(super) async fn ready_count(
        &self,
        req: &mut Request,
    ) -> Result<(String, Vec<u8>), ApiError> {
        let provider_key = self.upstream.configured_key()?;
        let (raw, _) = read_body(req).await?;
        Ok((provider_key, raw))
    }

    /// Everything a call needs before its hold.
    ///
    /// # Errors
    /// 500 without a provider key; 400 for bad attribution, an idempotency
    /// key or body the gateway refuses, or a model the port may not call.
    pub(super) async fn ready(&self, req: &mut Request) -> Result<Ready, ApiError> {
        let provider_key = self.upstream.configured_key()?;
        let feature = attribution(req, "x-budget-feature", 64)?.unwrap_or_else(|| "default".into());
        let user_id = attribution(req, "x-budget-user", 128)?;
        let idempotency_key = match header(req, "Idempotency-Key") {
            None => None,
            Some(key) => {
                let map = Map::from_iter([("Idempotency-Key".to_owned(), Value::from(key))]);
                input::request_id(&map, "Idempotency-Key")?
            }
        };
        // The port's own settings, over the gateway's.
        let settings = self.config.port_settings(&self.port)?;
        let policy = EstimatePolicy {
            default_max_tokens: settings
                .default_max_tokens
                .unwrap_or(self.config.policy.default_max_tokens),
            strict: settings.strict.unwrap_or(self.config.policy.strict),
        };
        let (raw, body) = read_body(req).await?;
        let prepared =
            provider::prepare(self.endpoint, raw, body, policy, self.path_model.as_deref())?;
        if !settings.allows(&prepared.model) {
            return Err(ApiError::bad_field(
                "model-not-allowed",
                "model",
                format!(
                    "port {} may not call model {:?} (see GATEWAY_PORT_SETTINGS)",
                    self.port, prepared.model
                ),
            ));
        }
        Ok(Ready {
            provider_key,
            feature,
            user_id,
            idempotency_key,
            prepared,
        })
    }
}
