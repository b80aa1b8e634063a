//! Forwarding: the request sent upstream with the provider key, the answer
//! (plain or streamed) relayed redacted, and the hold settled by it.

use futures_util::future::{select, Either};
use serde_json::Value;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, ResponseBody,
};

use super::super::http::ApiError;
use super::access::header;
use super::estimate::Ready;
use super::provider::{self, Provider};
use super::settle::HeldCall;
use super::stream::{self, UsageTracker};
use super::Call;
use crate::gate::PortLoad;
use crate::llm::redact::Redactor;
use crate::pricing::billing::Billing;

impl Call {
    /// Sends the call upstream and answers with the provider's response,
    /// settling the hold.
    pub(super) async fn forward(
        &mut self,
        req: &Request,
        ready: Ready,
        held: HeldCall,
    ) -> Result<Response, ApiError> {
        let (body, stream) = (&ready.prepared.body, ready.prepared.stream);
        let sent = self.send(req, &ready.provider_key, body, stream).await;
        let (upstream, controller) = match sent {
            Ok(sent) => sent,
            Err(e) => {
                // Nothing was used upstream.
                self.settled(&held, held.release().await);
                return Err(e);
            }
        };
        let answer = Answer {
            status: upstream.status_code(),
            headers: relayed_headers(&upstream, &ready.provider_key),
            upstream,
        };
        let _ = answer
            .headers
            .set("x-budget-reservation", &held.reservation_id);
        let content_type = answer
            .upstream
            .headers()
            .get("Content-Type")
            .ok()
            .flatten()
            .unwrap_or_default();
        if (200..300).contains(&answer.status) && content_type.starts_with("text/event-stream") {
            return self.relay(answer, controller, &ready, held);
        }
        self.answer_whole(answer, &ready.provider_key, held).await
    }

    /// Relays a streamed answer; the hold is settled when the relay ends
    /// (finished, cut, or interrupted by the client), after the answer.
    fn relay(
        &mut self,
        answer: Answer,
        controller: AbortController,
        ready: &Ready,
        held: HeldCall,
    ) -> Result<Response, ApiError> {
        let (_, body) = answer.upstream.into_parts();
        let ResponseBody::Stream(body) = body else {
            return Err(ApiError::new(
                502,
                "upstream-malformed",
                "the upstream stream could not be read",
            ));
        };
        let mut tracker = UsageTracker::new(
            self.endpoint.usage_format(),
            !ready.prepared.client_wants_usage,
        );
        if self.array_stream {
            tracker = tracker.as_json_array();
            let _ = answer.headers.set("Content-Type", "application/json");
        }
        let scrubber = Redactor::new(&ready.provider_key);
        let relay = stream::relay(body, tracker, scrubber)
            .map_err(|_| ApiError::new(500, "internal", "the stream could not be relayed"))?;
        let readable = relay.readable.clone();
        let idle_timeout = self.config.upstream_timeout;
        self.ctx.wait_until(async move {
            let end = relay.end(idle_timeout, controller).await;
            held.answered().settle_stream(end).await;
        });
        Ok(Response::builder()
            .with_status(answer.status)
            .with_headers(answer.headers)
            .stream(readable))
    }

    /// Answers with the whole upstream body (redacted): a refusal by the
    /// provider releases the hold, an answer with its usage is committed
    /// after the answer, and one without (or broken off) is charged by rule.
    async fn answer_whole(
        &mut self,
        answer: Answer,
        provider_key: &str,
        held: HeldCall,
    ) -> Result<Response, ApiError> {
        let Answer {
            upstream,
            status,
            headers,
        } = answer;
        let answer = Reply { status, headers };
        let Some(body) = self.whole_body(upstream).await else {
            // The call may have run upstream: charge it by rule.
            held.charge_unseen(None, None).await;
            self.measure_after(&held).await;
            return Err(ApiError::new(
                502,
                "upstream-malformed",
                "the upstream response broke off before its end; the call is charged its estimate",
            ));
        };
        let body = redact(body, provider_key);
        if !(200..300).contains(&answer.status) {
            // The provider refused the call: nothing was used.
            self.settled(&held, held.release().await);
            return answer.with_body(body);
        }
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let usage = parsed
            .as_ref()
            .and_then(|v| provider::response_usage(self.endpoint, v));
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
            .and_then(|v| provider::response_model(self.endpoint, v));
        let billing = parsed.as_ref().map_or_else(Billing::default, |v| {
            crate::llm::usage::response_billing(self.endpoint.usage_format(), v)
        });
        // Committed after the answer, like a stream: the client does not wait
        // for the ledger write; the budget headers show the state as of the gate.
        self.ctx.wait_until(async move {
            held.answered()
                .commit(usage, model.as_deref(), billing)
                .await;
        });
        answer.with_body(body)
    }

    /// Updates the budget state after a settlement, when it reported one.
    pub(super) fn settled(&mut self, held: &HeldCall, load: Option<PortLoad>) {
        if let Some(load) = load {
            self.remember(held.budget, &load);
        }
    }

    pub(super) async fn measure_after(&mut self, held: &HeldCall) {
        if let Ok(view) = held.gate.view(None, false).await {
            self.remember(view.budget.budget, &view.load);
        }
    }

    /// Sends a request body upstream with the provider key (a provider's
    /// redirect is never followed: the prompt goes to the provider's origin
    /// and nowhere else): the upstream's answer and the controller that
    /// aborts it.
    ///
    /// # Errors
    /// 502 `upstream-unreachable`, 504 `upstream-timeout` (no response
    /// headers within the timeout; the request is aborted), 502
    /// `upstream-redirect`.
    async fn send(
        &self,
        req: &Request,
        provider_key: &str,
        body: &[u8],
        stream: bool,
    ) -> Result<(Response, AbortController), ApiError> {
        let request = self.upstream_request(req, provider_key, body, stream)?;
        let (timeout, provider) = (self.config.upstream_timeout, &self.upstream.name);
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sent = select(
            Box::pin(fetch.send_with_signal(&signal)),
            Delay::from(timeout),
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
                        timeout.as_millis()
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

    /// The request to the upstream: the endpoint under its base URL with
    /// the client's query (for Gemini only `alt=sse`, on every stream: the
    /// client's query may carry its own key), the provider key in the
    /// dialect's header, and the body.
    fn upstream_request(
        &self,
        req: &Request,
        provider_key: &str,
        body: &[u8],
        stream: bool,
    ) -> Result<Request, ApiError> {
        let upstream = &self.upstream;
        let path = self.endpoint.upstream_url_path(self.path_model.as_deref());
        let mut url = format!("{}{path}", upstream.base_url);
        let query = match upstream.dialect {
            Provider::Gemini => stream.then(|| "alt=sse".to_owned()),
            _ => query_of(&req.inner().url()).map(str::to_owned),
        };
        if let Some(query) = query {
            url.push('?');
            url.push_str(&query);
        }
        let headers = Headers::new();
        let _ = headers.set("Content-Type", "application/json");
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let _ = headers.set("Accept", accept);
        match upstream.dialect {
            Provider::OpenAi => {
                let _ = headers.set("Authorization", &format!("Bearer {provider_key}"));
            }
            Provider::Anthropic => {
                let _ = headers.set("x-api-key", provider_key);
                let version =
                    header(req, "anthropic-version").unwrap_or_else(|| "2023-06-01".into());
                let _ = headers.set("anthropic-version", &version);
                if let Some(beta) = header(req, "anthropic-beta") {
                    let _ = headers.set("anthropic-beta", &beta);
                }
            }
            Provider::Gemini => {
                let _ = headers.set("x-goog-api-key", provider_key);
            }
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_redirect(RequestRedirect::Manual)
            .with_headers(headers)
            .with_body(Some(js_sys::Uint8Array::from(body).into()));
        Request::new_with_init(&url, &init).map_err(|e| {
            worker::console_error!("gateway: bad upstream request: {e}");
            ApiError::new(500, "internal", "the upstream request could not be built")
        })
    }

    /// Token counting (`.../responses/input_tokens`,
    /// `.../v1/messages/count_tokens`): the body goes upstream as the client
    /// sent it, and the answer (any status) comes back redacted. Nothing is
    /// held or counted: the provider does not bill it as a call.
    pub(super) async fn pass_through(
        &self,
        req: &Request,
        provider_key: &str,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let (upstream, _controller) = self.send(req, provider_key, body, false).await?;
        let status = upstream.status_code();
        let out_headers = relayed_headers(&upstream, provider_key);
        let Some(body) = self.whole_body(upstream).await else {
            return Err(ApiError::new(
                502,
                "upstream-malformed",
                "the upstream response broke off before its end",
            ));
        };
        Ok(Response::from_bytes(redact(body, provider_key))
            .map_err(|_| ApiError::new(500, "internal", "internal error"))?
            .with_status(status)
            .with_headers(out_headers))
    }

    /// The whole upstream body, or `None` when it broke off or did not end
    /// within the upstream timeout.
    async fn whole_body(&self, upstream: Response) -> Option<Vec<u8>> {
        match select(
            Box::pin(crate::worker::body::response_bytes(upstream)),
            Delay::from(self.config.upstream_timeout),
        )
        .await
        {
            Either::Left((Ok(bytes), _)) => Some(bytes),
            Either::Left((Err(_), _)) | Either::Right(_) => None,
        }
    }
}

/// The upstream's answer, and the status and headers the client gets.
struct Answer {
    upstream: Response,
    status: u16,
    headers: Headers,
}

/// The status and headers the client gets, once the upstream's body is read.
struct Reply {
    status: u16,
    headers: Headers,
}

impl Reply {
    /// The client's answer with `body`.
    fn with_body(self, body: Vec<u8>) -> Result<Response, ApiError> {
        Ok(Response::from_bytes(body)
            .map_err(|_| ApiError::new(500, "internal", "internal error"))?
            .with_status(self.status)
            .with_headers(self.headers))
    }
}

/// The upstream's headers a client sees (redacted like a body), and ours.
pub(super) fn relayed_headers(upstream: &Response, provider_key: &str) -> Headers {
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

/// Removes the provider key, in every spelling a JSON reader decodes back
/// into it, from a body before it reaches the client (an upstream may echo
/// the key it was sent in an error).
pub(super) fn redact(body: Vec<u8>, key: &str) -> Vec<u8> {
    Redactor::redact_all(key, &body)
}

/// The query of a request's URL as the runtime serialized it (the part
/// after the first `?`, up to a fragment), with no parse of the whole URL.
fn query_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once('?')?;
    Some(rest.split_once('#').map_or(rest, |(query, _)| query))
}
