//! The gateway's routes: which provider and endpoint a path names, what the
//! endpoint is called upstream, and how its usage is reported. Pure.

use super::providers::Dialect;
use super::usage::UsageFormat;

/// One proxied endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// OpenAI Chat Completions.
    ChatCompletions,
    /// OpenAI Embeddings (no output tokens, never streamed).
    Embeddings,
    /// OpenAI Responses.
    Responses,
    /// OpenAI Responses input-token counting: passed through, never held
    /// or counted.
    ResponsesInputTokens,
    /// Anthropic Messages.
    Messages,
    /// Anthropic token counting: passed through, never held or counted.
    CountTokens,
}

impl Endpoint {
    /// The provider whose API it is.
    pub const fn provider(self) -> Dialect {
        match self {
            Endpoint::ChatCompletions
            | Endpoint::Embeddings
            | Endpoint::Responses
            | Endpoint::ResponsesInputTokens => Dialect::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Dialect::Anthropic,
        }
    }

    /// True for token counting: forwarded and answered, never held or
    /// counted (the provider does not bill it as a call).
    pub const fn uncounted(self) -> bool {
        matches!(self, Endpoint::ResponsesInputTokens | Endpoint::CountTokens)
    }

    /// The usage object its responses report.
    pub const fn usage_format(self) -> UsageFormat {
        match self {
            Endpoint::ChatCompletions => UsageFormat::OpenAiChat,
            Endpoint::Embeddings => UsageFormat::OpenAiEmbeddings,
            Endpoint::Responses | Endpoint::ResponsesInputTokens => UsageFormat::OpenAiResponses,
            Endpoint::Messages | Endpoint::CountTokens => UsageFormat::Anthropic,
        }
    }

    /// The path appended to the provider's base URL upstream.
    pub const fn upstream_path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Responses => "/responses",
            Endpoint::ResponsesInputTokens => "/responses/input_tokens",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
        }
    }
}

impl Endpoint {
    /// The endpoint of `dialect` that the path segments after the
    /// provider name spell, if it is one we proxy.
    pub fn parse(dialect: Dialect, rest: &[&str]) -> Option<Endpoint> {
        match (dialect, rest) {
            (Dialect::OpenAi, ["chat", "completions"]) => Some(Endpoint::ChatCompletions),
            (Dialect::OpenAi, ["embeddings"]) => Some(Endpoint::Embeddings),
            (Dialect::OpenAi, ["responses"]) => Some(Endpoint::Responses),
            (Dialect::OpenAi, ["responses", "input_tokens"]) => {
                Some(Endpoint::ResponsesInputTokens)
            }
            (Dialect::Anthropic, ["v1", "messages"]) => Some(Endpoint::Messages),
            (Dialect::Anthropic, ["v1", "messages", "count_tokens"]) => Some(Endpoint::CountTokens),
            _ => None,
        }
    }
}

/// The provider a gateway path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderName {
    /// `.../openai/...`, `.../anthropic/...` (also `.../providers/openai/...`).
    BuiltIn(Dialect),
    /// `.../providers/{name}/...`: an entry of `GATEWAY_PROVIDERS`.
    Named(String),
}

/// A path under the gateway: `/v1/ports/{port}/{openai|anthropic}/...` or
/// `/v1/ports/{port}/providers/{name}/...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPath {
    /// The port.
    pub port: String,
    /// The provider the path names.
    pub provider: ProviderName,
    /// The segments after the provider (the dialect's endpoint path).
    pub rest: Vec<String>,
}

impl GatewayPath {
    /// The gateway path `path` names, or `None` when it is not under the
    /// gateway (then the HTTP API answers it).
    pub fn parse(path: &str) -> Option<GatewayPath> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let ["v1", "ports", port, rest @ ..] = segments.as_slice() else {
            return None;
        };
        let (provider, rest) = match rest {
            ["providers", name, rest @ ..] => (
                Dialect::parse(name).map_or_else(
                    || ProviderName::Named((*name).to_owned()),
                    ProviderName::BuiltIn,
                ),
                rest,
            ),
            [name, rest @ ..] => (ProviderName::BuiltIn(Dialect::parse(name)?), rest),
            [] => return None,
        };
        Some(GatewayPath {
            port: (*port).to_owned(),
            provider,
            rest: rest.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// The endpoint of `dialect` the rest of the path names.
    pub fn endpoint(&self, dialect: Dialect) -> Option<Endpoint> {
        let rest: Vec<&str> = self.rest.iter().map(String::as_str).collect();
        Endpoint::parse(dialect, &rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Option<(String, ProviderName, Option<Endpoint>)> {
        let p = GatewayPath::parse(path)?;
        let dialect = match &p.provider {
            ProviderName::BuiltIn(d) => *d,
            ProviderName::Named(_) => Dialect::OpenAi,
        };
        Some((p.port.clone(), p.provider.clone(), p.endpoint(dialect)))
    }

    #[test]
    fn built_in_routes_name_their_dialect_and_endpoint() {
        let openai = ProviderName::BuiltIn(Dialect::OpenAi);
        let anthropic = ProviderName::BuiltIn(Dialect::Anthropic);
        assert_eq!(
            parse("/v1/ports/acme/openai/responses"),
            Some(("acme".into(), openai.clone(), Some(Endpoint::Responses)))
        );
        assert_eq!(
            parse("/v1/ports/acme/openai/responses/input_tokens/"),
            Some((
                "acme".into(),
                openai.clone(),
                Some(Endpoint::ResponsesInputTokens)
            ))
        );
        assert_eq!(
            parse("/v1/ports/acme/anthropic/v1/messages/count_tokens"),
            Some((
                "acme".into(),
                anthropic.clone(),
                Some(Endpoint::CountTokens)
            ))
        );
        assert_eq!(
            parse("/v1/ports/acme/anthropic/chat/completions"),
            Some(("acme".into(), anthropic, None)),
            "a path of the other dialect is the gateway's 404"
        );
        assert_eq!(
            parse("/v1/ports/acme/providers/openai/chat/completions"),
            Some(("acme".into(), openai, Some(Endpoint::ChatCompletions)))
        );
    }

    #[test]
    fn named_providers_and_paths_outside_the_gateway() {
        assert_eq!(
            parse("/v1/ports/acme/providers/groq/embeddings"),
            Some((
                "acme".into(),
                ProviderName::Named("groq".into()),
                Some(Endpoint::Embeddings)
            ))
        );
        assert_eq!(parse("/v1/ports/acme/usage"), None);
        assert_eq!(parse("/v1/ports/acme"), None);
        assert_eq!(parse("/v1/budgets"), None);
    }

    #[test]
    fn token_counting_is_uncounted_and_calls_are_not() {
        for e in [Endpoint::ResponsesInputTokens, Endpoint::CountTokens] {
            assert!(e.uncounted());
        }
        for e in [
            Endpoint::ChatCompletions,
            Endpoint::Responses,
            Endpoint::Embeddings,
            Endpoint::Messages,
        ] {
            assert!(!e.uncounted());
        }
        assert_eq!(Endpoint::Responses.upstream_path(), "/responses");
        assert_eq!(Endpoint::CountTokens.provider(), Dialect::Anthropic);
    }
}
