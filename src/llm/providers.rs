//! The gateway's providers: the three built in (`openai`, `anthropic`,
//! `gemini`) and a table of more (`GATEWAY_PROVIDERS`, a JSON array), each
//! speaking one of the three API dialects. Pure: the Worker reads the variable and the secrets.

use serde::Deserialize;

/// An LLM API dialect: how requests, usage and errors look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI style: `Authorization: Bearer`, `{"error": {...}}` errors;
    /// `/chat/completions`, `/responses`, `/embeddings`.
    OpenAi,
    /// Anthropic style: `x-api-key`, `{"type": "error", "error": {...}}`
    /// errors; `/v1/messages`.
    Anthropic,
    /// Gemini's native API: `x-goog-api-key`, `{"error": {"code",
    /// "message", "status"}}` errors; `/v1beta/models/{model}:generateContent`
    /// (the model is in the path).
    Gemini,
}

impl Dialect {
    /// `openai`, `anthropic` or `gemini`: the built-in provider of this
    /// dialect.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
        }
    }

    /// The dialect a name spells (`openai`, `anthropic`, `gemini`).
    pub fn parse(name: &str) -> Option<Dialect> {
        match name {
            "openai" => Some(Dialect::OpenAi),
            "anthropic" => Some(Dialect::Anthropic),
            "gemini" => Some(Dialect::Gemini),
            _ => None,
        }
    }
}

/// One provider of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSpec {
    /// Its name: the route segment after `/providers/` and the ledger's
    /// provider column.
    pub name: String,
    /// The URL the dialect's paths are appended to (no trailing slash).
    pub base_url: String,
    /// The Worker secret (or var) holding its key.
    pub key_secret: String,
    /// The API it speaks.
    pub dialect: Dialect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSpec {
    name: String,
    base_url: String,
    key_secret: String,
    dialect: String,
}

/// True for a provider name: 1 to 32 of `a-z`, `0-9`, `-`, `_`, starting
/// with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads a provider table: a JSON array of
/// `{"name", "baseUrl", "keySecret", "dialect"}`.
///
/// # Errors
/// A message naming what is wrong: not such an array, a bad or duplicate
/// name (or one of the built-in names `openai`, `anthropic`, `gemini`), a base URL
/// that is not `http(s)://`, an empty or malformed secret name, an unknown
/// dialect.
pub fn parse_table(text: &str) -> Result<Vec<ProviderSpec>, String> {
    let raw: Vec<RawSpec> = serde_json::from_str(text).map_err(|e| {
        format!(
            "GATEWAY_PROVIDERS must be a JSON array of {{name, baseUrl, keySecret, dialect}}: {e}"
        )
    })?;
    let mut table: Vec<ProviderSpec> = Vec::with_capacity(raw.len());
    for spec in raw {
        let name = spec.name;
        if !valid_name(&name) {
            return Err(format!(
                "provider name {name:?} must be 1 to 32 of a-z, 0-9, '-' and '_'"
            ));
        }
        if Dialect::parse(&name).is_some() {
            return Err(format!(
                "provider name {name:?} is built in (its base URL and key are OPENAI_*, ANTHROPIC_* or GEMINI_*)"
            ));
        }
        if table.iter().any(|p| p.name == name) {
            return Err(format!("provider name {name:?} appears twice"));
        }
        let base_url = spec.base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://"))
            || base_url.len() <= "https://".len()
        {
            return Err(format!(
                "provider {name:?}: baseUrl must be an http(s) URL, not {:?}",
                spec.base_url
            ));
        }
        let key_secret = spec.key_secret;
        if key_secret.is_empty()
            || !key_secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "provider {name:?}: keySecret must name a secret (A-Z, 0-9, '_')"
            ));
        }
        let Some(dialect) = Dialect::parse(&spec.dialect) else {
            return Err(format!(
                "provider {name:?}: dialect must be \"openai\", \"anthropic\" or \"gemini\", not {:?}",
                spec.dialect
            ));
        };
        table.push(ProviderSpec {
            name,
            base_url,
            key_secret,
            dialect,
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_names_its_providers_with_their_dialect_url_and_key_secret() {
        let table = parse_table(
            r#"[{"name":"groq","baseUrl":"https://api.groq.com/openai/v1/","keySecret":"GROQ_API_KEY","dialect":"openai"},
                {"name":"claude-eu","baseUrl":"https://eu.example.com","keySecret":"EU_KEY","dialect":"anthropic"}]"#,
        )
        .unwrap();
        assert_eq!(
            table[0],
            ProviderSpec {
                name: "groq".into(),
                base_url: "https://api.groq.com/openai/v1".into(),
                key_secret: "GROQ_API_KEY".into(),
                dialect: Dialect::OpenAi,
            }
        );
        assert_eq!(table[1].dialect, Dialect::Anthropic);
        let vertex = parse_table(
            r#"[{"name":"gemini-eu","baseUrl":"https://eu.example.com","keySecret":"EU_GEMINI","dialect":"gemini"}]"#,
        )
        .unwrap();
        assert_eq!(vertex[0].dialect, Dialect::Gemini);
        assert_eq!(parse_table("[]").unwrap(), vec![]);
    }

    #[test]
    fn a_bad_table_is_refused_with_a_reason() {
        let one = |name: &str, url: &str, secret: &str, dialect: &str| {
            parse_table(&format!(
                r#"[{{"name":"{name}","baseUrl":"{url}","keySecret":"{secret}","dialect":"{dialect}"}}]"#
            ))
            .unwrap_err()
        };
        assert!(parse_table("{}").unwrap_err().contains("JSON array"));
        assert!(one("Groq", "https://x", "K", "openai").contains("a-z"));
        assert!(one("openai", "https://x", "K", "openai").contains("built in"));
        assert!(one("g", "ftp://x", "K", "openai").contains("baseUrl"));
        assert!(one("g", "https://x", "my key", "openai").contains("keySecret"));
        assert!(one("g", "https://x", "K", "cohere").contains("dialect"));
        assert!(one("gemini", "https://x", "K", "gemini").contains("built in"));
        let twice = r#"[{"name":"g","baseUrl":"https://x","keySecret":"K","dialect":"openai"},
                        {"name":"g","baseUrl":"https://y","keySecret":"K","dialect":"openai"}]"#;
        assert!(parse_table(twice).unwrap_err().contains("twice"));
        let extra = r#"[{"name":"g","baseUrl":"https://x","keySecret":"K","dialect":"openai","key":"sk-1"}]"#;
        assert!(parse_table(extra).is_err(), "no key in the table itself");
    }

    #[test]
    fn names_are_short_lowercase_words() {
        assert!(valid_name("groq"));
        assert!(valid_name("my_provider-2"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name(&"a".repeat(33)));
    }
}
