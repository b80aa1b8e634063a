//! Per-port gateway settings (`GATEWAY_PORT_SETTINGS`, a JSON object by port
//! name): strict mode on or off, the default output bound, and the models a
//! port may call. Pure: the Worker reads the variable.

use std::collections::HashMap;

use serde::Deserialize;

use crate::MAX_TOKENS;

/// One port's settings; a setting left out is the gateway's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSettings {
    /// Strict mode (the upper-bound estimate) on or off.
    #[serde(default)]
    pub strict: Option<bool>,
    /// The output bound set on calls that carry none.
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    /// The models the port may call: exact names, or prefixes ending in `*`
    /// (`gpt-4.1*`). Absent: any model.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

impl PortSettings {
    /// True when the port may call `model`.
    pub fn allows(&self, model: &str) -> bool {
        let Some(models) = &self.models else {
            return true;
        };
        models
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => model == allowed,
            })
    }
}

/// Reads the settings of every port: `{"port": {"strict", "defaultMaxTokens", "models"}}`.
///
/// # Errors
/// A message naming what is wrong: not such an object, an unknown field, a
/// default bound outside 1 to 2^53 - 1, an empty model name.
pub fn parse_port_settings(text: &str) -> Result<HashMap<String, PortSettings>, String> {
    let table: HashMap<String, PortSettings> = serde_json::from_str(text).map_err(|e| {
        format!(
            "GATEWAY_PORT_SETTINGS must be a JSON object of port -> {{strict, defaultMaxTokens, models}}: {e}"
        )
    })?;
    for (port, settings) in &table {
        if let Some(n) = settings.default_max_tokens {
            if !(1..=MAX_TOKENS).contains(&n) {
                return Err(format!(
                    "port {port:?}: defaultMaxTokens must be 1 to {MAX_TOKENS}"
                ));
            }
        }
        if let Some(models) = &settings.models {
            if models.iter().any(|m| m.is_empty() || m == "*") {
                return Err(format!(
                    "port {port:?}: models must be names or prefixes ending in '*' (leave models out to allow any)"
                ));
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_by_port_and_left_out_settings_stay_unset() {
        let table = parse_port_settings(
            r#"{"acme": {"strict": false, "defaultMaxTokens": 512, "models": ["gpt-4.1-mini", "claude-*"]},
                "open": {}}"#,
        )
        .unwrap();
        let acme = &table["acme"];
        assert_eq!(
            (acme.strict, acme.default_max_tokens),
            (Some(false), Some(512))
        );
        assert_eq!(table["open"], PortSettings::default());
        assert!(parse_port_settings("{}").unwrap().is_empty());
    }

    #[test]
    fn models_are_exact_names_or_prefixes() {
        let settings = PortSettings {
            models: Some(vec!["gpt-4.1-mini".into(), "claude-*".into()]),
            ..PortSettings::default()
        };
        assert!(settings.allows("gpt-4.1-mini"));
        assert!(!settings.allows("gpt-4.1-mini-2025"));
        assert!(!settings.allows("gpt-4.1"));
        assert!(settings.allows("claude-sonnet-4-6"));
        assert!(PortSettings::default().allows("anything"));
        let none = PortSettings {
            models: Some(vec![]),
            ..PortSettings::default()
        };
        assert!(!none.allows("gpt-4.1-mini"), "an empty list allows nothing");
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        assert!(parse_port_settings("[]")
            .unwrap_err()
            .contains("JSON object"));
        assert!(parse_port_settings(r#"{"a": {"strict": "no"}}"#).is_err());
        assert!(parse_port_settings(r#"{"a": {"modles": []}}"#).is_err());
        assert!(parse_port_settings(r#"{"a": {"defaultMaxTokens": 0}}"#)
            .unwrap_err()
            .contains("defaultMaxTokens"));
        assert!(parse_port_settings(r#"{"a": {"models": ["*"]}}"#)
            .unwrap_err()
            .contains("models"));
    }
}
