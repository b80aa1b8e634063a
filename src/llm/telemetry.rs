//! One gated call as a structured log line that speaks OpenTelemetry's
//! GenAI semantic conventions (`gen_ai.provider.name`,
//! `gen_ai.request.model`, `gen_ai.usage.input_tokens`, ...), with the
//! budget's view of it (port, how it was settled, its cost). Workers Logs and
//! Logpush carry such lines to any OpenTelemetry pipeline as attributes.
//! Pure: the gateway writes the line once per settled call.

use serde_json::{Map, Value};

use crate::pricing::usd_number;
use crate::TokenCounts;

/// The `log` field of a gated call's line.
pub const CALL_LOG: &str = "gen_ai.call";

/// How a gated call's hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The provider's usage was committed.
    Committed,
    /// The usage was not seen (or could not be kept): the hold's charge.
    Charged,
    /// Nothing was used: the hold was released.
    Released,
}

impl Settlement {
    /// `committed`, `charged` or `released`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Settlement::Committed => "committed",
            Settlement::Charged => "charged",
            Settlement::Released => "released",
        }
    }
}

/// What the line says of one call.
#[derive(Clone, Copy, Debug)]
pub struct CallRecord<'a> {
    /// The port the call was gated for.
    pub port: &'a str,
    /// The reservation that held it.
    pub reservation_id: &'a str,
    /// The gateway's provider name (`openai`, `anthropic`, `gemini`, or a
    /// name from the provider table).
    pub provider: &'a str,
    /// What the API call does: `chat`, `generate_content`, `embeddings`...
    pub operation: &'a str,
    /// The model the client asked for.
    pub request_model: &'a str,
    /// The model the provider answered with, when it said.
    pub response_model: Option<&'a str>,
    /// The tokens counted (none for a released hold).
    pub tokens: Option<&'a TokenCounts>,
    /// The cost counted, in micro-dollars (`None`: not priced).
    pub cost_usd: Option<u64>,
    /// How the hold ended.
    pub settlement: Settlement,
    /// True for a streamed answer.
    pub streamed: bool,
}

/// The OpenTelemetry `gen_ai.operation.name` of a gateway endpoint.
pub const fn operation_of(endpoint: crate::llm::routes::Endpoint) -> &'static str {
    use crate::llm::routes::Endpoint;
    match endpoint {
        Endpoint::Embeddings => "embeddings",
        Endpoint::GenerateContent | Endpoint::StreamGenerateContent => "generate_content",
        _ => "chat",
    }
}

/// The OpenTelemetry `gen_ai.provider.name` of a gateway provider: the
/// conventions' well-known value for the built-in ones (`gcp.gemini` for
/// Gemini's API), else the table's own name.
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "gemini" => "gcp.gemini",
        other => other,
    }
}

/// The line of `call`: a JSON object with `log` = [`CALL_LOG`].
pub fn call_line(call: &CallRecord<'_>) -> Value {
    let mut line = Map::new();
    let mut put = |key: &str, value: Value| {
        line.insert(key.to_owned(), value);
    };
    put("log", CALL_LOG.into());
    put("gen_ai.operation.name", call.operation.into());
    put("gen_ai.provider.name", provider_name(call.provider).into());
    put("gen_ai.request.model", call.request_model.into());
    if let Some(model) = call.response_model {
        put("gen_ai.response.model", model.into());
    }
    if let Some(t) = call.tokens {
        put("gen_ai.usage.input_tokens", t.input_tokens.into());
        put("gen_ai.usage.output_tokens", t.output_tokens.into());
        if t.cached_input_tokens > 0 {
            put(
                "gen_ai.usage.cache_read.input_tokens",
                t.cached_input_tokens.into(),
            );
        }
        if t.cache_write_tokens > 0 {
            put(
                "gen_ai.usage.cache_creation.input_tokens",
                t.cache_write_tokens.into(),
            );
        }
        if t.reasoning_tokens > 0 {
            put(
                "gen_ai.usage.reasoning.output_tokens",
                t.reasoning_tokens.into(),
            );
        }
    }
    put("ai_budget.port", call.port.into());
    put("ai_budget.reservation_id", call.reservation_id.into());
    put("ai_budget.settlement", call.settlement.as_str().into());
    put("ai_budget.streamed", call.streamed.into());
    put(
        "ai_budget.cost_usd",
        call.cost_usd.map_or(Value::Null, |m| usd_number(m).into()),
    );
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_committed_call_carries_the_gen_ai_names_and_its_cost() {
        let tokens = TokenCounts {
            input_tokens: 1_000,
            cached_input_tokens: 200,
            output_tokens: 50,
            reasoning_tokens: 10,
            ..TokenCounts::default()
        };
        let line = call_line(&CallRecord {
            port: "acme",
            reservation_id: "rsv_1",
            provider: "gemini",
            operation: "generate_content",
            request_model: "gemini-2.5-flash",
            response_model: Some("gemini-2.5-flash-001"),
            tokens: Some(&tokens),
            cost_usd: Some(1_250),
            settlement: Settlement::Committed,
            streamed: true,
        });
        assert_eq!(
            line,
            json!({
                "log": "gen_ai.call",
                "gen_ai.operation.name": "generate_content",
                "gen_ai.provider.name": "gcp.gemini",
                "gen_ai.request.model": "gemini-2.5-flash",
                "gen_ai.response.model": "gemini-2.5-flash-001",
                "gen_ai.usage.input_tokens": 1_000,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.cache_read.input_tokens": 200,
                "gen_ai.usage.reasoning.output_tokens": 10,
                "ai_budget.port": "acme",
                "ai_budget.reservation_id": "rsv_1",
                "ai_budget.settlement": "committed",
                "ai_budget.streamed": true,
                "ai_budget.cost_usd": 0.00125,
            })
        );
    }

    #[test]
    fn a_released_call_has_no_usage_and_an_unpriced_one_a_null_cost() {
        let line = call_line(&CallRecord {
            port: "acme",
            reservation_id: "rsv_2",
            provider: "groq",
            operation: "chat",
            request_model: "llama",
            response_model: None,
            tokens: None,
            cost_usd: None,
            settlement: Settlement::Released,
            streamed: false,
        });
        assert_eq!(line["gen_ai.provider.name"], "groq");
        assert_eq!(line["ai_budget.settlement"], "released");
        assert_eq!(line["ai_budget.cost_usd"], Value::Null);
        assert!(line.get("gen_ai.usage.input_tokens").is_none());
        assert!(line.get("gen_ai.response.model").is_none());
    }
}
