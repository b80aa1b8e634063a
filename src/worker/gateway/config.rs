//! The gateway's configuration (Worker vars and secrets) and the upstream a
//! call goes to: a built-in provider or one of the `GATEWAY_PROVIDERS` table.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use worker::Env;

use super::super::bindings::text_setting;
use super::super::http::ApiError;
use super::provider::{EstimatePolicy, ProviderName};
use crate::llm::port_settings::{parse_port_settings, PortSettings};
use crate::llm::providers::{parse_table, Dialect as Provider, ProviderSpec};
use crate::MAX_TOKENS;

/// Output bound set on calls that carry none, unless configured.
pub const DEFAULT_MAX_TOKENS: u64 = 4_096;
/// Upstream timeout (to the response headers, and between streamed chunks).
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 120_000;
/// Hold lifetime: longer than any call the timeout lets through.
pub const DEFAULT_HOLD_TTL_SECONDS: u64 = 900;
/// Where a call goes: a provider's name, dialect, base URL and key.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The provider's name (`openai`, `anthropic`, or the table's): the
    /// ledger's provider column.
    pub name: String,
    /// The API it speaks.
    pub dialect: Provider,
    /// Its base URL (no trailing slash).
    pub base_url: String,
    /// Its key, when configured.
    pub key: Option<String>,
}

impl Upstream {
    /// The key, or 500 `gateway-not-configured`.
    pub fn configured_key(&self) -> Result<String, ApiError> {
        self.key.clone().ok_or_else(|| {
            ApiError::new(
                500,
                "gateway-not-configured",
                format!("the gateway has no {} key configured", self.name),
            )
        })
    }
}

/// The gateway's configuration: Worker vars and secrets.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// `OPENAI_BASE_URL` (default `https://api.openai.com/v1`).
    pub openai_base_url: String,
    /// `ANTHROPIC_BASE_URL` (default `https://api.anthropic.com`).
    pub anthropic_base_url: String,
    /// `GEMINI_BASE_URL` (default `https://generativelanguage.googleapis.com`).
    pub gemini_base_url: String,
    /// `OPENAI_API_KEY` secret.
    openai_api_key: Option<String>,
    /// `ANTHROPIC_API_KEY` secret.
    anthropic_api_key: Option<String>,
    /// `GEMINI_API_KEY` secret.
    gemini_api_key: Option<String>,
    /// `GATEWAY_PROVIDERS`: more providers, or why the table is unusable.
    providers: Result<Vec<ProviderSpec>, String>,
    /// `GATEWAY_PORT_SETTINGS`: settings by port, or why they are unusable.
    port_settings: Result<HashMap<String, PortSettings>, String>,
    /// `GATEWAY_DEFAULT_MAX_TOKENS` and `GATEWAY_STRICT` (`on`/`off`, default on).
    pub policy: EstimatePolicy,
    /// `GATEWAY_UPSTREAM_TIMEOUT_MS`.
    pub upstream_timeout: Duration,
    /// `GATEWAY_HOLD_TTL_SECONDS`.
    pub hold_ttl_seconds: u64,
}

fn number_setting(env: &Env, name: &str, default: u64, range: (u64, u64)) -> u64 {
    text_setting(env, name)
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| (range.0..=range.1).contains(n))
        .unwrap_or(default)
}

thread_local! {
    /// The isolate's configuration, read by its first gateway call.
    static OF_ISOLATE: OnceCell<Rc<GatewayConfig>> = const { OnceCell::new() };
}

impl GatewayConfig {
    /// The configuration, read from the environment once per isolate: a
    /// Worker's vars and secrets are fixed for the life of the isolate that
    /// runs it (changing one deploys a new version, which new isolates
    /// run), and a call would otherwise read a dozen of them and parse two
    /// tables before anything else.
    pub fn of_isolate(env: &Env) -> Rc<GatewayConfig> {
        OF_ISOLATE.with(|c| {
            c.get_or_init(|| Rc::new(GatewayConfig::from_env(env)))
                .clone()
        })
    }

    /// Reads the configuration from the Worker's environment.
    fn from_env(env: &Env) -> GatewayConfig {
        let base = |name: &str, default: &str| {
            text_setting(env, name)
                .unwrap_or_else(|| default.to_owned())
                .trim_end_matches('/')
                .to_owned()
        };
        GatewayConfig {
            openai_base_url: base("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            anthropic_base_url: base("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            gemini_base_url: base(
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com",
            ),
            openai_api_key: text_setting(env, "OPENAI_API_KEY"),
            anthropic_api_key: text_setting(env, "ANTHROPIC_API_KEY"),
            gemini_api_key: text_setting(env, "GEMINI_API_KEY"),
            providers: text_setting(env, "GATEWAY_PROVIDERS")
                .map_or(Ok(Vec::new()), |text| parse_table(&text)),
            port_settings: text_setting(env, "GATEWAY_PORT_SETTINGS")
                .map_or(Ok(HashMap::new()), |text| parse_port_settings(&text)),
            policy: EstimatePolicy {
                default_max_tokens: number_setting(
                    env,
                    "GATEWAY_DEFAULT_MAX_TOKENS",
                    DEFAULT_MAX_TOKENS,
                    (1, MAX_TOKENS),
                ),
                strict: text_setting(env, "GATEWAY_STRICT").as_deref() != Some("off"),
            },
            upstream_timeout: Duration::from_millis(number_setting(
                env,
                "GATEWAY_UPSTREAM_TIMEOUT_MS",
                DEFAULT_UPSTREAM_TIMEOUT_MS,
                (1, 3_600_000),
            )),
            hold_ttl_seconds: number_setting(
                env,
                "GATEWAY_HOLD_TTL_SECONDS",
                DEFAULT_HOLD_TTL_SECONDS,
                (60, 3_600),
            ),
        }
    }

    /// The settings of `port` (all unset when it has none).
    ///
    /// # Errors
    /// 500 `gateway-not-configured` when `GATEWAY_PORT_SETTINGS` is
    /// malformed: the gateway fails closed rather than drop a port's limits.
    pub fn port_settings(&self, port: &str) -> Result<PortSettings, ApiError> {
        let table = self.port_settings.as_ref().map_err(|reason| {
            worker::console_error!("gateway: {reason}");
            ApiError::new(
                500,
                "gateway-not-configured",
                "the gateway's port settings (GATEWAY_PORT_SETTINGS) are not valid",
            )
        })?;
        Ok(table.get(port).cloned().unwrap_or_default())
    }

    /// The dialect of the provider `name` (for the format of its errors),
    /// if it is known.
    pub fn dialect(&self, name: &ProviderName) -> Option<Provider> {
        match name {
            ProviderName::BuiltIn(dialect) => Some(*dialect),
            ProviderName::Named(name) => self
                .providers
                .as_ref()
                .ok()?
                .iter()
                .find(|p| &p.name == name)
                .map(|p| p.dialect),
        }
    }

    /// The upstream of the provider `name`, its key read from the secret
    /// its entry names.
    ///
    /// # Errors
    /// 404 for a provider the table does not name, 500
    /// `gateway-not-configured` when the table is malformed.
    pub fn upstream(&self, env: &Env, name: &ProviderName) -> Result<Upstream, ApiError> {
        match name {
            ProviderName::BuiltIn(dialect) => Ok(Upstream {
                name: dialect.as_str().to_owned(),
                dialect: *dialect,
                base_url: self.base_url(*dialect).to_owned(),
                key: self.provider_key(*dialect).map(str::to_owned),
            }),
            ProviderName::Named(name) => {
                let table = self.providers.as_ref().map_err(|reason| {
                    worker::console_error!("gateway: {reason}");
                    ApiError::new(
                        500,
                        "gateway-not-configured",
                        "the gateway's provider table (GATEWAY_PROVIDERS) is not valid",
                    )
                })?;
                let spec = table.iter().find(|p| &p.name == name).ok_or_else(|| {
                    ApiError::not_found(format!("the gateway has no provider named {name:?}"))
                })?;
                Ok(Upstream {
                    name: spec.name.clone(),
                    dialect: spec.dialect,
                    base_url: spec.base_url.clone(),
                    key: text_setting(env, &spec.key_secret),
                })
            }
        }
    }

    fn provider_key(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::OpenAi => self.openai_api_key.as_deref(),
            Provider::Anthropic => self.anthropic_api_key.as_deref(),
            Provider::Gemini => self.gemini_api_key.as_deref(),
        }
    }

    fn base_url(&self, provider: Provider) -> &str {
        match provider {
            Provider::OpenAi => &self.openai_base_url,
            Provider::Anthropic => &self.anthropic_base_url,
            Provider::Gemini => &self.gemini_base_url,
        }
    }
}
