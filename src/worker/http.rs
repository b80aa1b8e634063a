//! HTTP plumbing: the error body, JSON and CSV answers, request bodies and
//! methods. (The budget-state headers every answer about a port carries
//! are [`super::budget_state`]'s, the gate's refusals [`super::refusals`]'.)

use js_sys::{Reflect, Uint8Array};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStream, ReadableStreamDefaultReader};
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
    /// Extra members of the body (a refusal's numbers) and headers.
    pub extra: Option<Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
    /// Further headers (a refusal's `X-Budget-Scope`).
    pub headers: Vec<(&'static str, String)>,
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
            allow: None,
            headers: Vec::new(),
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

    /// Sets the further headers on `response`.
    pub fn set_headers(&self, response: &mut Response) {
        for (name, value) in &self.headers {
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
        if let Some(Value::Object(extra)) = self.extra.clone() {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            set(&mut response, "Retry-After", &seconds.to_string());
        }
        if let Some(allow) = &self.allow {
            set(&mut response, "Allow", allow);
        }
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

/// The longest request body the Worker reads to its end when it answers
/// without using it (a 413, or an early 401, 404, 405...): 32 MiB, twice
/// the gateway's largest accepted body, so every client that merely
/// overshoots a limit keeps its connection, while a body no client of
/// this API sends cannot make the Worker spend its CPU reading it (a
/// 100 MiB drain measured about 0.8 s of CPU). A body declared longer, or
/// found longer while read, is cancelled, and its connection closes.
///
/// Why read what is thrown away: when the Worker answers while part of the
/// body is still unsent or unread (its stream cancelled or left half read),
/// workerd does not read the rest itself: it closes that connection. Under
/// `wrangler dev` the connection is the one wrangler's proxy keeps open to
/// the Worker's workerd, and the proxy's NEXT request on it fails, which the
/// proxy answers with a 503 "Your worker restarted mid-request", whatever
/// client sent it. Served directly (Miniflare), the client's own keep-alive
/// connection is closed under its next request, and a client still sending
/// a large body gets a reset instead of its 413. Measured with 1, 3 and
/// 20 MB bodies, with and without Content-Length: reading 1 MiB more and
/// cancelling the rest (awaited or not), or answering `Connection: close`
/// (the header never reached the client), each leaves one of these
/// failures; reading the body to its end leaves none. Draining costs the Worker reads and
/// byte counts only: chunks are counted as JS `Uint8Array`s, never copied
/// into the module's memory.
pub const DRAIN_LIMIT: usize = 32 * 1024 * 1024;

/// 413 `body-too-large`.
fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "body-too-large",
        format!("the request body must be at most {limit} bytes"),
    )
}

/// The declared `Content-Length`, if any.
fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<usize>().ok())
}

/// A request body read chunk by chunk through its stream's own reader. A
/// chunk stays a JS `Uint8Array` until it is kept, so bytes that are only
/// drained are counted without being copied into the module's memory.
struct BodyChunks {
    reader: ReadableStreamDefaultReader,
}

impl BodyChunks {
    /// A reader of `body`, unless the stream is already locked to one.
    fn new(body: &ReadableStream) -> Option<BodyChunks> {
        if body.locked() {
            return None;
        }
        body.get_reader()
            .dyn_into::<ReadableStreamDefaultReader>()
            .ok()
            .map(|reader| BodyChunks { reader })
    }

    /// The next chunk, `None` at the body's end; `Err` when the stream
    /// failed (the client went away mid-body).
    async fn next(&self) -> Result<Option<Uint8Array>, ()> {
        let step = JsFuture::from(self.reader.read()).await.map_err(|_| ())?;
        let field = |name: &str| Reflect::get(&step, &JsValue::from_str(name)).map_err(|_| ());
        if field("done")?.is_truthy() {
            return Ok(None);
        }
        field("value")?
            .dyn_into::<Uint8Array>()
            .map(Some)
            .map_err(|_| ())
    }

    /// Reads and drops the rest of the body, `seen` bytes of it already
    /// read, while the whole stays within [`DRAIN_LIMIT`]; past it the
    /// stream is cancelled (and the connection closes).
    async fn drain(&self, mut seen: usize) {
        while let Ok(Some(chunk)) = self.next().await {
            seen += chunk.length() as usize;
            if seen > DRAIN_LIMIT {
                let _ = JsFuture::from(self.reader.cancel()).await;
                return;
            }
        }
    }
}

/// Reads the request body, at most `limit` bytes, chunk by chunk: a body
/// sent without a Content-Length (chunked) is capped the same, without
/// being buffered whole. Past the limit the rest is read and dropped
/// (within [`DRAIN_LIMIT`]) before the 413, so the connection stays usable.
///
/// # Errors
/// 413 `body-too-large`; 400 `invalid-body` when it cannot be read.
pub async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if declared_length(req).is_some_and(|n| n > limit) {
        discard_body(req).await;
        return Err(too_large(limit));
    }
    let unreadable = || ApiError::new(400, "invalid-body", "the request body could not be read");
    let inner = req.inner();
    let Some(body) = inner.body() else {
        return Ok(Vec::new());
    };
    if inner.body_used() {
        return Err(unreadable());
    }
    let chunks = BodyChunks::new(&body).ok_or_else(unreadable)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await.map_err(|()| unreadable())? {
        let start = bytes.len();
        let end = start + chunk.length() as usize;
        if end > limit {
            chunks.drain(end).await;
            return Err(too_large(limit));
        }
        bytes.resize(end, 0);
        chunk.copy_to(&mut bytes[start..]);
    }
    Ok(bytes)
}

/// Reads and drops a body no handler read (an early 401, 404, 405, 413...),
/// within [`DRAIN_LIMIT`], so the connection it came on carries the next
/// request instead of being closed; a body declared longer is cancelled.
pub async fn discard_body(req: &mut Request) {
    let inner = req.inner();
    if inner.body_used() {
        return;
    }
    let Some(body) = inner.body() else {
        return;
    };
    if declared_length(req).is_some_and(|n| n > DRAIN_LIMIT) {
        let _ = JsFuture::from(body.cancel()).await;
        return;
    }
    if let Some(chunks) = BodyChunks::new(&body) {
        chunks.drain(0).await;
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`] (an empty body is `{}`).
///
/// # Errors
/// 413 `body-too-large`; 400 `invalid-body`, `invalid-json`.
pub async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    let bytes = read_body(req, MAX_BODY_BYTES).await?;
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    parse_json(&bytes)
}

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
    ApiError {
        allow: Some(allow.clone()),
        ..ApiError::new(405, "method-not-allowed", format!("{path} answers {allow}"))
    }
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
