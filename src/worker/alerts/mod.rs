//! Alerts in the Worker: each port's object writes its crossings to an
//! outbox ([`crate::alerts::watch`]) in the same transaction as the change,
//! and [`outbox`] hands them to a Cloudflare Queue after the answer; the
//! queue's consumer ([`consumer`]) fans each event out to the port's
//! webhook endpoints (or the default ones), signs and posts it with a
//! timeout, retries with backoff while the receiver fails, and records each
//! delivery in D1; after the last try the queue moves it to the dead-letter
//! queue, whose consumer marks it dead. A gated call never waits on any of
//! it. [`endpoints`]: the webhook endpoints and their secrets, in KV.

pub mod consumer;
pub mod endpoints;
pub mod outbox;

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::alerts::endpoint::Environment;

/// The producer binding of the alert queue.
pub const QUEUE_BINDING: &str = "ALERTS";
/// The dead-letter queue's name (wrangler.toml): its messages are
/// deliveries that failed every try.
pub const DEAD_LETTER_QUEUE: &str = "ai-budget-alerts-dead";

/// One message on the alert queue: an event to fan out to the port's
/// endpoints (`endpoint` absent), or to deliver to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertMessage {
    /// The port.
    pub port: String,
    /// The event's id.
    pub event_id: String,
    /// The event's JSON body, exactly as it is signed and sent.
    pub body: String,
    /// The endpoint's URL, once fanned out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Test seams only: the producer's fixed instant (RFC 3339), the
    /// consumer's clock for this message (its `x-now`); absent, the
    /// runtime's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
}

/// The alert settings of the Worker's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertConfig {
    /// Production or development (`ENVIRONMENT`), for the URL rules.
    pub environment: Environment,
    /// How long a receiver has to answer (`ALERT_TIMEOUT_MS`, default 10 s).
    pub timeout_ms: u64,
    /// The first retry's wait (`ALERT_RETRY_BASE_SECONDS`, default 10 s),
    /// doubling with each try.
    pub retry_base_seconds: u32,
}

impl AlertConfig {
    /// The settings of `env`'s variables.
    pub fn of(env: &Env) -> AlertConfig {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        AlertConfig {
            environment: Environment::of_var(var("ENVIRONMENT").as_deref()),
            timeout_ms: var("ALERT_TIMEOUT_MS")
                .and_then(|v| v.parse().ok())
                .filter(|ms| *ms > 0)
                .unwrap_or(10_000),
            retry_base_seconds: var("ALERT_RETRY_BASE_SECONDS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
        }
    }
}

/// Writes one structured log line for an alert event.
pub fn log_event(body: &str) {
    let event = serde_json::from_str::<serde_json::Value>(body).unwrap_or_default();
    worker::console_log!(
        "{}",
        serde_json::json!({ "log": "alert-event", "event": event })
    );
}
