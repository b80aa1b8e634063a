//! Gemini's native API: `generationConfig.maxOutputTokens` (times
//! `candidateCount`) as the bound, and what strict mode refuses (media
//! parts, cached content, tools that run on the provider's side).

use serde_json::{Map, Value};

use super::super::super::http::ApiError;
use super::super::super::input;
use super::{bound_or_default, invalid, refuse, EstimatePolicy};
use crate::MAX_TOKENS;

/// The object of generation settings, where the bound lives.
const CONFIG: &str = "generationConfig";

/// An error about a field of `generationConfig`, named by its whole path.
fn in_config(mut error: ApiError) -> ApiError {
    error.field = error.field.map(|field| format!("{CONFIG}.{field}"));
    error
}

/// A call's output bound: `generationConfig.maxOutputTokens` (which the
/// provider applies to thoughts and candidates together), else the default
/// written there, times `candidateCount`.
pub(super) fn bound(
    map: &mut Map<String, Value>,
    policy: EstimatePolicy,
    changed: &mut bool,
) -> Result<u64, ApiError> {
    let config = map
        .entry(CONFIG)
        .or_insert_with(|| Value::Object(Map::new()));
    if config.is_null() {
        *config = Value::Object(Map::new());
    }
    let Value::Object(config) = config else {
        return Err(invalid(CONFIG, "generationConfig must be an object"));
    };
    let n = input::whole(config, "candidateCount", 1..=8)
        .map_err(in_config)?
        .unwrap_or(1);
    let bound = bound_or_default(config, "maxOutputTokens", policy, changed).map_err(in_config)?;
    Ok(bound.saturating_mul(n).min(MAX_TOKENS))
}

/// True when a part of the contents carries media (inline bytes or a file),
/// billed by pixels, pages or seconds rather than by the request's bytes.
fn media_parts(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(media_parts),
        Value::Object(map) => {
            map.contains_key("inlineData")
                || map.contains_key("fileData")
                || map.values().any(media_parts)
        }
        _ => false,
    }
}

/// Strict mode: media parts, content cached on the provider's side, and
/// tools other than function declarations.
pub(super) fn unbounded(map: &Map<String, Value>) -> Option<ApiError> {
    if map.get("cachedContent").is_some_and(|v| !v.is_null()) {
        return Some(refuse(
            "cachedContent",
            "cached content (input stored on the provider's side, which the request names but \
             does not carry)",
        ));
    }
    if ["contents", "systemInstruction"]
        .iter()
        .any(|field| map.get(*field).is_some_and(media_parts))
    {
        return Some(refuse(
            "contents",
            "inline data and file parts (billed by pixels, pages or seconds)",
        ));
    }
    // A tool entry declaring functions is a plain definition the request
    // carries; search, code execution, URL context and the like run on the
    // provider's side and add input there.
    let tools = map.get("tools").and_then(Value::as_array);
    let server_tool = tools.into_iter().flatten().any(|tool| {
        tool.as_object()
            .is_some_and(|t| t.keys().any(|k| k != "functionDeclarations"))
    });
    server_tool.then(|| {
        refuse(
            "tools",
            "tools other than function declarations (search, code execution and URL context \
             run on the provider's side)",
        )
    })
}

/// Gemini's error `status` (the RPC code name) for an HTTP status.
pub(super) fn error_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500.. => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}
