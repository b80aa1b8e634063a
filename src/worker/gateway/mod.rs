//! The LLM gateway: OpenAI- and Anthropic-style calls proxied per port, each
//! gated by the port's budget before it is forwarded and counted with the
//! provider's own usage after it (see `docs/gateway.md`).
//!
//! - `POST /v1/ports/{port}/openai/chat/completions`
//! - `POST /v1/ports/{port}/openai/responses`
//! - `POST /v1/ports/{port}/openai/embeddings`
//! - `POST /v1/ports/{port}/anthropic/v1/messages`
//! - `POST /v1/ports/{port}/gemini/v1beta/models/{model}:generateContent`
//!   and `...:streamGenerateContent` (with `alt=sse` or as one JSON array)
//! - token counting, passed through uncounted:
//!   `POST /v1/ports/{port}/openai/responses/input_tokens`,
//!   `POST /v1/ports/{port}/anthropic/v1/messages/count_tokens` and
//!   `POST /v1/ports/{port}/gemini/v1beta/models/{model}:countTokens`
//! - the same paths of a provider of the `GATEWAY_PROVIDERS` table (or a
//!   built-in one) by name: `POST /v1/ports/{port}/providers/{name}/...`
//!
//! A call's life: authenticate the port key (as the HTTP API does), estimate
//! the call's tokens ([`provider::prepare`]), hold them with the port's
//! gate ([`GateClient::reserve`], the one atomic gate, in the port's
//! Durable Object), forward with the provider key, then
//! [`GateClient::commit`] the reported usage, or [`GateClient::release`]
//! the hold when the upstream refused the call. A streamed call is settled when its
//! relay ends (finished, cut, or interrupted by the client), under
//! `ctx.wait_until`.
//!
//! [`GateClient::reserve`]: crate::worker::gate::GateClient::reserve
//! [`GateClient::commit`]: crate::worker::gate::GateClient::commit
//! [`GateClient::release`]: crate::worker::gate::GateClient::release
//!
//! One module per phase: [`config`] (vars, secrets, the provider an upstream
//! call goes to), `access` (attribution, the key confirmed), [`provider`]
//! (each dialect's endpoints, bounds, estimate and errors), `hold`,
//! `forward` (upstream and back, plain or through [`stream`]), `settle`
//! (commit, charge by rule, release). What is pure (usage, server-sent
//! events, the provider table, redaction) lives in `crate::llm`.

mod access;
pub mod config;
mod estimate;
mod forward;
mod hold;
pub mod provider;
mod saved;
mod settle;
pub mod stream;

use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde_json::json;
use worker::{Context, Method, Request, Response};

use super::bindings::Bindings;
use super::budget_state::BudgetState;
use super::gate::tally::{self, Tally};
use super::http::{set, ApiError};
use super::ids::{fingerprint, random_id};
use super::input;
use super::port_key::PresentedKey;
use crate::gate::PortLoad;
use crate::Budget;
use access::Access;
use config::{GatewayConfig, Upstream};
pub use config::{DEFAULT_HOLD_TTL_SECONDS, DEFAULT_MAX_TOKENS, DEFAULT_UPSTREAM_TIMEOUT_MS};
use estimate::Ready;
use provider::{Endpoint, GatewayPath, Provider};
use settle::HeldCall;

/// The largest request body the gateway forwards.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// How many ledger request ids one `Idempotency-Key` may take (an SDK
/// retrying a failed call sends the same key again).
const MAX_ATTEMPTS_PER_KEY: u32 = 8;

/// Answers one gateway request (a path of the gateway's rows in the route
/// table). Errors come in the provider's own format; every answer after
/// authentication carries the port's budget headers.
pub async fn handle(req: &mut Request, bindings: Bindings, ctx: Context) -> Response {
    let Some(target) = GatewayPath::parse(&req.path()) else {
        return provider_error(
            Provider::OpenAi,
            ApiError::not_found("no gateway route for this path"),
        );
    };
    // Under the test seams the answer tells the work the call caused.
    let seams = bindings.seams;
    let faults = bindings.faults.clone();
    let asked_of = seams
        .then(|| access::header(req, OPERATIONS_OF_HEADER))
        .flatten();
    let config = GatewayConfig::of_isolate(&bindings.env);
    // Errors before the provider is known come in OpenAI's format.
    let provider = config.dialect(&target.provider).unwrap_or(Provider::OpenAi);
    let (result, call) = match Call::route(req, bindings, ctx, config, target) {
        Ok(mut call) => (call.serve(req).await, Some(call)),
        Err(e) => (Err(e), None),
    };
    // A body left unread by an early refusal is drained, so the client's
    // keep-alive connection carries its next call.
    super::body::discard_body(req).await;
    let mut response = result.unwrap_or_else(|e| provider_error(provider, e));
    if let Some(mut call) = call {
        if call.state.is_none() {
            call.measure().await;
        }
        if let Some(state) = &call.state {
            state.apply(&mut response);
        }
        if let Some(group) = &call.group_soft {
            super::budget_state::group_over_soft(&mut response, group);
        }
    }
    if seams {
        let own = faults.work.tally().header_value();
        set(&mut response, OPERATIONS_HEADER, &own);
        set(&mut response, ISOLATE_HEADER, &Tally::now().header_value());
        if let Some(label) = asked_of {
            let done = tally::finished_tally(&label);
            let shown = done.map_or_else(|| "pending".to_owned(), |t| t.header_value());
            set(&mut response, OPERATIONS_OF_HEADER, &shown);
        }
    }
    response
}

/// The answer's header (test seams only) with the work the call (or an API
/// request) caused before its answer, as [`Tally::header_value`] writes it (`kv=1 ...`):
/// its own KV reads, D1 batches and statements, round trips to objects,
/// JSON texts to and from them, and the SQL statements and transactions
/// its requests ran in them.
pub const OPERATIONS_HEADER: &str = "x-test-operations";
/// The answer's header (test seams only) with the isolate's tally so far
/// (every request's work, and the objects' own).
pub const ISOLATE_HEADER: &str = "x-test-isolate";
/// A request header naming an earlier call (by its `x-budget-request-id`)
/// and the answer's header with that call's whole tally, what it left for
/// after its answer included, once it is done (else `pending`).
pub const OPERATIONS_OF_HEADER: &str = "x-test-operations-of";

/// A provider-format error answer.
fn provider_error(provider: Provider, error: ApiError) -> Response {
    let body = provider::error_body(provider, &error);
    let mut response = super::http::json_response(error.status, &body);
    error.set_headers(&mut response);
    if error.status == 429 && error.code == "budget-exceeded" {
        // Waiting a few seconds will not make the budget fit: tell the SDKs
        // not to retry on their own.
        set(&mut response, "x-should-retry", "false");
    }
    response
}

/// One gateway call: the context its phases read and fill, in order
/// (pingora's per-request CTX). Routing gives the upstream and endpoint;
/// access ([`Call::admit`]) the caller's gate and settings; the estimate
/// ([`Ready`]) what is held; the hold, forwarding and settlement the
/// port's budget state for the answer's headers.
struct Call {
    bindings: Bindings,
    ctx: Context,
    /// The instant the call was gated at.
    now: DateTime<Utc>,
    config: Rc<GatewayConfig>,
    /// The port.
    port: String,
    /// Where the call goes.
    upstream: Upstream,
    /// What it calls there.
    endpoint: Endpoint,
    /// The model a Gemini path names.
    path_model: Option<String>,
    /// A Gemini stream the client reads as one JSON array (it did not ask
    /// for `alt=sse`); the upstream is asked for events all the same.
    array_stream: bool,
    /// The port's gate and settings, once the caller is known to act for
    /// the port.
    access: Option<Access>,
    /// The port's budget state as last measured.
    state: Option<BudgetState>,
    /// The group above the port over its soft cap, as the hold answered.
    group_soft: Option<String>,
}

/// What the hold answered: the hold and the ledger request id of the
/// call, and the port's budget state.
struct Held {
    reservation_id: String,
    request_id: String,
    budget: Budget,
    load: PortLoad,
    /// What an action at the caps did to the call, if one applied.
    acted: Option<crate::actions::Acted>,
}

impl Call {
    /// The routing phase: the upstream of the path's provider, the
    /// endpoint the rest of the path names, the method (only POST), and
    /// the port's id.
    ///
    /// # Errors
    /// 404 for an unknown provider or endpoint, 405, 400 `invalid-port`,
    /// 500 for a provider table that is not valid.
    fn route(
        req: &Request,
        bindings: Bindings,
        ctx: Context,
        config: Rc<GatewayConfig>,
        target: GatewayPath,
    ) -> Result<Call, ApiError> {
        let upstream = config.upstream(&bindings.env, &target.provider)?;
        let Some(endpoint) = target.endpoint(upstream.dialect) else {
            return Err(ApiError::not_found(format!(
                "the gateway proxies POST .../openai/chat/completions, .../openai/responses, \
                 .../openai/responses/input_tokens, .../openai/embeddings, \
                 .../anthropic/v1/messages, .../anthropic/v1/messages/count_tokens and \
                 .../gemini/v1beta/models/{{model}}:generateContent, :streamGenerateContent, \
                 :countTokens; not {}",
                req.path()
            )));
        };
        if super::http::known_method(req) != Some(Method::Post) {
            return Err(super::http::method_not_allowed(
                &req.path(),
                &[Method::Post],
            ));
        }
        input::port(&target.port)?;
        let path_model = target.path_model().map(str::to_owned);
        if let Some(model) = &path_model {
            if !crate::llm::routes::valid_path_model(model) {
                return Err(ApiError::bad_field(
                    "invalid-request",
                    "model",
                    "the model in the path must be 1 to 128 of A-Z, a-z, 0-9 and -._~;=,",
                ));
            }
        }
        let array_stream = endpoint == Endpoint::StreamGenerateContent && !asks_for_events(req);
        Ok(Call {
            now: bindings.clock.now(),
            bindings,
            ctx,
            config,
            port: target.port,
            upstream,
            endpoint,
            path_model,
            array_stream,
            access: None,
            state: None,
            group_soft: None,
        })
    }

    fn remember(&mut self, budget: Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(budget, load, self.now));
    }

    /// Reads the port's budget state for an answer that has none yet (only
    /// for a caller allowed to see the port).
    async fn measure(&mut self) {
        let Some(access) = &self.access else {
            return;
        };
        if let Ok(view) = access.gate.view(None, false).await {
            self.remember(view.budget.budget, &view.load);
        }
    }

    /// The port's gate and settings (a copy: the phases run beside each
    /// other).
    fn access(&self) -> Result<Access, ApiError> {
        self.access
            .clone()
            .ok_or_else(|| ApiError::new(500, "internal", "internal error"))
    }

    /// Confirms the caller's key with KV (unless it was read for this call).
    ///
    /// # Errors
    /// The refusal, which forgets the caller's access.
    async fn confirmed(&mut self) -> Result<(), ApiError> {
        let access = self.access()?;
        match access.confirm().await {
            Ok(()) => Ok(()),
            Err(refused) => Err(self.refused(refused)),
        }
    }

    /// Forgets the caller's access (its key was refused), and with it the
    /// budget state its answer would have carried.
    fn refused(&mut self, refusal: ApiError) -> ApiError {
        self.access = None;
        self.state = None;
        refusal
    }

    async fn serve(&mut self, req: &mut Request) -> Result<Response, ApiError> {
        self.admit(req).await?;
        if self.endpoint.uncounted() {
            return self.count(req).await;
        }
        let ready = self.ready(req).await;
        let mut ready = match ready {
            Ok(ready) => ready,
            Err(e) => {
                // An unconfirmed key learns nothing, not even that its
                // request was malformed, until KV confirms it.
                self.confirmed().await?;
                return Err(e);
            }
        };
        let held = self.hold(&mut ready).await?;
        self.remember(held.budget, &held.load);
        let request_id = held.request_id.clone();
        let mut headers = Vec::new();
        if let Some((original, acted)) = &ready.downgraded {
            headers.push(("X-Budget-Original-Model", original.clone()));
            hold::action_headers(&mut headers, *acted, &ready.feature);
        } else if let Some(acted) = held.acted {
            hold::action_headers(&mut headers, acted, &ready.feature);
        }
        if self.bindings.seams {
            self.bindings.faults.label(&request_id);
        }
        let call = self.held_call(&ready, held)?;
        let mut response = self.forward(req, ready, call).await?;
        set(&mut response, "x-budget-request-id", &request_id);
        for (name, value) in &headers {
            set(&mut response, name, value);
        }
        Ok(response)
    }

    /// Token counting: confirmed like a call, never held or counted.
    async fn count(&mut self, req: &mut Request) -> Result<Response, ApiError> {
        let ready = self.ready_count(req).await;
        self.confirmed().await?;
        let (provider_key, raw) = ready?;
        self.pass_through(req, &provider_key, &raw).await
    }

    /// The hold, which carries the caller's port key to the port's object:
    /// a key revoked since this isolate read it is refused there, nothing
    /// held (and the isolate forgets it). The port's gate may answer
    /// settings newer than those the call was prepared under, or a cheaper
    /// model an action at a cap names: the call is prepared again and held
    /// again (a few rounds at most).
    async fn hold(&mut self, ready: &mut Ready) -> Result<Held, ApiError> {
        let access = self.access()?;
        let key = access.key.as_deref().map(PresentedKey::hash);
        for _ in 0..5 {
            let body_hash = self.body_hash(ready);
            match self
                .reserve(&access.gate, &access.settings, ready, &body_hash, key)
                .await?
            {
                hold::Reserved::Held(held) => {
                    // The port's object saw the key's hash: not revoked.
                    if let Some(key) = &access.key {
                        key.confirmed_by_object();
                    }
                    return Ok(held);
                }
                hold::Reserved::Settings(saved) => self.prepare_under(ready, saved)?,
                hold::Reserved::Downgrade(model, acted) => {
                    self.prepare_downgraded(ready, model, acted)?;
                }
                hold::Reserved::KeyRevoked => {
                    let refusal = access.key.as_ref().map(|k| k.refused());
                    let refusal = refusal.map_or_else(super::http::not_valid, ApiError::from);
                    return Err(self.refused(refusal));
                }
            }
        }
        Err(ApiError::new(
            503,
            "unavailable",
            "the port's gateway settings kept changing under the call; try again",
        ))
    }

    /// The fingerprint of the call's request (a canonical JSON value,
    /// ordered by key, as every fingerprint).
    fn body_hash(&self, ready: &Ready) -> String {
        fingerprint(&json!({
            "endpoint": self.endpoint.upstream_url_path(self.path_model.as_deref()),
            "body": hex_digest(&ready.prepared.body),
        }))
    }

    /// What settling the held call needs.
    fn held_call(&self, ready: &Ready, held: Held) -> Result<HeldCall, ApiError> {
        let access = self.access()?;
        Ok(HeldCall {
            gate: access.gate,
            write_id: random_id("w_"),
            port: self.port.clone(),
            budget: held.budget,
            reservation_id: held.reservation_id,
            user_id: ready.user_id.clone(),
            provider: self.upstream.name.clone(),
            model: ready.prepared.model.clone(),
            estimate: ready.prepared.estimate,
            held_at: self.now,
            settings: access.settings,
            operation: crate::llm::telemetry::operation_of(self.endpoint),
            streamed: ready.prepared.stream,
            answered: false,
        })
    }
}

/// Reads the request body, at most [`MAX_REQUEST_BYTES`], with the API's
/// one streaming reader (a chunked body is cut off at the limit, never
/// buffered whole): its bytes and its JSON.
async fn read_body(req: &mut Request) -> Result<(Vec<u8>, serde_json::Value), ApiError> {
    let bytes = super::body::read_body(req, MAX_REQUEST_BYTES).await?;
    let value = super::http::parse_json(&bytes)?;
    Ok((bytes, value))
}

/// True when the request's query asks for server-sent events (`alt=sse`).
fn asks_for_events(req: &Request) -> bool {
    req.url()
        .is_ok_and(|url| url.query_pairs().any(|(k, v)| k == "alt" && v == "sse"))
}

/// SHA-256 (hex) of bytes.
fn hex_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    super::gate::tally::count(super::gate::tally::Work::Digest);
    hex::encode(Sha256::digest(bytes))
}
