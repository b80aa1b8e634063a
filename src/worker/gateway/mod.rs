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

pub mod cache;
pub mod config;
pub mod provider;
pub mod stream;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use futures_util::future::{select, Either};
use serde_json::{json, Value};
use worker::{
    AbortController, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, ResponseBody,
};

use super::auth::{authenticate, presented_secret, Caller};
use super::clock::{self, Clock};
use super::fault::Faults;
use super::gate::GateClient;
use super::http::{refusal, set, ApiError, BudgetState};
use super::ids::{fingerprint, random_id};
use super::input;
use super::settings::{hash_secret, Settings};
use crate::gate::{
    CallUsage, CommitOutcome, HoldRequest, HoldState, PortLoad, ReleaseOutcome, ReserveOutcome,
    TokenCounts,
};
use crate::llm::redact::Redactor;
use crate::{charge, Budget};
use config::{text_setting, GatewayConfig, Upstream};
pub use config::{DEFAULT_HOLD_TTL_SECONDS, DEFAULT_MAX_TOKENS, DEFAULT_UPSTREAM_TIMEOUT_MS};
use provider::{Endpoint, Estimate, GatewayPath, Prepared, Provider, Usage};
use stream::{StreamEnd, UsageTracker};

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

/// A held call on its way upstream: what settling it needs.
struct HeldCall {
    gate: Rc<GateClient>,
    /// This call's id: its commit is known as its own on retries.
    write_id: String,
    port: String,
    budget: Budget,
    reservation_id: String,
    user_id: Option<String>,
    /// The provider's name (the ledger's provider column).
    provider: String,
    model: String,
    estimate: Estimate,
}

impl HeldCall {
    /// Commits `usage` (the provider's), attributing the model the response
    /// named (else the requested one).
    async fn commit(&self, usage: Usage, model: Option<&str>) -> Option<PortLoad> {
        let model: String = model
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.model)
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        let usage = CallUsage {
            user_id: self.user_id.clone(),
            feature: None,
            provider: self.provider.clone(),
            model,
            tokens: TokenCounts {
                input_tokens: usage.input_tokens,
                cached_input_tokens: usage.cached_input_tokens,
                cache_write_tokens: usage.cache_write_tokens,
                output_tokens: usage.output_tokens,
                reasoning_tokens: usage.reasoning_tokens,
            },
        };
        let hash = fingerprint(&json!({
            "provider": usage.provider,
            "model": usage.model,
            "userId": usage.user_id,
            "tokens": usage.tokens,
        }));
        match self
            .gate
            .commit(&self.reservation_id, &usage, &hash, &self.write_id)
            .await
            .map(|answer| answer.result)
        {
            Ok(CommitOutcome::Committed { load, .. }) => Some(load),
            Ok(other) => {
                worker::console_error!(
                    "gateway: commit of {} on port {} not applied: {}",
                    self.reservation_id,
                    self.port,
                    match other {
                        CommitOutcome::NotFound { .. } => "not found",
                        CommitOutcome::TooLarge { .. } => "a total would pass 2^53 - 1",
                        _ => "conflict",
                    }
                );
                None
            }
            Err(e) => {
                // The hold stays and expires: then it is charged as its estimate.
                worker::console_error!(
                    "gateway: commit of {} on port {} failed: {e:?}",
                    self.reservation_id,
                    self.port
                );
                None
            }
        }
    }

    /// Charges a call whose usage the gateway could not see to its end, by
    /// the core's rule ([`charge::broken_off`]): the hold, its input part
    /// lowered to the provider's input count when one was reported. Never
    /// zero, never more than the hold.
    async fn charge_unseen(&self, input_reported: Option<u64>, model: Option<&str>) {
        let charge = charge::broken_off(
            self.estimate.input_tokens,
            self.estimate.output_tokens,
            input_reported,
        );
        // No detail: what the call read from cache or spent on reasoning
        // is unknown.
        self.commit(Usage::new(charge.input_tokens, charge.output_tokens), model)
            .await;
    }

    /// Gives the hold back: the upstream refused the call.
    async fn release(&self) -> Option<PortLoad> {
        match self
            .gate
            .release(&self.reservation_id)
            .await
            .map(|answer| answer.result)
        {
            Ok(ReleaseOutcome::Released { load, .. }) => Some(load),
            Ok(_) => None,
            Err(e) => {
                worker::console_error!(
                    "gateway: release of {} on port {} failed: {e:?}",
                    self.reservation_id,
                    self.port
                );
                None
            }
        }
    }

    /// Settles a streamed call from how its stream ended.
    async fn settle_stream(self, end: StreamEnd) {
        let seen = end.seen();
        match seen.final_usage() {
            Some(usage) => {
                self.commit(usage, seen.model.as_deref()).await;
            }
            None => {
                worker::console_warn!(
                    "gateway: stream of {} on port {} {} without usage; charged by rule",
                    self.reservation_id,
                    self.port,
                    end.as_str()
                );
                self.charge_unseen(seen.input_tokens, seen.model.as_deref())
                    .await;
            }
        }
    }
}

/// A request header as text, if present.
fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// An attribution header: 1 to `max` characters without control characters.
/// An attribution header, read as UTF-8: 1 to `max` characters by the same
/// rule as the API's text fields ([`input::text_value`]).
fn attribution(req: &Request, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    input::header_text(header(req, name), name)?
        .map(|value| input::text_value(&value, name, max))
        .transpose()
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
        let (raw, body) = read_body(req).await?;
        let prepared = provider::prepare(endpoint, raw, body, config.policy)?;
        Ok((
            config,
            provider_key,
            feature,
            user_id,
            idempotency_key,
            prepared,
        ))
    }

    /// Holds the call's estimate. A request id whose earlier call is settled
    /// (an SDK retrying a failed call with the same `Idempotency-Key`) moves
    /// on to `{key} #2`, `{key} #3`, ... ([`attempt_request_id`]): each
    /// upstream call is counted once.
    #[allow(clippy::too_many_arguments)]
    async fn reserve(
        &mut self,
        gate: &GateClient,
        prepared: &Prepared,
        feature: &str,
        user_id: Option<&str>,
        idempotency_key: Option<String>,
        body_hash: &str,
        ttl_seconds: u64,
    ) -> Result<(String, String, Budget, PortLoad), ApiError> {
        let base = idempotency_key.unwrap_or_else(|| random_id("gw_"));
        for attempt in 1..=MAX_ATTEMPTS_PER_KEY {
            let request_id = attempt_request_id(&base, attempt);
            let hold = HoldRequest {
                estimated_tokens: prepared.estimate.total(),
                feature: feature.to_owned(),
                user_id: user_id.map(str::to_owned),
                request_id: request_id.clone(),
                ttl_seconds,
                body_hash: body_hash.to_owned(),
                hold_id: random_id("rsv_"),
            };
            let answer = gate.reserve(&hold).await?;
            let budget = &answer.budget.budget;
            match answer.result {
                ReserveOutcome::Held {
                    hold,
                    load,
                    replayed: false,
                } => return Ok((hold.id, request_id, *budget, load)),
                ReserveOutcome::Held { hold, load, .. } if hold.state == HoldState::Held => {
                    self.remember(*budget, &load);
                    return Err(ApiError::conflict(
                        "call-in-flight",
                        "a call with this Idempotency-Key is still in flight",
                    ));
                }
                ReserveOutcome::Held { .. } => continue,
                ReserveOutcome::Refused { refusal: r, load } => {
                    self.remember(*budget, &load);
                    return Err(refusal(&r, self.now));
                }
                ReserveOutcome::Conflict { load, .. } => {
                    self.remember(*budget, &load);
                    return Err(ApiError::conflict(
                        "idempotency-key-conflict",
                        "this Idempotency-Key was used for a different request",
                    ));
                }
                ReserveOutcome::TooLarge { refusal: r, load } => {
                    self.remember(*budget, &load);
                    return Err(super::http::total_too_large(&r));
                }
            }
        }
        Err(ApiError::conflict(
            "idempotency-key-exhausted",
            format!("this Idempotency-Key was already used for {MAX_ATTEMPTS_PER_KEY} calls"),
        ))
    }

    /// Sends the call upstream and answers with the provider's response,
    /// settling the hold.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &mut self,
        req: &Request,
        endpoint: Endpoint,
        config: &GatewayConfig,
        upstream: &Upstream,
        provider_key: &str,
        prepared: Prepared,
        held: HeldCall,
    ) -> Result<Response, ApiError> {
        let sent = send(
            req,
            endpoint,
            config,
            upstream,
            provider_key,
            &prepared.body,
            prepared.stream,
        )
        .await;
        let (mut upstream, controller) = match sent {
            Ok(sent) => sent,
            Err(e) => {
                // Nothing was used upstream.
                self.settled(&held, held.release().await);
                return Err(e);
            }
        };
        let status = upstream.status_code();
        let content_type = upstream
            .headers()
            .get("Content-Type")
            .ok()
            .flatten()
            .unwrap_or_default();
        let out_headers = relayed_headers(&upstream, provider_key);
        let _ = out_headers.set("x-budget-reservation", &held.reservation_id);

        if (200..300).contains(&status) && content_type.starts_with("text/event-stream") {
            let (_, body) = upstream.into_parts();
            let ResponseBody::Stream(body) = body else {
                return Err(ApiError::new(
                    502,
                    "upstream-malformed",
                    "the upstream stream could not be read",
                ));
            };
            let tracker = UsageTracker::new(endpoint.usage_format(), !prepared.client_wants_usage);
            let scrubber = Redactor::new(provider_key);
            let relay = stream::relay(body, tracker, scrubber)
                .map_err(|_| ApiError::new(500, "internal", "the stream could not be relayed"))?;
            let readable = relay.readable.clone();
            let idle_timeout = config.upstream_timeout;
            self.ctx.wait_until(async move {
                let end = relay.end(idle_timeout, controller).await;
                held.settle_stream(end).await;
            });
            let response = Response::builder()
                .with_status(status)
                .with_headers(out_headers)
                .stream(readable);
            return Ok(response);
        }

        let body = match select(
            Box::pin(upstream.bytes()),
            Delay::from(config.upstream_timeout),
        )
        .await
        {
            Either::Left((Ok(bytes), _)) => bytes,
            Either::Left((Err(_), _)) | Either::Right(_) => {
                // The call may have run upstream: charge it by rule.
                held.charge_unseen(None, None).await;
                self.measure_after(&held).await;
                return Err(ApiError::new(
                    502,
                    "upstream-malformed",
                    "the upstream response broke off before its end; the call is charged its estimate",
                ));
            }
        };
        let body = redact(body, provider_key);
        if !(200..300).contains(&status) {
            // The provider refused the call: nothing was used.
            self.settled(&held, held.release().await);
            return Ok(Response::from_bytes(body)
                .map_err(|_| ApiError::new(500, "internal", "internal error"))?
                .with_status(status)
                .with_headers(out_headers));
        }
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let usage = parsed
            .as_ref()
            .and_then(|v| provider::response_usage(endpoint, v));
        let Some(usage) = usage else {
            held.charge_unseen(None, None).await;
            self.measure_after(&held).await;
            return Err(ApiError::new(
                502,
                "upstream-malformed",
                format!(
                    "the {} upstream answered without readable usage; the call is charged its estimate",
                    held.provider
                ),
            ));
        };
        let model = parsed
            .as_ref()
            .and_then(|v| v.get("model"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Committed after the answer, like a stream: the client does not wait
        // for the ledger write; the budget headers show the state as of the gate.
        self.ctx.wait_until(async move {
            held.commit(usage, model.as_deref()).await;
        });
        Ok(Response::from_bytes(body)
            .map_err(|_| ApiError::new(500, "internal", "internal error"))?
            .with_status(status)
            .with_headers(out_headers))
    }

    /// Updates the budget state after a settlement, when it reported one.
    fn settled(&mut self, held: &HeldCall, load: Option<PortLoad>) {
        if let Some(load) = load {
            self.remember(held.budget, &load);
        }
    }

    async fn measure_after(&mut self, held: &HeldCall) {
        if let Ok(view) = held.gate.view(None, false).await {
            self.remember(view.budget.budget, &view.load);
        }
    }
}

/// Sends a request body upstream with the provider key (a provider's
/// redirect is never followed: the prompt goes to the provider's origin and
/// nowhere else): the upstream's answer and the controller that aborts it.
///
/// # Errors
/// 502 `upstream-unreachable`, 504 `upstream-timeout` (no response headers
/// within the timeout; the request is aborted), 502 `upstream-redirect`.
async fn send(
    req: &Request,
    endpoint: Endpoint,
    config: &GatewayConfig,
    upstream: &Upstream,
    provider_key: &str,
    body: &[u8],
    stream: bool,
) -> Result<(Response, AbortController), ApiError> {
    let provider = &upstream.name;
    let mut url = format!("{}{}", upstream.base_url, endpoint.upstream_path());
    if let Some(query) = req.url().ok().and_then(|u| u.query().map(str::to_owned)) {
        url.push('?');
        url.push_str(&query);
    }
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set(
        "Accept",
        if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    );
    match upstream.dialect {
        Provider::OpenAi => {
            let _ = headers.set("Authorization", &format!("Bearer {provider_key}"));
        }
        Provider::Anthropic => {
            let _ = headers.set("x-api-key", provider_key);
            let version = header(req, "anthropic-version").unwrap_or_else(|| "2023-06-01".into());
            let _ = headers.set("anthropic-version", &version);
            if let Some(beta) = header(req, "anthropic-beta") {
                let _ = headers.set("anthropic-beta", &beta);
            }
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body).into()));
    let upstream_request = Request::new_with_init(&url, &init).map_err(|e| {
        worker::console_error!("gateway: bad upstream request: {e}");
        ApiError::new(500, "internal", "the upstream request could not be built")
    })?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(upstream_request);
    let sent = select(
        Box::pin(fetch.send_with_signal(&signal)),
        Delay::from(config.upstream_timeout),
    )
    .await;
    let upstream = match sent {
        Either::Left((Ok(response), _)) => response,
        Either::Left((Err(e), _)) => {
            worker::console_warn!("gateway: upstream {} unreachable: {e}", provider);
            return Err(ApiError::new(
                502,
                "upstream-unreachable",
                format!("the {} upstream could not be reached", provider),
            ));
        }
        Either::Right(_) => {
            controller.abort();
            return Err(ApiError::new(
                504,
                "upstream-timeout",
                format!(
                    "the {} upstream did not answer within {} ms",
                    provider,
                    config.upstream_timeout.as_millis()
                ),
            ));
        }
    };
    let status = upstream.status_code();
    if (300..400).contains(&status) {
        worker::console_warn!(
            "gateway: the {} upstream answered {status} (a redirect); not followed",
            provider
        );
        return Err(ApiError::new(
            502,
            "upstream-redirect",
            format!(
                "the {} upstream answered with a redirect ({status}), which the gateway does not follow; nothing was charged",
                provider
            ),
        ));
    }
    Ok((upstream, controller))
}

/// The upstream's headers a client sees (redacted like a body), and ours.
fn relayed_headers(upstream: &Response, provider_key: &str) -> Headers {
    let out_headers = Headers::new();
    for name in ["Content-Type", "x-request-id", "request-id", "Retry-After"] {
        if let Some(value) = upstream.headers().get(name).ok().flatten() {
            // A header that echoes the key is redacted like a body.
            let value = Redactor::redact_all(provider_key, value.as_bytes());
            let _ = out_headers.set(name, &String::from_utf8_lossy(&value));
        }
    }
    let _ = out_headers.set("Cache-Control", "no-store");
    out_headers
}

/// Token counting (`.../responses/input_tokens`, `.../v1/messages/count_tokens`):
/// the body goes upstream as the client sent it, and the answer (any status)
/// comes back redacted. Nothing is held or counted: the provider does not
/// bill it as a call.
async fn pass_through(
    req: &Request,
    endpoint: Endpoint,
    config: &GatewayConfig,
    upstream: &Upstream,
    provider_key: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (mut upstream, _controller) =
        send(req, endpoint, config, upstream, provider_key, body, false).await?;
    let status = upstream.status_code();
    let out_headers = relayed_headers(&upstream, provider_key);
    let body = match select(
        Box::pin(upstream.bytes()),
        Delay::from(config.upstream_timeout),
    )
    .await
    {
        Either::Left((Ok(bytes), _)) => bytes,
        Either::Left((Err(_), _)) | Either::Right(_) => {
            return Err(ApiError::new(
                502,
                "upstream-malformed",
                "the upstream response broke off before its end",
            ));
        }
    };
    Ok(Response::from_bytes(redact(body, provider_key))
        .map_err(|_| ApiError::new(500, "internal", "internal error"))?
        .with_status(status)
        .with_headers(out_headers))
}

/// The ledger request id of a call's `attempt`-th upstream call under one
/// idempotency key: the key itself, then `{key} #2`, `{key} #3`, ... A
/// client's key (like every request id of the HTTP API) is visible ASCII,
/// never a space, so no client key is ever another key's attempt: a client
/// sending `Idempotency-Key: idem #2` is refused as malformed, and one
/// sending `idem~2` is a key of its own, untouched by retries of `idem`.
fn attempt_request_id(key: &str, attempt: u32) -> String {
    if attempt == 1 {
        key.to_owned()
    } else {
        format!("{key} #{attempt}")
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

/// SHA-256 (hex) of bytes.
fn hex_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Removes the provider key, in every spelling a JSON reader decodes back
/// into it, from a body before it reaches the client (an upstream may echo
/// the key it was sent in an error).
fn redact(body: Vec<u8>, key: &str) -> Vec<u8> {
    Redactor::redact_all(key, &body)
}
