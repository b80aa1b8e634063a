//! Where every port stands: its budget, its load this period, what its
//! gate still owes D1 and what it refused, from KV, D1's rollup and what
//! each gate last reported (the port list, the metrics, the audit's
//! scope).

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::ctx::Ctx;
use super::reach::{confined, group_chain};
use crate::gate::{PortLoad, StoredBudget};
use crate::ledger::reports::{self, AllPorts};
use crate::worker::http::ApiError;

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
    keep_reached(ctx, listed).await
}

/// `listed` cut to the ports the caller reaches (each group's chain read
/// once).
///
/// # Errors
/// 503 when a group's chain cannot be read.
async fn keep_reached(ctx: &Ctx, listed: Vec<Listed>) -> Result<Vec<Listed>, ApiError> {
    let Some(scope) = confined(&ctx.caller) else {
        return Ok(listed);
    };
    let mut chains: Vec<(String, Vec<String>)> = Vec::new();
    let mut kept = Vec::new();
    for entry in listed {
        let mut chain = Vec::new();
        if let Some(parent) = entry.stored.parent.clone() {
            if !scope.groups.is_empty() && !chains.iter().any(|(g, _)| *g == parent) {
                let above = group_chain(ctx, &parent).await?;
                chains.push((parent.clone(), above));
            }
            chain.push(parent.clone());
            if let Some((_, above)) = chains.iter().find(|(g, _)| *g == parent) {
                chain.extend(above.iter().cloned());
            }
        }
        if scope.reaches_port(&entry.port, &chain) {
            kept.push(entry);
        }
    }
    Ok(kept)
}
