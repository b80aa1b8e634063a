//! The endpoints the gateway proxies, in each dialect's own terms: which
//! request fields bound the call, what strict mode refuses, how the request
//! is changed before it goes upstream, and how an error looks. (Routes,
//! usage and server-sent events are read by `crate::llm`.)

mod anthropic;
mod gemini;
mod openai;
mod responses;

use serde_json::{json, Map, Value};

use super::super::http::ApiError;
use super::super::input;
pub use crate::llm::usage::reported_tokens;
use crate::TokenCounts;

/// An LLM API dialect (OpenAI, Anthropic or Gemini style): the built-in provider
/// of that name, or the dialect a table provider speaks.
pub use crate::llm::providers::Dialect as Provider;

pub use crate::llm::routes::{Endpoint, GatewayPath, ProviderName};

/// Tokens held for a call before it is forwarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Input tokens estimated from the request (see [`estimate_input`]).
    pub input_tokens: u64,
    /// The output bound: `max_tokens` (times `n`), which the provider enforces.
    pub output_tokens: u64,
}

impl Estimate {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        crate::add_tokens(self.input_tokens, self.output_tokens)
    }
}

/// A request made ready for the upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The body to send upstream.
    pub body: Vec<u8>,
    /// The tokens to hold.
    pub estimate: Estimate,
    /// The model the client asked for.
    pub model: String,
    /// True when the client asked for a stream.
    pub stream: bool,
    /// OpenAI: true when the client itself asked for the usage chunk (else
    /// the gateway strips it again).
    pub client_wants_usage: bool,
    /// The service tier the request asks for (`service_tier`): its hold
    /// bounds the call at that tier's price as well as the standard one.
    pub service_tier: crate::pricing::billing::ServiceTier,
}

/// How the gateway bounds and estimates calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EstimatePolicy {
    /// Output bound set on requests that carry none.
    pub default_max_tokens: u64,
    /// Use the upper-bound input estimate (the hard cap is never crossed).
    pub strict: bool,
}

/// Strict mode: tokens added when a request declares tools (providers add a
/// hidden tool-use system prompt of a few hundred tokens).
pub const STRICT_TOOLS_TOKENS: u64 = 1_024;

/// Content part types a provider bills by pixels or pages rather than by
/// the bytes of the request (images, PDFs, files fetched by id or URL).
const MEDIA_PART_TYPES: &[&str] = &[
    "image",
    "image_url",
    "input_image",
    "document",
    "file",
    "input_file",
    "container_upload",
];

/// A strict-mode refusal (400 `unbounded-input`) of `what`, found at `field`.
fn refuse(field: &str, what: &str) -> ApiError {
    ApiError::bad_field(
        "unbounded-input",
        field,
        format!(
            "strict mode refuses {what}: the provider bills it more input tokens than the \
             request has bytes, so no hold could bound the call (send it through a gateway \
             with GATEWAY_STRICT=off, which holds a typical estimate instead)"
        ),
    )
}

/// Why a request's input has no upper bound the gateway can compute: strict
/// mode refuses it (400 `unbounded-input`) rather than hold too little.
fn unbounded_input(endpoint: Endpoint, map: &Map<String, Value>) -> Option<ApiError> {
    if map.values().any(|v| media_parts(v) > 0) {
        let field = match endpoint {
            Endpoint::Embeddings | Endpoint::Responses => "input",
            _ => "messages",
        };
        return Some(refuse(
            field,
            "image, document and file parts (billed by pixels or pages)",
        ));
    }
    match endpoint {
        Endpoint::ChatCompletions => openai::unbounded(map),
        Endpoint::Responses => responses::unbounded(map),
        Endpoint::Messages => anthropic::unbounded(map),
        Endpoint::GenerateContent | Endpoint::StreamGenerateContent => gemini::unbounded(map),
        Endpoint::Embeddings
        | Endpoint::ResponsesInputTokens
        | Endpoint::CountTokens
        | Endpoint::GeminiCountTokens => None,
    }
}

/// The output bound at `field`, else the policy's default written there
/// (the body then changes).
fn bound_or_default(
    map: &mut Map<String, Value>,
    field: &str,
    policy: EstimatePolicy,
    changed: &mut bool,
) -> Result<u64, ApiError> {
    if let Some(bound) = token_field(map, field)? {
        return Ok(bound);
    }
    map.insert(field.into(), policy.default_max_tokens.into());
    *changed = true;
    Ok(policy.default_max_tokens)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_field("invalid-request", field, message)
}

/// A whole token count in the request, if present: read by the Worker's one
/// token-count rule ([`input::tokens`]), whose errors the caller's provider
/// format then carries (code, field and message).
fn token_field(map: &Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    input::tokens(map, name, false)
}

/// Checks a request body (`raw`, parsed as `body`) and makes it ready for
/// the upstream: sets the output bound when the client gave none, asks an
/// OpenAI stream for its usage chunk, and estimates the tokens to hold. A
/// body that needs neither change goes upstream as the client sent it.
/// A Gemini call's model is the one its path names (`path_model`), and it
/// is a stream when its method is `streamGenerateContent`.
///
/// # Errors
/// 400 when the body is not an object, has no model, or has a malformed
/// `max_tokens`, `n`, `stream` or `stream_options`; in strict mode also
/// (`unbounded-input`) when it carries input no byte count bounds: image,
/// document or file parts, or tools that run on the provider's side.
pub fn prepare(
    endpoint: Endpoint,
    raw: Vec<u8>,
    body: Value,
    policy: EstimatePolicy,
    path_model: Option<&str>,
) -> Result<Prepared, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::new(
            400,
            "invalid-request",
            "the request body must be a JSON object",
        ));
    };
    let model = match (endpoint.model_in_path(), map.get("model")) {
        (true, _) => path_model.unwrap_or_default().to_owned(),
        (false, Some(Value::String(m))) if !m.is_empty() => m.clone(),
        _ => return Err(invalid("model", "model is required (a non-empty string)")),
    };
    let stream = match (endpoint.model_in_path(), map.get("stream")) {
        (true, _) => endpoint == Endpoint::StreamGenerateContent,
        (false, None | Some(Value::Null)) => false,
        (false, Some(Value::Bool(b))) => *b,
        (false, Some(_)) => return Err(invalid("stream", "stream must be true or false")),
    };
    let mut client_wants_usage = false;
    // Whether the body must be written anew for the upstream.
    let mut changed = false;
    let output_tokens = match endpoint {
        Endpoint::Embeddings => openai::embeddings_bound(stream)?,
        Endpoint::ChatCompletions => {
            let (bound, wants) = openai::chat_bound(&mut map, stream, policy, &mut changed)?;
            client_wants_usage = wants;
            bound
        }
        Endpoint::Responses => responses::bound(&mut map, policy, &mut changed)?,
        Endpoint::Messages => anthropic::bound(&mut map, policy, &mut changed)?,
        Endpoint::GenerateContent | Endpoint::StreamGenerateContent => {
            gemini::bound(&mut map, policy, &mut changed)?
        }
        Endpoint::ResponsesInputTokens | Endpoint::CountTokens | Endpoint::GeminiCountTokens => 0,
    };
    if policy.strict {
        if let Some(refusal) = unbounded_input(endpoint, &map) {
            return Err(refusal);
        }
    }
    let value = Value::Object(map);
    let body = if changed {
        value.to_string().into_bytes()
    } else {
        raw
    };
    let input_tokens = estimate_input(&value, body.len(), policy.strict);
    Ok(Prepared {
        body,
        estimate: Estimate {
            input_tokens,
            output_tokens,
        },
        service_tier: crate::pricing::billing::ServiceTier::from_answer(
            value.get("service_tier").and_then(Value::as_str),
        ),
        model,
        stream,
        client_wants_usage,
    })
}

/// Estimates a request's input tokens from its JSON body of `bytes` bytes.
///
/// - Typical (`strict == false`): `ceil(bytes / 4)`, the usual rule of four
///   bytes per token for English text; it undercounts dense text (CJK,
///   code), images and tool prompts, so a call may use more than it held.
/// - Strict: every byte counts as a token, plus [`STRICT_TOOLS_TOKENS`] when
///   tools are declared. Byte-level BPE tokenizers (OpenAI's, Anthropic's)
///   never emit more tokens than the text has bytes, and the JSON around the
///   text is longer than the per-message tokens the provider adds, so this
///   is an upper bound for what [`prepare`] lets through in strict mode:
///   text and function tools (images, documents, files and provider-side
///   tools are refused there, as no byte count bounds them).
pub fn estimate_input(body: &Value, bytes: usize, strict: bool) -> u64 {
    let bytes = bytes as u64;
    if !strict {
        return bytes.div_ceil(4);
    }
    let tools = match body.get("tools") {
        Some(Value::Array(tools)) if !tools.is_empty() => STRICT_TOOLS_TOKENS,
        _ => 0,
    };
    crate::add_tokens(bytes, tools)
}

/// Counts content parts that are images or documents, anywhere in the body.
fn media_parts(value: &Value) -> u64 {
    match value {
        Value::Array(items) => items.iter().map(media_parts).sum(),
        Value::Object(map) => {
            let own = map
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| MEDIA_PART_TYPES.contains(&t));
            u64::from(own) + map.values().map(media_parts).sum::<u64>()
        }
        _ => 0,
    }
}

/// The usage a complete (non-streamed) response reports, if well-formed.
pub fn response_usage(endpoint: Endpoint, body: &Value) -> Option<TokenCounts> {
    crate::llm::usage::response_usage(endpoint.usage_format(), body)
}

/// The model a complete response names as the one that answered.
pub fn response_model(endpoint: Endpoint, body: &Value) -> Option<String> {
    crate::llm::usage::response_model(endpoint.usage_format(), body)
}

/// The provider's error `type` for an HTTP status.
fn error_type(provider: Provider, status: u16) -> &'static str {
    match (provider, status) {
        (_, 429) => "rate_limit_error",
        (Provider::Anthropic, 401) => "authentication_error",
        (Provider::Anthropic, 403) => "permission_error",
        (Provider::Anthropic, 404) => "not_found_error",
        (Provider::Anthropic, 413) => "request_too_large",
        (Provider::Anthropic, 500..) => "api_error",
        (Provider::OpenAi | Provider::Gemini, 500..) => "server_error",
        _ => "invalid_request_error",
    }
}

/// An error body in the provider's own format, so its SDK raises its usual
/// error type with our message.
pub fn error_body(provider: Provider, error: &ApiError) -> Value {
    let kind = error_type(provider, error.status);
    match provider {
        Provider::OpenAi => json!({
            "error": {
                "message": error.message,
                "type": kind,
                "param": error.field,
                "code": error.code.replace('-', "_"),
            }
        }),
        Provider::Anthropic => json!({
            "type": "error",
            "error": { "type": kind, "message": error.message },
        }),
        // Google's error shape; the gateway's own code and field ride in an
        // `ErrorInfo` detail, as Google's APIs carry a reason.
        Provider::Gemini => json!({
            "error": {
                "code": error.status,
                "message": error.message,
                "status": gemini::error_status(error.status),
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": error.code.replace('-', "_").to_uppercase(),
                    "domain": "ai-budget",
                    "metadata": match &error.field {
                        Some(field) => json!({ "code": error.code, "field": field }),
                        None => json!({ "code": error.code }),
                    },
                }],
            }
        }),
    }
}
