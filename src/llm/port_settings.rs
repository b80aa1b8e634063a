//! Per-port gateway settings: strict mode on or off, the default output
//! bound, the models a port may call, and the actions at its caps. Kept
//! in the port's gate (saved through `PUT /v1/ports/{port}/gateway`) over
//! the deployment's defaults (`GATEWAY_PORT_SETTINGS`, a JSON object by
//! port name). Pure: the Worker reads the variable and the API's bodies.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::actions::{CapAction, CapActions};
use crate::caps::MAX_FEATURE_CAPS;
use crate::text::valid_id;
use crate::MAX_TOKENS;

/// One port's settings; a setting left out is the gateway's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSettings {
    /// Strict mode (the upper-bound estimate) on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// The output bound set on calls that carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_tokens: Option<u64>,
    /// The models the port may call: exact names, or prefixes ending in `*`
    /// (`gpt-4.1*`). Absent: any model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// What to do above the soft cap (absent: pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_soft_cap: Option<CapAction>,
    /// What to do at the hard cap (absent: refuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hard_cap: Option<CapAction>,
    /// The actions at a feature's own cap (`featureCaps` in the budget),
    /// by feature: they judge a call of that feature when the feature's
    /// cap is the one crossed ([`crate::actions::verdict_of_caps`]); a
    /// feature without a cap is never judged by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<BTreeMap<String, CapActions>>,
}

/// The fields of a port's gateway settings.
const FIELDS: [&str; 6] = [
    "strict",
    "defaultMaxTokens",
    "models",
    "onSoftCap",
    "onHardCap",
    "features",
];

/// Why settings were refused: an error code, the field (dotted path), and
/// a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// `invalid-type`, `invalid-value`, `unknown-field`, `unknown-action`
    /// or `model-not-allowed`.
    pub code: &'static str,
    /// The field, as `onSoftCap.callsPerMinute`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn error(code: &'static str, field: &str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        code,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// True when `model` is one of `models`: an exact name, or a prefix ending
/// in `*`.
fn listed(models: &[String], model: &str) -> bool {
    models
        .iter()
        .any(|allowed| match allowed.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => model == allowed,
        })
}

impl PortSettings {
    /// True when the port may call `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| listed(models, model))
    }

    /// These settings over `defaults`: each setting left out here is the
    /// default's.
    pub fn over(&self, defaults: &PortSettings) -> PortSettings {
        PortSettings {
            strict: self.strict.or(defaults.strict),
            default_max_tokens: self.default_max_tokens.or(defaults.default_max_tokens),
            models: self.models.clone().or_else(|| defaults.models.clone()),
            on_soft_cap: self
                .on_soft_cap
                .clone()
                .or_else(|| defaults.on_soft_cap.clone()),
            on_hard_cap: self
                .on_hard_cap
                .clone()
                .or_else(|| defaults.on_hard_cap.clone()),
            features: self.features.clone().or_else(|| defaults.features.clone()),
        }
    }

    /// The actions at the port's caps.
    pub fn actions(&self) -> CapActions {
        CapActions {
            on_soft_cap: self.on_soft_cap.clone(),
            on_hard_cap: self.on_hard_cap.clone(),
        }
    }

    /// The actions at `feature`'s own cap (none set: none).
    pub fn feature_actions(&self, feature: &str) -> CapActions {
        self.features
            .as_ref()
            .and_then(|features| features.get(feature))
            .cloned()
            .unwrap_or_default()
    }

    /// Reads one port's settings from JSON (`{strict, defaultMaxTokens,
    /// models, onSoftCap, onHardCap, features}`, each optional), checked
    /// whole: a default bound of 1 to 2^53 - 1, model names or prefixes,
    /// actions `pass`, `downgrade` (to models the list allows), `throttle`
    /// (a whole number of calls a minute, 0 or more) and `refuse`; at the
    /// hard cap only `downgrade` and `refuse` (a call that does not fit is
    /// never let through); `features` maps feature ids (as `featureCaps`
    /// names them, at most [`crate::caps::MAX_FEATURE_CAPS`]) to their own
    /// `{onSoftCap, onHardCap}` by the same rules.
    ///
    /// # Errors
    /// The first thing wrong, with its field.
    pub fn from_json(value: &Value) -> Result<PortSettings, SettingsError> {
        let Some(fields) = value.as_object() else {
            return Err(error(
                "invalid-type",
                "",
                "gateway settings are a JSON object of strict, defaultMaxTokens, models, onSoftCap and onHardCap",
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(error(
                "unknown-field",
                unknown,
                format!("unknown field {unknown:?} ({})", FIELDS.join(", ")),
            ));
        }
        let present = |name: &str| fields.get(name).filter(|v| !v.is_null());
        let strict =
            match present("strict") {
                None => None,
                Some(v) => Some(v.as_bool().ok_or_else(|| {
                    error("invalid-type", "strict", "strict must be true or false")
                })?),
            };
        let default_max_tokens = match present("defaultMaxTokens") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| (1..=MAX_TOKENS).contains(n))
                    .ok_or_else(|| {
                        error(
                            "invalid-value",
                            "defaultMaxTokens",
                            format!(
                                "defaultMaxTokens must be a whole number from 1 to {MAX_TOKENS}"
                            ),
                        )
                    })?,
            ),
        };
        let models = match present("models") {
            None => None,
            Some(v) => Some(model_list(v)?),
        };
        let port = cap_actions(fields, "", models.as_deref())?;
        let features = match present("features") {
            None => None,
            Some(v) => Some(feature_actions(v, models.as_deref())?),
        };
        Ok(PortSettings {
            strict,
            default_max_tokens,
            on_soft_cap: port.on_soft_cap,
            on_hard_cap: port.on_hard_cap,
            models,
            features,
        })
    }
}

/// The `onSoftCap` and `onHardCap` of `fields` (the port's, or a feature's
/// under `at`, as `features.chat.`), their downgrades checked against
/// `models`; at the hard cap only `downgrade` and `refuse`.
fn cap_actions(
    fields: &Map<String, Value>,
    at: &str,
    models: Option<&[String]>,
) -> Result<CapActions, SettingsError> {
    let read = |name: &str| {
        fields
            .get(name)
            .filter(|v| !v.is_null())
            .map(|v| action(v, &format!("{at}{name}"), models))
            .transpose()
    };
    let actions = CapActions {
        on_soft_cap: read("onSoftCap")?,
        on_hard_cap: read("onHardCap")?,
    };
    if let Some(a @ (CapAction::Pass | CapAction::Throttle { .. })) = &actions.on_hard_cap {
        let name = if matches!(a, CapAction::Pass) {
            "pass"
        } else {
            "throttle"
        };
        return Err(error(
            "invalid-value",
            &format!("{at}onHardCap.action"),
            format!("onHardCap may be downgrade or refuse, not {name}: a call that does not fit the hard cap is never let through"),
        ));
    }
    Ok(actions)
}

/// `features`: `{"<feature>": {onSoftCap, onHardCap}}`.
fn feature_actions(
    value: &Value,
    models: Option<&[String]>,
) -> Result<BTreeMap<String, CapActions>, SettingsError> {
    let entries = value.as_object().ok_or_else(|| {
        error(
            "invalid-type",
            "features",
            "features is an object of feature -> {\"onSoftCap\", \"onHardCap\"}",
        )
    })?;
    if entries.len() > MAX_FEATURE_CAPS {
        return Err(error(
            "invalid-value",
            "features",
            format!(
                "features may name at most {MAX_FEATURE_CAPS} features (as many as featureCaps)"
            ),
        ));
    }
    let mut out = BTreeMap::new();
    for (feature, v) in entries {
        let at = format!("features.{feature}");
        if !valid_id(feature, 64) {
            return Err(error(
                "invalid-value",
                &at,
                "a feature is 1 to 64 characters without control, bidirectional or zero-width characters",
            ));
        }
        let fields = v.as_object().ok_or_else(|| {
            error(
                "invalid-type",
                &at,
                format!("{at} is an object of onSoftCap and onHardCap"),
            )
        })?;
        if let Some(unknown) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "onSoftCap" | "onHardCap"))
        {
            return Err(error(
                "unknown-field",
                &format!("{at}.{unknown}"),
                format!("a feature's actions are onSoftCap and onHardCap, not {unknown:?}"),
            ));
        }
        out.insert(
            feature.clone(),
            cap_actions(fields, &format!("{at}."), models)?,
        );
    }
    Ok(out)
}

/// A model list: names or prefixes ending in `*`, never empty or `*` alone.
fn model_list(value: &Value) -> Result<Vec<String>, SettingsError> {
    let bad = || {
        error(
            "invalid-value",
            "models",
            "models must be names or prefixes ending in '*' (leave models out to allow any)",
        )
    };
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|m| match m.as_str() {
            Some(name) if valid_model(name) => Ok(name.to_owned()),
            _ => Err(bad()),
        })
        .collect()
}

fn valid_model(name: &str) -> bool {
    !name.is_empty() && name != "*" && name.len() <= 128
}

/// One cap's action, its downgrade targets checked against `models`.
fn action(
    value: &Value,
    field: &str,
    models: Option<&[String]>,
) -> Result<CapAction, SettingsError> {
    let empty = Map::new();
    let fields = value.as_object().ok_or_else(|| {
        error(
            "invalid-type",
            field,
            format!("{field} is an object like {{\"action\": \"pass\"}}"),
        )
    })?;
    let name = fields.get("action").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match name {
        "pass" | "refuse" => &["action"],
        "downgrade" => &["action", "models"],
        "throttle" => &["action", "callsPerMinute"],
        _ => {
            return Err(error(
                "unknown-action",
                &format!("{field}.action"),
                format!("{field}.action must be pass, downgrade, throttle or refuse"),
            ))
        }
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(
            "unknown-field",
            &format!("{field}.{unknown}"),
            format!("{name} takes no field {unknown:?}"),
        ));
    }
    Ok(match name {
        "pass" => CapAction::Pass,
        "refuse" => CapAction::Refuse,
        "throttle" => {
            let rate = fields.get("callsPerMinute").and_then(Value::as_u64);
            let Some(calls_per_minute) = rate.filter(|n| *n <= 1_000_000) else {
                return Err(error(
                    "invalid-value",
                    &format!("{field}.callsPerMinute"),
                    "callsPerMinute must be a whole number of calls from 0 to 1000000",
                ));
            };
            CapAction::Throttle { calls_per_minute }
        }
        _ => {
            let at = format!("{field}.models");
            let map = fields
                .get("models")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            if map.is_empty() {
                return Err(error(
                    "invalid-value",
                    &at,
                    "a downgrade maps at least one model (or prefix ending in '*') to a cheaper model",
                ));
            }
            let mut out = std::collections::BTreeMap::new();
            for (from, to) in map {
                let to = to.as_str().filter(|t| valid_model(t) && !t.ends_with('*'));
                let Some(to) = to.filter(|_| valid_model(from)) else {
                    return Err(error(
                        "invalid-value",
                        &at,
                        format!("{from:?} must map to a model name"),
                    ));
                };
                if models.is_some_and(|list| !listed(list, to)) {
                    return Err(error(
                        "model-not-allowed",
                        &format!("{at}.{from}"),
                        format!("{to:?} is not one of the port's models"),
                    ));
                }
                out.insert(from.clone(), to.to_owned());
            }
            CapAction::Downgrade { models: out }
        }
    })
}

/// Reads the settings of every port: `{"port": {"strict", "defaultMaxTokens",
/// "models", "onSoftCap", "onHardCap"}}`, each port's by [`PortSettings::from_json`].
///
/// # Errors
/// A message naming what is wrong: not such an object, or a port's
/// settings refused (its field named).
pub fn parse_port_settings(text: &str) -> Result<HashMap<String, PortSettings>, String> {
    let table: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
        format!(
            "GATEWAY_PORT_SETTINGS must be a JSON object of port -> {{strict, defaultMaxTokens, models}}: {e}"
        )
    })?;
    table
        .into_iter()
        .map(|(port, value)| {
            PortSettings::from_json(&value)
                .map(|settings| (port.clone(), settings))
                .map_err(|e| format!("port {port:?}: {}: {}", e.field, e.message))
        })
        .collect()
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

    fn refused(json: &str) -> SettingsError {
        PortSettings::from_json(&serde_json::from_str(json).unwrap()).unwrap_err()
    }

    #[test]
    fn actions_are_read_and_saved_settings_win_over_the_defaults() {
        let saved = PortSettings::from_json(&serde_json::json!({
            "models": ["gpt-4.1*", "claude-*"],
            "onSoftCap": {"action": "downgrade", "models": {"gpt-4.1": "gpt-4.1-mini", "claude-sonnet-*": "claude-haiku-4-5"}},
            "onHardCap": {"action": "refuse"},
        }))
        .unwrap();
        let Some(CapAction::Downgrade { models }) = &saved.on_soft_cap else {
            panic!("a downgrade: {saved:?}")
        };
        assert_eq!(models["claude-sonnet-*"], "claude-haiku-4-5");
        assert_eq!(saved.on_hard_cap, Some(CapAction::Refuse));
        let throttle = PortSettings::from_json(
            &serde_json::json!({"onSoftCap": {"action": "throttle", "callsPerMinute": 0}}),
        )
        .unwrap();
        assert_eq!(
            throttle.on_soft_cap,
            Some(CapAction::Throttle {
                calls_per_minute: 0
            })
        );
        // Field by field over the deployment's defaults.
        let defaults = PortSettings {
            strict: Some(false),
            default_max_tokens: Some(9),
            models: Some(vec!["x".into()]),
            ..PortSettings::default()
        };
        let merged = saved.over(&defaults);
        assert_eq!(
            (merged.strict, merged.default_max_tokens),
            (Some(false), Some(9))
        );
        assert_eq!(merged.models, saved.models);
        assert_eq!(merged.actions(), saved.actions());
        // The stored form reads back the same.
        let stored = serde_json::to_value(&saved).unwrap();
        assert_eq!(PortSettings::from_json(&stored).unwrap(), saved);
        assert_eq!(
            serde_json::from_value::<PortSettings>(stored).unwrap(),
            saved
        );
    }

    #[test]
    fn bad_actions_are_refused_naming_the_field() {
        let e = refused(r#"{"onSoftCap": {"action": "slow-down"}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("unknown-action", "onSoftCap.action")
        );
        let e = refused(r#"{"onSoftCap": {"action": "throttle", "callsPerMinute": -1}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("invalid-value", "onSoftCap.callsPerMinute")
        );
        let e = refused(r#"{"onSoftCap": {"action": "throttle", "callsPerMinute": 2.5}}"#);
        assert_eq!(e.field, "onSoftCap.callsPerMinute");
        let e = refused(r#"{"onSoftCap": {"action": "throttle"}}"#);
        assert_eq!(e.field, "onSoftCap.callsPerMinute");
        let e = refused(
            r#"{"models": ["gpt-4.1*"], "onSoftCap": {"action": "downgrade", "models": {"gpt-4.1": "claude-haiku-4-5"}}}"#,
        );
        assert_eq!(
            (e.code, e.field.as_str()),
            ("model-not-allowed", "onSoftCap.models.gpt-4.1")
        );
        let e = refused(r#"{"onHardCap": {"action": "downgrade", "models": {}}}"#);
        assert_eq!(e.field, "onHardCap.models");
        let e = refused(r#"{"onHardCap": {"action": "downgrade", "models": {"a": "b*"}}}"#);
        assert_eq!(e.field, "onHardCap.models");
        let e = refused(r#"{"onHardCap": {"action": "pass"}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("invalid-value", "onHardCap.action")
        );
        let e = refused(r#"{"onHardCap": {"action": "refuse", "why": 1}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("unknown-field", "onHardCap.why")
        );
        let e = refused(r#"{"onSoftCap": "pass"}"#);
        assert_eq!((e.code, e.field.as_str()), ("invalid-type", "onSoftCap"));
        let e = refused(r#"{"strict": 1}"#);
        assert_eq!(e.field, "strict");
        assert_eq!(refused("[]").code, "invalid-type");
    }

    #[test]
    fn a_features_actions_are_read_by_the_ports_rules_and_refused_naming_the_field() {
        let saved = PortSettings::from_json(&serde_json::json!({
            "models": ["gpt-4.1*"],
            "onSoftCap": {"action": "throttle", "callsPerMinute": 10},
            "features": {
                "chat": {"onSoftCap": {"action": "downgrade", "models": {"gpt-4.1": "gpt-4.1-mini"}}},
                "search": {"onSoftCap": {"action": "throttle", "callsPerMinute": 3}, "onHardCap": {"action": "refuse"}},
            },
        }))
        .unwrap();
        assert_eq!(
            saved.feature_actions("search").on_soft_cap,
            Some(CapAction::Throttle {
                calls_per_minute: 3
            })
        );
        assert!(matches!(
            saved.feature_actions("chat").on_soft_cap,
            Some(CapAction::Downgrade { .. })
        ));
        assert_eq!(saved.feature_actions("other"), CapActions::default());
        let stored = serde_json::to_value(&saved).unwrap();
        assert_eq!(PortSettings::from_json(&stored).unwrap(), saved);
        assert_eq!(
            serde_json::from_value::<PortSettings>(stored).unwrap(),
            saved
        );
        // Saved features replace the defaults' whole.
        let defaults = PortSettings::from_json(
            &serde_json::json!({"features": {"x": {"onSoftCap": {"action": "pass"}}}}),
        )
        .unwrap();
        assert_eq!(saved.over(&defaults).features, saved.features);
        assert_eq!(
            PortSettings::default().over(&defaults).features,
            defaults.features
        );

        for (json, code, field) in [
            (
                r#"{"features": {"chat": {"onSoftCap": {"action": "slow-down"}}}}"#,
                "unknown-action",
                "features.chat.onSoftCap.action",
            ),
            (
                r#"{"features": {"chat": {"onSoftCap": {"action": "throttle", "callsPerMinute": -2}}}}"#,
                "invalid-value",
                "features.chat.onSoftCap.callsPerMinute",
            ),
            (
                r#"{"features": {"chat": {"onSoftCap": {"action": "throttle", "callsPerMinute": 1.5}}}}"#,
                "invalid-value",
                "features.chat.onSoftCap.callsPerMinute",
            ),
            (
                r#"{"models": ["gpt-4.1*"], "features": {"chat": {"onHardCap": {"action": "downgrade", "models": {"gpt-4.1": "o3"}}}}}"#,
                "model-not-allowed",
                "features.chat.onHardCap.models.gpt-4.1",
            ),
            (
                r#"{"features": {"chat": {"onHardCap": {"action": "throttle", "callsPerMinute": 1}}}}"#,
                "invalid-value",
                "features.chat.onHardCap.action",
            ),
            (
                r#"{"features": {"chat": {"onSoft": {"action": "pass"}}}}"#,
                "unknown-field",
                "features.chat.onSoft",
            ),
            (
                r#"{"features": {"chat": "pass"}}"#,
                "invalid-type",
                "features.chat",
            ),
            (r#"{"features": ["chat"]}"#, "invalid-type", "features"),
            (r#"{"features": {"": {}}}"#, "invalid-value", "features."),
        ] {
            let e = refused(json);
            assert_eq!((e.code, e.field.as_str()), (code, field), "{json}");
        }
    }
}
