//! OpenAI Chat Completions and Embeddings: the output bound (times `n`),
//! the usage chunk asked for in streams, and what strict mode refuses.

use serde_json::{Map, Value};

use super::super::super::http::ApiError;
use super::super::super::input;
use super::{bound_or_default, invalid, refuse, token_field, EstimatePolicy};
use crate::MAX_TOKENS;

/// A chat completion's output bound, and whether the client itself asked
/// for the stream's usage chunk.
pub(super) fn chat_bound(
    map: &mut Map<String, Value>,
    stream: bool,
    policy: EstimatePolicy,
    changed: &mut bool,
) -> Result<(u64, bool), ApiError> {
    let n = input::whole(map, "n", 1..=128)?.unwrap_or(1);
    let bound = match (
        token_field(map, "max_completion_tokens")?,
        token_field(map, "max_tokens")?,
    ) {
        // Both given: the larger is the safe bound.
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => bound_or_default(map, "max_completion_tokens", policy, changed)?,
    };
    let mut client_wants_usage = false;
    if stream {
        let options = map
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if options.is_null() {
            *options = Value::Object(Map::new());
        }
        let Value::Object(options) = options else {
            return Err(invalid(
                "stream_options",
                "stream_options must be an object",
            ));
        };
        client_wants_usage = options.get("include_usage") == Some(&Value::Bool(true));
        if !client_wants_usage {
            options.insert("include_usage".into(), true.into());
            *changed = true;
        }
    }
    Ok((bound.saturating_mul(n).min(MAX_TOKENS), client_wants_usage))
}

/// Embeddings have no output, and are never streamed.
pub(super) fn embeddings_bound(stream: bool) -> Result<u64, ApiError> {
    if stream {
        return Err(invalid("stream", "embeddings are not streamed"));
    }
    Ok(0)
}

/// Strict mode: web search and tools other than functions (the Responses
/// API shares this rule).
pub(super) fn unbounded(map: &Map<String, Value>) -> Option<ApiError> {
    if map.get("web_search_options").is_some_and(|v| !v.is_null()) {
        return Some(refuse(
            "web_search_options",
            "web search (the search results are input the request does not carry)",
        ));
    }
    // Functions and custom tools are plain definitions the request carries;
    // any other kind runs on the provider's side.
    let tools = map.get("tools").and_then(Value::as_array);
    let server_tool = tools.into_iter().flatten().any(|tool| {
        !matches!(
            tool.get("type").and_then(Value::as_str),
            Some("function" | "custom")
        )
    });
    server_tool.then(|| {
        refuse(
            "tools",
            "tools other than functions (they run on the provider's side)",
        )
    })
}
