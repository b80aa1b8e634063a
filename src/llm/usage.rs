//! The usage a provider reports for a call, read from its JSON: OpenAI Chat
//! Completions and Embeddings (`usage.prompt_tokens`...), the OpenAI
//! Responses API (`usage.input_tokens`...), Anthropic Messages
//! (`usage.input_tokens` plus its cache counts) and Gemini
//! (`usageMetadata.promptTokenCount`...). Pure, with no I/O: the
//! Worker's gateway feeds it the bodies and events it relays.

use serde_json::Value;

use crate::pricing::billing::{Billing, ServiceTier};
use crate::{tokens_from_f64, TokenCounts};

/// Which usage object a provider's API reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageFormat {
    /// OpenAI Chat Completions: `prompt_tokens`, `completion_tokens`,
    /// `prompt_tokens_details.{cached_tokens, cache_write_tokens}`,
    /// `completion_tokens_details.reasoning_tokens`.
    OpenAiChat,
    /// OpenAI Embeddings: `prompt_tokens` only.
    OpenAiEmbeddings,
    /// OpenAI Responses: `input_tokens`, `output_tokens`,
    /// `input_tokens_details.{cached_tokens, cache_write_tokens}`,
    /// `output_tokens_details.reasoning_tokens`.
    OpenAiResponses,
    /// Anthropic Messages: `input_tokens` (uncached), `output_tokens`,
    /// `cache_creation_input_tokens`, `cache_read_input_tokens`,
    /// `output_tokens_details.thinking_tokens`.
    Anthropic,
    /// Gemini `usageMetadata`: `promptTokenCount` (cached input inside it,
    /// as `cachedContentTokenCount`), `candidatesTokenCount`,
    /// `thoughtsTokenCount` (billed as output, reported beside the
    /// candidates), `toolUsePromptTokenCount` (input the provider's tools
    /// added). Zero counts may be left out.
    Gemini,
}

impl UsageFormat {
    /// The key of a response body that holds its usage object.
    pub const fn usage_key(self) -> &'static str {
        match self {
            UsageFormat::Gemini => "usageMetadata",
            _ => "usage",
        }
    }

    /// The key of a response body that names the model that answered.
    pub const fn model_key(self) -> &'static str {
        match self {
            UsageFormat::Gemini => "modelVersion",
            _ => "model",
        }
    }
}

/// A whole non-negative token count reported by a provider.
pub fn reported_tokens(value: Option<&Value>) -> Option<u64> {
    let n = value?.as_f64()?;
    tokens_from_f64(n, "usage").ok()
}

/// An optional detail count at `outer.inner` (absent, null or malformed: 0).
fn detail(usage: &Value, outer: &str, inner: &str) -> u64 {
    reported_tokens(usage.get(outer).and_then(|d| d.get(inner))).unwrap_or(0)
}

/// Anthropic input tokens: uncached input plus cache writes and reads (all
/// are input the provider processed), with the reads and writes as details.
/// `None` without `input_tokens`.
pub fn anthropic_input(usage: &Value) -> Option<TokenCounts> {
    let base = reported_tokens(usage.get("input_tokens"))?;
    let writes = reported_tokens(usage.get("cache_creation_input_tokens")).unwrap_or(0);
    let reads = reported_tokens(usage.get("cache_read_input_tokens")).unwrap_or(0);
    // Not clamped: a sum past 2^53 - 1 stays past it, and settlement
    // charges the call its hold instead of counting a clamped total.
    Some(TokenCounts {
        input_tokens: base.saturating_add(writes).saturating_add(reads),
        cached_input_tokens: reads,
        cache_write_tokens: writes,
        ..TokenCounts::default()
    })
}

/// Gemini's usage: the prompt (cached reads inside it) plus what tools
/// added as input; candidates plus thoughts as output, the thoughts kept
/// as reasoning (so counted once). `None` without `promptTokenCount`; the
/// other counts are left out by the provider when they are zero.
fn gemini_usage(usage: &Value) -> Option<TokenCounts> {
    let count = |key: &str| reported_tokens(usage.get(key)).unwrap_or(0);
    let prompt = reported_tokens(usage.get("promptTokenCount"))?;
    let thoughts = count("thoughtsTokenCount");
    Some(TokenCounts {
        input_tokens: prompt.saturating_add(count("toolUsePromptTokenCount")),
        output_tokens: count("candidatesTokenCount").saturating_add(thoughts),
        cached_input_tokens: count("cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
    })
}

/// Reads a usage object (the value of a response's `usage`) in `format`.
/// `None` when a total is missing or malformed; details are optional.
pub fn read_usage(format: UsageFormat, usage: &Value) -> Option<TokenCounts> {
    let usage = match format {
        UsageFormat::OpenAiChat => TokenCounts {
            input_tokens: reported_tokens(usage.get("prompt_tokens"))?,
            output_tokens: reported_tokens(usage.get("completion_tokens"))?,
            cached_input_tokens: detail(usage, "prompt_tokens_details", "cached_tokens"),
            cache_write_tokens: detail(usage, "prompt_tokens_details", "cache_write_tokens"),
            reasoning_tokens: detail(usage, "completion_tokens_details", "reasoning_tokens"),
        },
        UsageFormat::OpenAiEmbeddings => {
            TokenCounts::new(reported_tokens(usage.get("prompt_tokens"))?, 0)
        }
        UsageFormat::OpenAiResponses => TokenCounts {
            input_tokens: reported_tokens(usage.get("input_tokens"))?,
            output_tokens: reported_tokens(usage.get("output_tokens"))?,
            cached_input_tokens: detail(usage, "input_tokens_details", "cached_tokens"),
            cache_write_tokens: detail(usage, "input_tokens_details", "cache_write_tokens"),
            reasoning_tokens: detail(usage, "output_tokens_details", "reasoning_tokens"),
        },
        UsageFormat::Anthropic => TokenCounts {
            output_tokens: reported_tokens(usage.get("output_tokens"))?,
            reasoning_tokens: detail(usage, "output_tokens_details", "thinking_tokens"),
            ..anthropic_input(usage)?
        },
        UsageFormat::Gemini => gemini_usage(usage)?,
    };
    Some(usage.bounded())
}

/// The usage a complete (non-streamed) response body reports, if well-formed.
pub fn response_usage(format: UsageFormat, body: &Value) -> Option<TokenCounts> {
    read_usage(format, body.get(format.usage_key())?)
}

/// How a usage object says the call was billed: Anthropic's
/// `service_tier` and 1-hour cache writes
/// (`cache_creation.ephemeral_1h_input_tokens`); `None` when it says
/// neither.
pub fn usage_billing(usage: &Value) -> Option<Billing> {
    let tier = usage.get("service_tier").and_then(Value::as_str);
    let writes_1h = reported_tokens(
        usage
            .get("cache_creation")
            .and_then(|c| c.get("ephemeral_1h_input_tokens")),
    );
    (tier.is_some() || writes_1h.is_some()).then(|| Billing {
        service_tier: ServiceTier::from_answer(tier),
        cache_write_1h_tokens: writes_1h.unwrap_or(0),
    })
}

/// How a response (a whole body, a stream chunk, a Responses object) says
/// the call was billed: the service tier that served it (OpenAI's
/// top-level `service_tier`, Anthropic's in its usage) and the 1-hour
/// cache writes. Standard, with no 1-hour writes, when it says nothing.
pub fn response_billing(format: UsageFormat, body: &Value) -> Billing {
    let from_usage = body.get(format.usage_key()).and_then(usage_billing);
    let tier = body.get("service_tier").and_then(Value::as_str);
    match (from_usage, tier) {
        (Some(billing), None) => billing,
        (from_usage, tier) => Billing {
            service_tier: ServiceTier::from_answer(tier),
            ..from_usage.unwrap_or_default()
        },
    }
}

/// The model a response body names as the one that answered, if any.
pub fn response_model(format: UsageFormat, body: &Value) -> Option<String> {
    body.get(format.model_key())
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The terminal events of a Responses API stream, whose `response` carries
/// the call's usage.
pub const RESPONSES_TERMINAL_EVENTS: &[&str] = &[
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// A Responses API stream event's final usage and model: only from a
/// terminal event (`response.completed`, `.incomplete`, `.failed`), read from
/// its `response` object. `None` for any other event, or a terminal one
/// without readable usage.
pub fn responses_event_usage(event: &Value) -> Option<(TokenCounts, Option<String>)> {
    let kind = event.get("type").and_then(Value::as_str)?;
    if !RESPONSES_TERMINAL_EVENTS.contains(&kind) {
        return None;
    }
    let response = event.get("response")?;
    let usage = response_usage(UsageFormat::OpenAiResponses, response)?;
    let model = response
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((usage, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_usage_keeps_cached_and_reasoning_tokens_as_parts_of_the_totals() {
        let usage = json!({
            "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0, "cache_write_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 256}
        });
        assert_eq!(
            read_usage(UsageFormat::OpenAiChat, &usage),
            Some(TokenCounts {
                input_tokens: 1200,
                output_tokens: 300,
                cached_input_tokens: 1024,
                cache_write_tokens: 100,
                reasoning_tokens: 256,
            })
        );
    }

    #[test]
    fn details_are_optional_and_totals_are_not() {
        let plain = json!({"prompt_tokens": 10, "completion_tokens": 2});
        assert_eq!(
            read_usage(UsageFormat::OpenAiChat, &plain),
            Some(TokenCounts::new(10, 2))
        );
        let nulls = json!({"prompt_tokens": 10, "completion_tokens": 2,
            "prompt_tokens_details": null, "completion_tokens_details": {"reasoning_tokens": null}});
        assert_eq!(
            read_usage(UsageFormat::OpenAiChat, &nulls),
            Some(TokenCounts::new(10, 2))
        );
        assert_eq!(
            read_usage(UsageFormat::OpenAiChat, &json!({"prompt_tokens": 10})),
            None
        );
        assert_eq!(
            read_usage(
                UsageFormat::OpenAiResponses,
                &json!({"input_tokens": -1, "output_tokens": 2})
            ),
            None
        );
    }

    #[test]
    fn responses_usage_reads_input_and_output_details() {
        let body = json!({"usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 128},
            "output_tokens": 52, "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 380}});
        assert_eq!(
            response_usage(UsageFormat::OpenAiResponses, &body),
            Some(TokenCounts {
                input_tokens: 328,
                output_tokens: 52,
                cached_input_tokens: 128,
                cache_write_tokens: 0,
                reasoning_tokens: 40,
            })
        );
    }

    #[test]
    fn details_larger_than_their_totals_are_capped() {
        let usage = json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 50, "cache_write_tokens": 9},
            "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 7}});
        let read = read_usage(UsageFormat::OpenAiResponses, &usage).unwrap();
        assert_eq!(
            (
                read.cached_input_tokens,
                read.cache_write_tokens,
                read.reasoning_tokens
            ),
            (10, 0, 2)
        );
    }

    #[test]
    fn anthropic_input_adds_cache_reads_and_writes_and_keeps_them_as_details() {
        let usage = json!({"input_tokens": 40, "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000, "output_tokens": 12});
        assert_eq!(
            read_usage(UsageFormat::Anthropic, &usage),
            Some(TokenCounts {
                input_tokens: 1140,
                output_tokens: 12,
                cached_input_tokens: 1000,
                cache_write_tokens: 100,
                reasoning_tokens: 0,
            })
        );
        let thinking = json!({"input_tokens": 4, "output_tokens": 9, "output_tokens_details": {"thinking_tokens": 6}});
        assert_eq!(
            read_usage(UsageFormat::Anthropic, &thinking)
                .unwrap()
                .reasoning_tokens,
            6
        );
        let nulls =
            json!({"input_tokens": 4, "cache_creation_input_tokens": null, "output_tokens": 1});
        assert_eq!(
            read_usage(UsageFormat::Anthropic, &nulls),
            Some(TokenCounts::new(4, 1))
        );
    }

    #[test]
    fn gemini_usage_bills_thoughts_as_output_once_and_keeps_cached_input_inside_the_prompt() {
        let body = json!({"modelVersion": "gemini-2.5-flash", "usageMetadata": {
            "promptTokenCount": 1200, "cachedContentTokenCount": 1000,
            "candidatesTokenCount": 300, "thoughtsTokenCount": 700,
            "toolUsePromptTokenCount": 50, "totalTokenCount": 2250}});
        assert_eq!(
            response_usage(UsageFormat::Gemini, &body),
            Some(TokenCounts {
                input_tokens: 1250,
                output_tokens: 1000,
                cached_input_tokens: 1000,
                cache_write_tokens: 0,
                reasoning_tokens: 700,
            })
        );
        assert_eq!(
            response_model(UsageFormat::Gemini, &body).as_deref(),
            Some("gemini-2.5-flash")
        );
    }

    #[test]
    fn gemini_usage_needs_its_prompt_count_and_reads_left_out_counts_as_zero() {
        let plain = json!({"promptTokenCount": 8, "totalTokenCount": 8});
        assert_eq!(
            read_usage(UsageFormat::Gemini, &plain),
            Some(TokenCounts::new(8, 0))
        );
        let no_prompt = json!({"candidatesTokenCount": 3});
        assert_eq!(read_usage(UsageFormat::Gemini, &no_prompt), None);
        assert_eq!(
            response_usage(UsageFormat::Gemini, &json!({"usage": plain})),
            None,
            "Gemini's usage is under usageMetadata"
        );
    }

    #[test]
    fn the_tier_billed_is_the_one_the_answer_names_and_1h_writes_are_kept() {
        let openai = json!({"service_tier": "priority", "usage": {"prompt_tokens": 1, "completion_tokens": 1}});
        assert_eq!(
            response_billing(UsageFormat::OpenAiChat, &openai).service_tier,
            ServiceTier::Priority
        );
        let asked_flex_served_default = json!({"service_tier": "default", "usage": {}});
        assert_eq!(
            response_billing(UsageFormat::OpenAiResponses, &asked_flex_served_default),
            Billing::default()
        );
        let anthropic = json!({"usage": {"input_tokens": 5, "output_tokens": 1,
            "cache_creation_input_tokens": 300, "service_tier": "batch",
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}});
        assert_eq!(
            response_billing(UsageFormat::Anthropic, &anthropic),
            Billing {
                service_tier: ServiceTier::Batch,
                cache_write_1h_tokens: 200
            }
        );
    }

    #[test]
    fn embeddings_have_no_output() {
        let body = json!({"usage": {"prompt_tokens": 64, "total_tokens": 64}});
        assert_eq!(
            response_usage(UsageFormat::OpenAiEmbeddings, &body),
            Some(TokenCounts::new(64, 0))
        );
    }

    #[test]
    fn only_terminal_responses_events_carry_the_final_usage() {
        let usage = json!({"input_tokens": 10, "output_tokens": 2});
        for kind in RESPONSES_TERMINAL_EVENTS {
            let event = json!({"type": kind, "response": {"model": "m-1", "usage": usage}});
            assert_eq!(
                responses_event_usage(&event),
                Some((TokenCounts::new(10, 2), Some("m-1".to_owned())))
            );
        }
        let created =
            json!({"type": "response.created", "response": {"model": "m", "usage": usage}});
        assert_eq!(responses_event_usage(&created), None);
        let failed_without = json!({"type": "response.failed", "response": {"usage": null}});
        assert_eq!(responses_event_usage(&failed_without), None);
    }
}
