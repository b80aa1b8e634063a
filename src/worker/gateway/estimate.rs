//! The estimate phase: everything a call needs before its hold (the
//! provider key, attribution, the port's settings over the gateway's, and
//! the body made ready for the upstream with its estimate).

use serde_json::{Map, Value};

use crate::actions::Acted;
use crate::gate::gateway::SavedGatewaySettings;
use crate::llm::port_settings::PortSettings;
use worker::Request;

use super::super::http::ApiError;
use super::super::input;
use super::access::{attribution, header};
use super::provider::{self, EstimatePolicy, Prepared};
use super::{read_body, saved, Call};

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
    /// The body as the client sent it (bytes and JSON): prepared again
    /// under newer settings, or for a cheaper model.
    source: (Vec<u8>, Value),
    /// The port's settings the call was prepared under (its own over the
    /// gateway's), and their version (`None`: not known yet).
    pub(super) settings: PortSettings,
    pub(super) version: Option<i64>,
    /// The model the client asked for, when an action sent a cheaper one,
    /// and the action (its cap, the port's or the feature's).
    pub(super) downgraded: Option<(String, Acted)>,
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
        let (raw, body) = read_body(req).await?;
        let (mut settings, mut version) = self.settings()?;
        let source = (raw, body);
        let prepared = match self.prepared(&settings, &source) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                // Refused under settings this isolate may hold stale (or
                // never learned): the port's gate says which are in force,
                // and only under those does the refusal stand.
                let Some(saved) = self.newer_settings(version).await else {
                    return Err(refusal);
                };
                settings = saved.settings.over(&self.config.port_settings(&self.port)?);
                version = Some(saved.version);
                saved::remember(&self.port, saved);
                self.prepared(&settings, &source)?
            }
        };
        Ok(Ready {
            provider_key,
            feature,
            user_id,
            idempotency_key,
            prepared,
            source,
            settings,
            version,
            downgraded: None,
        })
    }

    /// The settings saved in the port's gate, when they are not those of
    /// `version` (`None`: none known); `None` when they are, or when the
    /// gate cannot be asked.
    async fn newer_settings(&self, version: Option<i64>) -> Option<SavedGatewaySettings> {
        let saved = self.access().ok()?.gate.gateway_settings().await.ok()?;
        (saved.version != version.unwrap_or(0)).then_some(saved)
    }

    /// The port's settings: those saved in its gate (as this isolate last
    /// learned them) over `GATEWAY_PORT_SETTINGS`'s, and their version.
    fn settings(&self) -> Result<(PortSettings, Option<i64>), ApiError> {
        let defaults = self.config.port_settings(&self.port)?;
        Ok(match saved::get(&self.port) {
            Some(saved) => (saved.settings.over(&defaults), Some(saved.version)),
            None => (defaults, None),
        })
    }

    /// Prepares the body for the upstream under the call's settings.
    ///
    /// # Errors
    /// 400 for a body the gateway refuses, or a model the port may not call.
    fn prepared(
        &self,
        settings: &PortSettings,
        source: &(Vec<u8>, Value),
    ) -> Result<Prepared, ApiError> {
        let policy = EstimatePolicy {
            default_max_tokens: settings
                .default_max_tokens
                .unwrap_or(self.config.policy.default_max_tokens),
            strict: settings.strict.unwrap_or(self.config.policy.strict),
        };
        let (raw, body) = source.clone();
        let prepared =
            provider::prepare(self.endpoint, raw, body, policy, self.path_model.as_deref())?;
        if !settings.allows(&prepared.model) {
            return Err(ApiError::bad_field(
                "model-not-allowed",
                "model",
                format!(
                    "port {} may not call model {:?} (see its gateway settings)",
                    self.port, prepared.model
                ),
            ));
        }
        Ok(prepared)
    }

    /// Prepares the call again under the settings its port's gate answered.
    pub(super) fn prepare_under(
        &self,
        ready: &mut Ready,
        saved: SavedGatewaySettings,
    ) -> Result<(), ApiError> {
        let defaults = self.config.port_settings(&self.port)?;
        ready.settings = saved.settings.over(&defaults);
        ready.version = Some(saved.version);
        saved::remember(&self.port, saved);
        ready.prepared = self.prepared(&ready.settings, &ready.source)?;
        Ok(())
    }

    /// Prepares the call again with the cheaper `model` an action named
    /// (in the body, or in the path for Gemini).
    pub(super) fn prepare_downgraded(
        &mut self,
        ready: &mut Ready,
        model: String,
        acted: Acted,
    ) -> Result<(), ApiError> {
        let original = ready.prepared.model.clone();
        if self.endpoint.model_in_path() {
            self.path_model = Some(model);
        } else if let Value::Object(map) = &mut ready.source.1 {
            map.insert("model".into(), Value::String(model));
            ready.source.0 = ready.source.1.to_string().into_bytes();
        }
        ready.downgraded = Some((original, acted));
        ready.prepared = self.prepared(&ready.settings, &ready.source)?;
        Ok(())
    }
}
