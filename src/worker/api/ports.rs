//! The port list: every port with a saved budget (KV) or usage and holds
//! this period (D1's rollup and what each port's gate last reported).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;
use worker::Response;

use super::json;
use super::Ctx;
use crate::gate::{PortLoad, StoredBudget};
use crate::ledger::reports::{self, AllPorts};
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

/// A listed port: its budget, the load counted in the budget's period
/// (calls and usage from D1's rollup, holds as its gate last reported them)
/// and its ledger entries not yet delivered to D1.
pub struct Listed {
    /// The port's id.
    pub port: String,
    /// Its budget.
    pub stored: StoredBudget,
    /// Its load in the budget's current period.
    pub load: PortLoad,
    /// Ledger entries its gate still owes D1, as last reported.
    pub pending: u64,
    /// The requests its gate refused in the budget's current period, by
    /// reason and scope, as last reported.
    pub refusals: Vec<crate::gate::RefusalCount>,
}

/// Every listed port, sorted by id: what `GET /v1/ports` and the metrics
/// show (for a confined admin key, only the ports it reaches).
pub async fn standings(ctx: &Ctx) -> Result<Vec<Listed>, ApiError> {
    let statements = reports::all_ports(ctx.now);
    let (saved, results) = futures_util::try_join!(
        ctx.settings.budget_ports(),
        ctx.d1.run("d1.read", &statements),
    )?;
    let loads = AllPorts::of(&results[0], &results[1]);
    let mut budgets: BTreeMap<String, Option<StoredBudget>> = saved.into_iter().collect();
    for port in loads.ports(ctx.now) {
        budgets.entry(port.clone()).or_insert(None);
    }
    // Budgets listed without metadata (or ports with usage only) are read
    // from their gates one by one.
    let missing: Vec<String> = budgets
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    let shared: &Ctx = ctx;
    let read = join_all(missing.iter().map(|port| async move {
        let view = shared.gate(port)?.view(None, false).await?;
        Ok::<StoredBudget, ApiError>(view.budget)
    }))
    .await;
    for (port, stored) in missing.into_iter().zip(read) {
        budgets.insert(port, Some(stored?));
    }
    let listed = budgets
        .into_iter()
        .filter_map(|(port, stored)| {
            let stored = stored?;
            let load = loads.load_of(&port, &stored.budget, ctx.now);
            let pending = loads.pending_of(&port);
            let refusals = loads.refusals_of(&port, &stored.budget, ctx.now);
            Some(Listed {
                port,
                stored,
                load,
                pending,
                refusals,
            })
        })
        .collect();
    super::reach::keep_reached(ctx, listed).await
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
