//! `GET /v1/metrics`: every port's and group's standing and the alert
//! deliveries, in the Prometheus text exposition format, for a scraper.

use worker::Response;

use super::ctx::Ctx;
use super::groups;
use super::standings::standings;
use crate::alerts::records;
use crate::metrics::{group_samples, port_samples, refusal_samples, Exposition, Kind};
use crate::worker::http::{text_response, ApiError};

/// The exposition format's content type (version 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /v1/metrics` (admin).
pub async fn get(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let (standings, deliveries) = futures_util::try_join!(standings(ctx), async {
        Ok::<_, ApiError>(ctx.d1.run("d1.read", &[records::count_by_status()]).await?)
    },)?;
    let mut out = Exposition::new();
    out.sample(
        "ai_budget_ports",
        Kind::Gauge,
        "Ports listed: with a budget, or usage or holds in their current period",
        &[],
        standings.len() as f64,
    );
    for listed in &standings {
        port_samples(
            &mut out,
            &listed.port,
            &listed.stored.budget,
            &listed.load,
            ctx.now,
        );
        out.sample(
            "ai_budget_ledger_rows_pending",
            Kind::Gauge,
            "Ledger rows a port's gate counted and has not yet delivered to the ledger of record (D1), as it last reported",
            &[("port", &listed.port)],
            listed.pending as f64,
        );
        refusal_samples(&mut out, &listed.port, &listed.refusals);
    }
    for line in groups::lines(ctx).await? {
        group_samples(&mut out, &line);
    }
    for row in &deliveries[0] {
        let state = row.text("status").unwrap_or_default();
        out.sample(
            "ai_budget_alert_deliveries",
            Kind::Gauge,
            "Alert deliveries on record (kept for the record's retention), by state",
            &[("state", &state)],
            row.int("count").unwrap_or(0) as f64,
        );
    }
    Ok(text_response(CONTENT_TYPE, out.finish()))
}
