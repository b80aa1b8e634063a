//! Anthropic Messages: `max_tokens` as the bound, and what strict mode
//! refuses (MCP servers, Anthropic-defined tools).

use serde_json::{Map, Value};

use super::super::super::http::ApiError;
use super::{bound_or_default, refuse, EstimatePolicy};

/// A message's output bound: `max_tokens`, else the default written into
/// the request.
pub(super) fn bound(
    map: &mut Map<String, Value>,
    policy: EstimatePolicy,
    changed: &mut bool,
) -> Result<u64, ApiError> {
    bound_or_default(map, "max_tokens", policy, changed)
}

/// Strict mode: MCP servers and typed (Anthropic-defined) tools.
pub(super) fn unbounded(map: &Map<String, Value>) -> Option<ApiError> {
    if map.get("mcp_servers").is_some_and(|v| !v.is_null()) {
        return Some(refuse(
            "mcp_servers",
            "MCP servers (their tools are defined on the provider's side)",
        ));
    }
    // A custom tool has no type (or `custom`); a typed one is defined by
    // Anthropic: server tools such as web_search and web_fetch add fetched
    // input, client ones such as computer use add a system prompt beyond the
    // room held for tools.
    let tools = map.get("tools").and_then(Value::as_array);
    let typed_tool = tools.into_iter().flatten().any(|tool| {
        !matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        )
    });
    typed_tool.then(|| {
        refuse(
            "tools",
            "Anthropic-defined tools such as web_search or web_fetch (their input is added on \
             the provider's side)",
        )
    })
}
