//! HTTP plumbing: the error body, JSON and CSV answers, request bodies, and
//! the budget-state headers every answer about a port carries.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{json, Value};
use worker::{Headers, Request, Response};

use super::settings::iso;
use super::store::{PortLoad, StoreError, RETRY_AFTER_SECONDS};
use crate::{Budget, Decision, PeriodWindow};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An error answer: `{"error": {"code", "message", "field"?}}` with a status.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable kebab-case code.
    pub code: String,
    /// For people.
    pub message: String,
    /// The input field at fault, if one is.
    pub field: Option<String>,
    /// Extra members of the body (a refusal's numbers) and headers.
    pub extra: Option<Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `status` with `code` and `message`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            extra: None,
            retry_after: None,
        }
    }

    /// 400 with a field.
    pub fn bad_field(code: &str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(400, code, message)
        }
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not-found", message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(409, code, message)
    }

    /// The JSON answer.
    pub fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = field.clone().into();
        }
        let mut body = json!({ "error": error });
        if let Some(Value::Object(extra)) = self.extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            set(&mut response, "Retry-After", &seconds.to_string());
        }
        if self.status == 401 {
            set(
                &mut response,
                "WWW-Authenticate",
                "Bearer realm=\"ai-budget\"",
            );
        }
        response
    }
}

impl From<crate::Error> for ApiError {
    /// A core validation error: 400 with the core's code and message.
    fn from(error: crate::Error) -> ApiError {
        ApiError {
            field: error.field().map(str::to_owned),
            ..ApiError::new(400, error.code().as_str(), error.message())
        }
    }
}

impl From<StoreError> for ApiError {
    /// The store could not answer: 503 and `Retry-After` (fail closed), or
    /// 500 for a bug.
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable { message } => {
                worker::console_warn!("store unavailable: {message}");
                ApiError {
                    retry_after: Some(RETRY_AFTER_SECONDS),
                    ..ApiError::new(
                        503,
                        "store-unavailable",
                        "the budget store is unavailable; nothing was changed or the change is safe to retry",
                    )
                }
            }
            StoreError::Failed(message) => {
                worker::console_error!("store failure: {message}");
                ApiError::new(500, "internal", "internal error")
            }
        }
    }
}

/// Sets a header, ignoring names that cannot fail (ours are all valid).
pub fn set(response: &mut Response, name: &str, value: &str) {
    let _ = response.headers_mut().set(name, value);
}

/// A JSON answer with `status`.
pub fn json_response(status: u16, body: &Value) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    Response::ok(body.to_string())
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(status)
        .with_headers(headers)
}

/// A CSV answer.
pub fn csv_response(body: String) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/csv; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    Response::ok(body)
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_headers(headers)
}

/// One CSV field, quoted when it must be. A cell a spreadsheet would read
/// as a formula (starting with `=`, `+`, `-`, `@`, tab or CR: OWASP's list)
/// is prefixed with `'`, since port-key holders write these fields.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`].
///
/// # Errors
/// 413 `body-too-large`; 400 `invalid-json`.
pub async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "body-too-large",
            format!("the request body must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    // Read chunk by chunk and stop past the limit: a body sent without a
    // Content-Length (chunked) is capped the same, without buffering it all.
    let unreadable = || ApiError::new(400, "invalid-body", "the request body could not be read");
    let mut bytes = Vec::new();
    if req.inner().body().is_some() {
        let mut stream = req.stream().map_err(|_| unreadable())?;
        while let Some(chunk) = stream.next().await {
            bytes.extend(chunk.map_err(|_| unreadable())?);
            if bytes.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
        }
    }
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            400,
            "invalid-json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// A port's budget state as of one answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetState {
    /// The settings.
    pub budget: Budget,
    /// Tokens the gate counts (used plus held).
    pub gate_tokens: u64,
    /// The current period.
    pub window: PeriodWindow,
    /// When it was measured.
    pub now: DateTime<Utc>,
}

impl BudgetState {
    /// The state of a port with `budget` whose store reported `load`, now.
    pub fn new(budget: Budget, load: &PortLoad, now: DateTime<Utc>) -> BudgetState {
        BudgetState {
            budget,
            gate_tokens: load.gate_tokens(),
            window: budget.period.window(now),
            now,
        }
    }

    /// Tokens left under the hard cap (`None`: the budget is disabled).
    pub fn remaining(&self) -> Option<u64> {
        self.budget
            .enabled
            .then(|| self.budget.hard_cap_tokens.saturating_sub(self.gate_tokens))
    }

    /// Adds `RateLimit-Policy`, `RateLimit`, `X-Budget-Remaining`,
    /// `X-Budget-Reset` (and `X-Budget-Soft-Cap` when above it).
    pub fn apply(&self, response: &mut Response) {
        let reset = self.window.seconds_until_reset(self.now);
        let window_seconds = (self.window.end - self.window.start).num_seconds();
        set(response, "X-Budget-Reset", &iso(self.window.end));
        set(response, "X-Budget-Period", self.budget.period.as_str());
        match self.remaining() {
            Some(remaining) => {
                set(
                    response,
                    "RateLimit-Policy",
                    &format!(
                        "\"tokens\";q={};w={window_seconds}",
                        self.budget.hard_cap_tokens
                    ),
                );
                set(
                    response,
                    "RateLimit",
                    &format!("\"tokens\";r={remaining};t={reset}"),
                );
                set(response, "X-Budget-Remaining", &remaining.to_string());
                if self.gate_tokens > self.budget.soft_cap_tokens {
                    set(response, "X-Budget-Soft-Cap", "exceeded");
                }
            }
            None => set(response, "X-Budget-Remaining", "unlimited"),
        }
    }
}

/// The 429 answer for a refusal from the core.
pub fn refusal(decision: &Decision, now: DateTime<Utc>) -> ApiError {
    let Decision::Refused {
        reason,
        used_tokens,
        cap_tokens,
        window,
    } = decision
    else {
        return ApiError::new(500, "internal", "internal error");
    };
    let retry_after = window.seconds_until_reset(now);
    ApiError {
        extra: Some(json!({
            "ok": false,
            "reason": reason.as_str(),
            "usedTokens": used_tokens,
            "capTokens": cap_tokens,
            "resetsAt": iso(window.end),
            "retryAfterSeconds": retry_after,
        })),
        retry_after: Some(retry_after),
        ..ApiError::new(
            429,
            "budget-exceeded",
            format!(
                "the port's token budget refuses this call ({}): {used_tokens} of {cap_tokens} tokens used; it resets at {}",
                reason.as_str(),
                iso(window.end)
            ),
        )
    }
}
