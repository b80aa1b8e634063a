//! HTTP plumbing: the error body, JSON and CSV answers, a JSON request body
//! and methods. (Bodies are read by [`super::body`]; the budget-state
//! headers every answer about a port carries are [`super::budget_state`]'s,
//! the gate's refusals [`super::refusals`]'.)

use serde_json::{json, Value};
use worker::{Headers, Method, Request, Response};

use super::d1::{StoreError, RETRY_AFTER_SECONDS};

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
    /// What only some answers carry, apart: an error travels by value
    /// through every handler's `Result`, so it stays small.
    more: Option<Box<More>>,
}

/// An error answer's rarer parts.
#[derive(Clone, Debug, Default, PartialEq)]
struct More {
    /// Extra members of the body (a refusal's numbers).
    extra: Option<Value>,
    /// Seconds for `Retry-After`.
    retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    allow: Option<String>,
    /// Further headers (a refusal's `X-Budget-Scope`).
    headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error of `status` with `code` and `message`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            more: None,
        }
    }

    /// The same error, naming the input field at fault (or none).
    #[must_use]
    pub fn with_field(mut self, field: Option<String>) -> ApiError {
        self.field = field;
        self
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// The same error, its body carrying `extra`'s members too.
    #[must_use]
    pub fn with_extra(mut self, extra: Value) -> ApiError {
        self.more().extra = Some(extra);
        self
    }

    /// The same error, answered with `Retry-After: seconds`.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.more().retry_after = Some(seconds);
        self
    }

    /// The same error, answered with `Allow: allow`.
    #[must_use]
    pub fn with_allow(mut self, allow: String) -> ApiError {
        self.more().allow = Some(allow);
        self
    }

    /// The further headers the answer carries, to add to.
    pub fn headers_mut(&mut self) -> &mut Vec<(&'static str, String)> {
        &mut self.more().headers
    }

    /// The extra members of the body, if any.
    pub fn extra(&self) -> Option<&Value> {
        self.more.as_ref().and_then(|m| m.extra.as_ref())
    }

    /// 400 with a field.
    pub fn bad_field(code: &str, field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message).with_field(Some(field.to_owned()))
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not-found", message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(409, code, message)
    }

    /// Sets the answer's headers on `response`: `Retry-After`, `Allow` and
    /// the further ones (the API's answer and the gateway's, in a
    /// provider's format, alike).
    pub fn set_headers(&self, response: &mut Response) {
        let Some(more) = &self.more else { return };
        if let Some(seconds) = more.retry_after {
            set(response, "Retry-After", &seconds.to_string());
        }
        if let Some(allow) = &more.allow {
            set(response, "Allow", allow);
        }
        for (name, value) in &more.headers {
            set(response, name, value);
        }
    }

    /// The JSON answer.
    pub fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = field.clone().into();
        }
        let mut body = json!({ "error": error });
        if let Some(Value::Object(extra)) = self.extra() {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        let mut response = json_response(self.status, &body);
        self.set_headers(&mut response);
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

/// 401: the key presented is not (or no longer) valid.
pub fn not_valid() -> ApiError {
    ApiError::new(
        401,
        "unauthorized",
        "the admin token or port key is not valid",
    )
}

impl From<crate::Error> for ApiError {
    /// A core validation error: 400 with the core's code and message.
    fn from(error: crate::Error) -> ApiError {
        ApiError::new(400, error.code().as_str(), error.message())
            .with_field(error.field().map(str::to_owned))
    }
}

impl From<StoreError> for ApiError {
    /// The store could not answer: 503 and `Retry-After` (fail closed), or
    /// 500 for a bug; a port key no longer valid is 401.
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable { message } => {
                worker::console_warn!("store unavailable: {message}");
                ApiError::new(
                        503,
                        "store-unavailable",
                        "the budget store is unavailable; nothing was changed or the change is safe to retry",
                    ).with_retry_after(RETRY_AFTER_SECONDS)
            }
            StoreError::Failed(message) => {
                worker::console_error!("store failure: {message}");
                ApiError::new(500, "internal", "internal error")
            }
            StoreError::KeyNotValid => not_valid(),
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
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    Response::ok(body.to_string())
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(status)
        .with_headers(headers)
}

/// A JSON answer of a typed body, with `status`. Its members come in key
/// order, as every JSON answer's (serde_json's map is ordered by key).
pub fn typed_json_response(status: u16, body: &impl serde::Serialize) -> Response {
    match serde_json::to_value(body) {
        Ok(value) => json_response(status, &value),
        Err(e) => {
            worker::console_error!("an answer could not be written: {e}");
            ApiError::new(500, "internal", "internal error").into_response()
        }
    }
}

/// A CSV answer.
pub fn csv_response(body: String) -> Response {
    text_response("text/csv; charset=utf-8", body)
}

/// A text answer of `content_type` (CSV, the metrics' exposition format).
pub fn text_response(content_type: &str, body: String) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", content_type);
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    Response::ok(body)
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_headers(headers)
}

pub use crate::text::csv_field;

/// Parses a JSON body.
///
/// # Errors
/// 400 `invalid-json`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            400,
            "invalid-json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// The request's method exactly as sent (HTTP methods are case-sensitive),
/// when it is one the Worker answers; `None` for any other (`PROPFIND`,
/// `get`), which no route serves.
pub fn known_method(req: &Request) -> Option<Method> {
    Some(match req.inner().method().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => return None,
    })
}

/// The `Allow` header's value for a route answering `methods` (GET implies
/// HEAD; OPTIONS is always answered).
pub fn allow_header(methods: &[Method]) -> String {
    let mut names = Vec::new();
    for method in methods {
        names.push(method.to_string());
        if *method == Method::Get {
            names.push("HEAD".into());
        }
    }
    names.push("OPTIONS".into());
    names.join(", ")
}

/// 405 `method-not-allowed` with `Allow`.
pub fn method_not_allowed(path: &str, methods: &[Method]) -> ApiError {
    let allow = allow_header(methods);
    ApiError::new(405, "method-not-allowed", format!("{path} answers {allow}"))
        .with_allow(allow.clone())
}

/// The answer to `OPTIONS`: 204 with `Allow`.
pub fn options_response(methods: &[Method]) -> Response {
    let mut response = Response::empty()
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(204);
    set(&mut response, "Allow", &allow_header(methods));
    response
}

/// The answer to a `HEAD`: the GET answer's status and headers, no body.
pub fn without_body(response: Response) -> Response {
    let status = response.status_code();
    let headers = response.headers().clone();
    Response::empty()
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(status)
        .with_headers(headers)
}
