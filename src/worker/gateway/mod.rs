//! The LLM gateway: OpenAI- and Anthropic-style calls proxied per port, each
//! gated by the port's budget before it is forwarded and counted with the
//! provider's own usage after it (see `docs/gateway.md`).
//!
//! - `POST /v1/ports/{port}/openai/chat/completions`
//! - `POST /v1/ports/{port}/openai/responses`
//! - `POST /v1/ports/{port}/openai/embeddings`
//! - `POST /v1/ports/{port}/anthropic/v1/messages`
//! - token counting, passed through uncounted:
//!   `POST /v1/ports/{port}/openai/responses/input_tokens` and
//!   `POST /v1/ports/{port}/anthropic/v1/messages/count_tokens`
//! - the same paths of a provider of the `GATEWAY_PROVIDERS` table (or a
//!   built-in one) by name: `POST /v1/ports/{port}/providers/{name}/...`
//!
//! A call's life: authenticate the port key (as the HTTP API does), estimate
//! the call's tokens ([`provider::prepare`]), hold them with
//! the port's gate ([`GateClient::reserve`], the one atomic gate, in the
//! port's Durable Object), forward with the provider key, then
//! [`GateClient::commit`] the reported usage, or [`GateClient::release`] the hold
//! when the upstream refused the call. A streamed call is settled when its
//! relay ends (finished, cut, or interrupted by the client), under
//! `ctx.wait_until`.
//!
//! One module per phase: [`config`] (vars, secrets, the provider an upstream
//! call goes to), `access` (attribution, the key confirmed), [`provider`]
//! (each dialect's endpoints, bounds, estimate and errors), `hold`,
//! `forward` (upstream and back, plain or through [`stream`]), `settle`
//! (commit, charge by rule, release). What is pure (usage, server-sent
//! events, the provider table, redaction) lives in `crate::llm`.

mod access;
pub mod cache;
pub mod config;
mod forward;
mod hold;
pub mod provider;
mod settle;
pub mod stream;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use worker::{Context, Env, Method, Request, Response};

use super::auth::{authenticate, presented_secret, Caller};
use super::clock::{self, Clock};
use super::fault::Faults;
use super::gate::GateClient;
use super::http::{set, ApiError, BudgetState};
use super::ids::{fingerprint, random_id};
use super::input;
use super::settings::{hash_secret, Settings};
use crate::gate::PortLoad;
use crate::Budget;
use access::{attribution, confirm_key, header};
use config::{text_setting, GatewayConfig, Upstream};
pub use config::{DEFAULT_HOLD_TTL_SECONDS, DEFAULT_MAX_TOKENS, DEFAULT_UPSTREAM_TIMEOUT_MS};
use forward::pass_through;
use provider::{Endpoint, EstimatePolicy, GatewayPath, Prepared, Provider};
use settle::HeldCall;

/// The largest request body the gateway forwards.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// How many ledger request ids one `Idempotency-Key` may take (an SDK
/// retrying a failed call sends the same key again).
const MAX_ATTEMPTS_PER_KEY: u32 = 8;

/// True when `path` belongs to the gateway rather than the HTTP API.
pub fn handles(path: &str) -> bool {
    GatewayPath::parse(path).is_some()
}

/// Answers one gateway request. Errors come in the provider's own format;
/// every answer after authentication carries the port's budget headers.
pub async fn handle(mut req: Request, env: Env, ctx: Context, clock: Clock) -> Response {
    let Some(target) = GatewayPath::parse(&req.path()) else {
        return provider_error(
            Provider::OpenAi,
            ApiError::not_found("no gateway route for this path"),
        );
    };
    let config = GatewayConfig::from_env(&env);
    // Errors before the provider is known come in OpenAI's format.
    let provider = config.dialect(&target.provider).unwrap_or(Provider::OpenAi);
    let mut call = Gate {
        env,
        ctx,
        clock,
        now: clock.now(),
        config,
        target,
        port_access: None,
        state: None,
    };
    let result = call.serve(&mut req).await;
    // A body left unread by an early refusal is drained, so the client's
    // keep-alive connection carries its next call.
    super::http::discard_body(&mut req).await;
    let mut response = result.unwrap_or_else(|e| provider_error(provider, e));
    if call.state.is_none() {
        call.measure().await;
    }
    if let Some(state) = &call.state {
        state.apply(&mut response);
    }
    response
}

/// A provider-format error answer.
fn provider_error(provider: Provider, error: ApiError) -> Response {
    let body = provider::error_body(provider, &error);
    let mut response = super::http::json_response(error.status, &body);
    if let Some(seconds) = error.retry_after {
        set(&mut response, "Retry-After", &seconds.to_string());
    }
    if let Some(allow) = &error.allow {
        set(&mut response, "Allow", allow);
    }
    error.set_headers(&mut response);
    if error.status == 429 && error.code == "budget-exceeded" {
        // Waiting a few seconds will not make the budget fit: tell the SDKs
        // not to retry on their own.
        set(&mut response, "x-should-retry", "false");
    }
    response
}

/// The port's gate, once the caller is known to act for it.
struct PortAccess {
    gate: Rc<GateClient>,
}

/// One gateway request.
struct Gate {
    env: Env,
    ctx: Context,
    /// The request's clock: settlement after the answer reads it again.
    clock: Clock,
    /// The instant the call was gated at.
    now: DateTime<Utc>,
    config: GatewayConfig,
    target: GatewayPath,
    port_access: Option<PortAccess>,
    state: Option<BudgetState>,
}

impl Gate {
    fn port(&self) -> &str {
        &self.target.port
    }

    fn remember(&mut self, budget: Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(budget, load, self.now));
    }

    /// Reads the port's budget state for an answer that has none yet (only
    /// for a caller allowed to see the port).
    async fn measure(&mut self) {
        let Some(access) = &self.port_access else {
            return;
        };
        if let Ok(view) = access.gate.view(None, false).await {
            self.remember(view.budget.budget, &view.load);
        }
    }

    async fn serve(&mut self, req: &mut Request) -> Result<Response, ApiError> {
        let upstream = self.config.upstream(&self.env, &self.target.provider)?;
        let Some(endpoint) = self.target.endpoint(upstream.dialect) else {
            return Err(ApiError::not_found(format!(
                "the gateway proxies POST .../openai/chat/completions, .../openai/responses, \
                 .../openai/responses/input_tokens, .../openai/embeddings, \
                 .../anthropic/v1/messages and .../anthropic/v1/messages/count_tokens; not {}",
                req.path()
            )));
        };
        if super::http::known_method(req) != Some(Method::Post) {
            return Err(super::http::method_not_allowed(
                &req.path(),
                &[Method::Post],
            ));
        }
        input::port(self.port())?;
        let faults_on = self
            .env
            .var("FAULT_INJECTION")
            .map(|v| v.to_string() == "on")
            .unwrap_or(false);
        let fault_header = header(req, "x-fault").filter(|_| faults_on);
        let faults = Rc::new(Faults::from_header(faults_on, fault_header.clone()));
        let Ok(kv) = self.env.kv("BUDGETS") else {
            worker::console_error!("the BUDGETS binding is missing");
            return Err(ApiError::new(
                500,
                "internal",
                "the Worker is misconfigured",
            ));
        };
        let gate = Rc::new(GateClient::new(
            &self.env,
            self.port(),
            self.clock,
            fault_header,
        )?);
        let settings = Settings::new(kv, faults);
        let admin_token = text_setting(&self.env, "ADMIN_TOKEN");
        let port = self.port().to_owned();
        let now_ms = clock::system_ms();
        let secret = presented_secret(req);
        let key_hash = secret.as_deref().map(hash_secret);
        // A port key this isolate confirmed for this port a moment ago lets
        // the hold start without reading KV first; the key is read again
        // alongside the hold, and the call goes nowhere until that read
        // confirms it (see `cache`).
        let remembered = key_hash
            .as_deref()
            .and_then(|hash| cache::key(hash, now_ms))
            .filter(|caller| caller.may_use_port(&port).is_ok());
        let confirmed = match remembered {
            Some(_) => false,
            None => {
                let caller = authenticate(req, admin_token.as_deref(), &settings).await?;
                if let (Some(hash), Caller::Port { .. }) = (&key_hash, &caller) {
                    cache::remember_key(hash, caller.clone(), now_ms);
                }
                caller.may_use_port(&port)?;
                true
            }
        };
        let confirm = || async {
            if confirmed {
                return Ok(());
            }
            confirm_key(&settings, secret.as_deref(), key_hash.as_deref(), &port).await
        };
        self.port_access = Some(PortAccess { gate: gate.clone() });

        if endpoint.uncounted() {
            // Token counting: confirmed like a call, never held or counted.
            let ready = self.ready_count(req, &upstream).await;
            if let Err(refused) = confirm().await {
                self.port_access = None;
                return Err(refused);
            }
            let (config, provider_key, raw) = ready?;
            return pass_through(req, endpoint, &config, &upstream, &provider_key, &raw).await;
        }

        let ready = self.ready_call(req, endpoint, &upstream).await;
        let (config, provider_key, feature, user_id, idempotency_key, prepared) = match ready {
            Ok(ready) => ready,
            Err(e) => {
                // An unconfirmed key learns nothing, not even that its
                // request was malformed, until KV confirms it.
                if let Err(refused) = confirm().await {
                    self.port_access = None;
                    return Err(refused);
                }
                return Err(e);
            }
        };
        let body_hash = fingerprint(&json!({
            "endpoint": endpoint.upstream_path(),
            "body": hex_digest(&prepared.body),
        }));
        let (held, confirmation) = futures_util::join!(
            self.reserve(
                &gate,
                &settings,
                &prepared,
                &feature,
                user_id.as_deref(),
                idempotency_key,
                &body_hash,
                config.hold_ttl_seconds,
            ),
            confirm()
        );
        if let Err(refused) = confirmation {
            // The key is no longer valid: give back what was held for it.
            if let Ok((reservation, _, _, _)) = &held {
                let _ = gate.release(reservation).await;
            }
            self.port_access = None;
            self.state = None;
            return Err(refused);
        }
        let (reservation, request_id, budget, load) = held?;
        self.remember(budget, &load);
        let held = HeldCall {
            gate,
            write_id: random_id("w_"),
            port: self.port().to_owned(),
            budget,
            reservation_id: reservation,
            user_id,
            provider: upstream.name.clone(),
            model: prepared.model.clone(),
            estimate: prepared.estimate,
            settings: settings.clone(),
        };
        let mut response = self
            .forward(
                req,
                endpoint,
                &config,
                &upstream,
                &provider_key,
                prepared,
                held,
            )
            .await?;
        set(&mut response, "x-budget-request-id", &request_id);
        Ok(response)
    }

    /// What a token count needs: the configuration, the provider key and
    /// the request body (JSON, at most [`MAX_REQUEST_BYTES`]) as sent.
    async fn ready_count(
        &mut self,
        req: &mut Request,
        upstream: &Upstream,
    ) -> Result<(GatewayConfig, String, Vec<u8>), ApiError> {
        let config = self.config.clone();
        let provider_key = upstream.configured_key()?;
        let (raw, _) = read_body(req).await?;
        Ok((config, provider_key, raw))
    }

    /// Everything a call needs before its hold: the configuration and
    /// provider key, attribution, and the body made ready for the upstream.
    #[allow(clippy::type_complexity)]
    async fn ready_call(
        &mut self,
        req: &mut Request,
        endpoint: Endpoint,
        upstream: &Upstream,
    ) -> Result<
        (
            GatewayConfig,
            String,
            String,
            Option<String>,
            Option<String>,
            Prepared,
        ),
        ApiError,
    > {
        let config = self.config.clone();
        let provider_key = upstream.configured_key()?;
        let feature = attribution(req, "x-budget-feature", 64)?.unwrap_or_else(|| "default".into());
        let user_id = attribution(req, "x-budget-user", 128)?;
        let idempotency_key = match header(req, "Idempotency-Key") {
            None => None,
            Some(key) => {
                let map =
                    serde_json::Map::from_iter([("Idempotency-Key".to_owned(), Value::from(key))]);
                input::request_id(&map, "Idempotency-Key")?
            }
        };
        // The port's own settings, over the gateway's.
        let settings = config.port_settings(self.port())?;
        let policy = EstimatePolicy {
            default_max_tokens: settings
                .default_max_tokens
                .unwrap_or(config.policy.default_max_tokens),
            strict: settings.strict.unwrap_or(config.policy.strict),
        };
        let (raw, body) = read_body(req).await?;
        let prepared = provider::prepare(endpoint, raw, body, policy)?;
        if !settings.allows(&prepared.model) {
            return Err(ApiError::bad_field(
                "model-not-allowed",
                "model",
                format!(
                    "port {} may not call model {:?} (see GATEWAY_PORT_SETTINGS)",
                    self.port(),
                    prepared.model
                ),
            ));
        }
        Ok((
            config,
            provider_key,
            feature,
            user_id,
            idempotency_key,
            prepared,
        ))
    }
}

/// Reads the request body, at most [`MAX_REQUEST_BYTES`], with the API's
/// one streaming reader (a chunked body is cut off at the limit, never
/// buffered whole): its bytes and its JSON.
async fn read_body(req: &mut Request) -> Result<(Vec<u8>, Value), ApiError> {
    let bytes = super::http::read_body(req, MAX_REQUEST_BYTES).await?;
    let value = super::http::parse_json(&bytes)?;
    Ok((bytes, value))
}

/// SHA-256 (hex) of bytes.
fn hex_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
