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
    /// Gemini `models/{model}:generateContent`.
    GenerateContent,
    /// Gemini `models/{model}:streamGenerateContent`: always a stream
    /// (server-sent events with `alt=sse`, else one JSON array).
    StreamGenerateContent,
    /// Gemini `models/{model}:countTokens`: passed through, never held or
    /// counted.
    GeminiCountTokens,
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
            Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
            | Endpoint::GeminiCountTokens => Dialect::Gemini,
        }
    }

    /// True for token counting: forwarded and answered, never held or
    /// counted (the provider does not bill it as a call).
    pub const fn uncounted(self) -> bool {
        matches!(
            self,
            Endpoint::ResponsesInputTokens | Endpoint::CountTokens | Endpoint::GeminiCountTokens
        )
    }

    /// The usage object its responses report.
    pub const fn usage_format(self) -> UsageFormat {
        match self {
            Endpoint::ChatCompletions => UsageFormat::OpenAiChat,
            Endpoint::Embeddings => UsageFormat::OpenAiEmbeddings,
            Endpoint::Responses | Endpoint::ResponsesInputTokens => UsageFormat::OpenAiResponses,
            Endpoint::Messages | Endpoint::CountTokens => UsageFormat::Anthropic,
            Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
            | Endpoint::GeminiCountTokens => UsageFormat::Gemini,
        }
    }

    /// The path appended to the provider's base URL upstream (for Gemini,
    /// the method after the model: see [`Endpoint::upstream_url_path`]).
    pub const fn upstream_path(self) -> &'static str {
        match self {
            Endpoint::GenerateContent => ":generateContent",
            Endpoint::StreamGenerateContent => ":streamGenerateContent",
            Endpoint::GeminiCountTokens => ":countTokens",
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Responses => "/responses",
            Endpoint::ResponsesInputTokens => "/responses/input_tokens",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
        }
    }

    /// True for a Gemini endpoint, whose model is named by the path.
    pub const fn model_in_path(self) -> bool {
        matches!(self.provider(), Dialect::Gemini)
    }

    /// The whole path appended to the provider's base URL upstream: for
    /// Gemini, `/v1beta/models/{model}:{method}` with the path's model.
    pub fn upstream_url_path(self, path_model: Option<&str>) -> String {
        match path_model {
            Some(model) if self.model_in_path() => {
                format!("/v1beta/models/{model}{}", self.upstream_path())
            }
            _ => self.upstream_path().to_owned(),
        }
    }
}

/// The model and endpoint of a Gemini path's last segment
/// (`{model}:{method}`), if the method is one we proxy.
fn gemini_target(segment: &str) -> Option<(&str, Endpoint)> {
    let (model, method) = segment.rsplit_once(':')?;
    let endpoint = match method {
        "generateContent" => Endpoint::GenerateContent,
        "streamGenerateContent" => Endpoint::StreamGenerateContent,
        "countTokens" => Endpoint::GeminiCountTokens,
        _ => return None,
    };
    Some((model, endpoint))
}

/// True for a model name a path may carry upstream: 1 to 128 of ASCII
/// letters, digits and `-._~;=,`, not starting with a dot (no other
/// segment, query or escape can ride along).
pub fn valid_path_model(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 128
        && !model.starts_with('.')
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~;=,".contains(c))
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
            (Dialect::Gemini, ["v1beta", "models", target]) => {
                gemini_target(target).map(|(_, endpoint)| endpoint)
            }
            _ => None,
        }
    }
}

/// The provider a gateway path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderName {
    /// `.../openai/...`, `.../anthropic/...`, `.../gemini/...` (also
    /// `.../providers/openai/...`).
    BuiltIn(Dialect),
    /// `.../providers/{name}/...`: an entry of `GATEWAY_PROVIDERS`.
    Named(String),
}

/// A path under the gateway: `/v1/ports/{port}/{openai|anthropic|gemini}/...` or
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

    /// The model a Gemini path names (`.../models/{model}:{method}`), as
    /// written; `None` for the other dialects' paths.
    pub fn path_model(&self) -> Option<&str> {
        match self.rest.as_slice() {
            [version, models, target] if version == "v1beta" && models == "models" => {
                gemini_target(target).map(|(model, _)| model)
            }
            _ => None,
        }
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
    fn gemini_paths_name_their_model_and_method() {
        let gemini = ProviderName::BuiltIn(Dialect::Gemini);
        let path = "/v1/ports/acme/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent";
        assert_eq!(
            parse(path),
            Some((
                "acme".into(),
                gemini.clone(),
                Some(Endpoint::StreamGenerateContent)
            ))
        );
        let parsed = GatewayPath::parse(path).unwrap();
        assert_eq!(parsed.path_model(), Some("gemini-2.5-flash"));
        assert_eq!(
            Endpoint::StreamGenerateContent.upstream_url_path(parsed.path_model()),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert_eq!(
            parse("/v1/ports/acme/gemini/v1beta/models/g:countTokens"),
            Some((
                "acme".into(),
                gemini.clone(),
                Some(Endpoint::GeminiCountTokens)
            ))
        );
        assert_eq!(
            parse("/v1/ports/acme/gemini/v1beta/models/g:embedContent"),
            Some(("acme".into(), gemini.clone(), None)),
            "a method not proxied is the gateway's 404"
        );
        assert_eq!(
            parse("/v1/ports/acme/gemini/v1beta/models/g"),
            Some(("acme".into(), gemini, None))
        );
        let chat = GatewayPath::parse("/v1/ports/acme/openai/chat/completions").unwrap();
        assert_eq!(chat.path_model(), None);
        assert_eq!(
            Endpoint::ChatCompletions.upstream_url_path(Some("x")),
            "/chat/completions"
        );
    }

    #[test]
    fn a_path_model_is_one_plain_segment() {
        assert!(valid_path_model("gemini-2.5-flash"));
        assert!(valid_path_model("gemini-2.5-pro-preview-06-05"));
        assert!(!valid_path_model(""));
        assert!(!valid_path_model(".."));
        assert!(!valid_path_model("a%2Fb"));
        assert!(!valid_path_model("a b"));
        assert!(!valid_path_model(&"m".repeat(129)));
    }

    #[test]
    fn token_counting_is_uncounted_and_calls_are_not() {
        for e in [
            Endpoint::ResponsesInputTokens,
            Endpoint::CountTokens,
            Endpoint::GeminiCountTokens,
        ] {
            assert!(e.uncounted());
        }
        for e in [
            Endpoint::ChatCompletions,
            Endpoint::Responses,
            Endpoint::Embeddings,
            Endpoint::Messages,
            Endpoint::GenerateContent,
            Endpoint::StreamGenerateContent,
        ] {
            assert!(!e.uncounted());
        }
        assert_eq!(Endpoint::Responses.upstream_path(), "/responses");
        assert_eq!(Endpoint::CountTokens.provider(), Dialect::Anthropic);
    }
}
