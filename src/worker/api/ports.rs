//! The port list: every port with a saved budget (KV) or usage and holds
//! this period (D1's rollup and what each port's gate last reported).

use serde::Serialize;
use serde_json::Value;
use worker::Response;

use super::ctx::Ctx;
use super::json;
use super::standings::{standings, Listed};
use crate::pricing::usd_number;
use crate::worker::http::{typed_json_response, ApiError};

/// `GET /v1/ports` (admin).
pub async fn list(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let standings = standings(ctx).await?;
    let ports = standings
        .iter()
        .map(
            |Listed {
                 port, stored, load, ..
             }| ListedPort {
                port,
                budget: stored.json(),
                used_tokens: load.used_tokens,
                held_tokens: load.held_tokens,
                used_usd: usd_number(load.used_usd),
                held_usd: usd_number(load.held_usd),
                cap_status: json::cap_of(&stored.budget, load, ctx.now),
                forecast: json::forecast(&stored.budget, load, ctx.now),
            },
        )
        .collect();
    Ok(typed_json_response(200, &PortList { ports }))
}

/// A port as listed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedPort<'a> {
    port: &'a str,
    budget: Value,
    used_tokens: u64,
    held_tokens: u64,
    used_usd: f64,
    held_usd: f64,
    cap_status: Value,
    forecast: Value,
}

/// The answer to `GET /v1/ports`.
#[derive(Serialize)]
struct PortList<'a> {
    ports: Vec<ListedPort<'a>>,
}
