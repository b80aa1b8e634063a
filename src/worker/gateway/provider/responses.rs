//! The OpenAI Responses API: `max_output_tokens` as the bound (reasoning
//! included), background runs refused, and what strict mode refuses.

use serde_json::{Map, Value};

use super::super::super::http::ApiError;
use super::{bound_or_default, invalid, refuse, EstimatePolicy};

/// A response's output bound: `max_output_tokens`, else the default
/// written into the request.
pub(super) fn bound(
    map: &mut Map<String, Value>,
    policy: EstimatePolicy,
    changed: &mut bool,
) -> Result<u64, ApiError> {
    if map.get("background") == Some(&Value::Bool(true)) {
        return Err(invalid(
            "background",
            "background responses are not proxied: their usage is known only after the call \
             that starts them has been answered",
        ));
    }
    bound_or_default(map, "max_output_tokens", policy, changed)
}

/// Strict mode: input stored on the provider's side, then the tools rule
/// of chat completions.
pub(super) fn unbounded(map: &Map<String, Value>) -> Option<ApiError> {
    // Input the provider adds from what it stored: earlier turns, a
    // conversation's items, a stored prompt.
    for field in ["previous_response_id", "conversation", "prompt"] {
        if map.get(field).is_some_and(|v| !v.is_null()) {
            return Some(refuse(
                field,
                "input stored on the provider's side (previous responses, conversations, \
                 stored prompts), which the request does not carry",
            ));
        }
    }
    if item_references(map.get("input")) {
        return Some(refuse(
            "input",
            "item references (input items stored on the provider's side, which the request \
             names but does not carry)",
        ));
    }
    super::openai::unbounded(map)
}

/// True when a Responses `input` names a stored item (`item_reference`).
fn item_references(input: Option<&Value>) -> bool {
    input
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|item| item.get("type").and_then(Value::as_str) == Some("item_reference"))
}
