//! Reports: a port's breakdown per feature, its ledger (JSON and CSV,
//! paged) and its status for the admin page. They read the ledger of
//! record (D1) after asking the port's gate to deliver what it has not yet;
//! when D1 is behind (it failed), `X-Budget-Ledger-Pending` (and status's
//! `pendingLedgerRows`) say how many rows are still on their way.

use serde::Serialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use super::ctx::{query, Ctx};
use super::json;
use crate::gate::{Entry, PortView};
use crate::ledger::reports;
use crate::pricing::usd_number;
use crate::pricing::usd_string;
use crate::time::iso;
use crate::worker::caller::Caller;
use crate::worker::http::{
    csv_field, csv_response, json_response, set, typed_json_response, ApiError,
};
use crate::Period;

/// Ledger page sizes.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Ledger rows in a status answer.
const RECENT_ROWS: u32 = 20;

/// The CSV columns of the ledger, in order. Columns added later come last,
/// so a reader by position keeps working.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "createdAt",
    "portId",
    "userId",
    "feature",
    "provider",
    "model",
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "requestId",
    "reservationId",
    "estimated",
    "cachedInputTokens",
    "cacheWriteTokens",
    "reasoningTokens",
    "costUsd",
    "fundedBy",
];

/// The port's view after its outbox was delivered (as far as D1 allows).
async fn synced_view(ctx: &mut Ctx, port: &str) -> Result<PortView, ApiError> {
    let view = ctx.gate(port)?.view(None, true).await?;
    ctx.remember(&view.budget.budget, &view.load);
    Ok(view)
}

fn pending_header(response: &mut Response, view: &PortView) {
    if view.pending_entries > 0 {
        set(
            response,
            "X-Budget-Ledger-Pending",
            &view.pending_entries.to_string(),
        );
    }
    if view.set_aside_entries > 0 {
        set(
            response,
            "X-Budget-Ledger-Set-Aside",
            &view.set_aside_entries.to_string(),
        );
    }
}

/// The breakdown rows as the API shows them: `feature`, `tokens`, `calls`
/// and `costUsd` (what the priced rows cost, in dollars).
fn breakdown_json(rows: &[crate::sql::Row]) -> Vec<Value> {
    reports::breakdown_of(rows)
        .into_iter()
        .map(|(usage, usd)| {
            json!({
                "feature": usage.feature,
                "tokens": usage.tokens,
                "calls": usage.calls,
                "costUsd": usd_number(usd),
            })
        })
        .collect()
}

/// `GET /v1/ports/{port}/breakdown`: tokens, calls and cost per feature in
/// the period, most tokens first.
pub async fn breakdown(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let view = synced_view(ctx, port).await?;
    let window = view.budget.budget.window(ctx.now);
    let rows = ctx
        .d1
        .run("d1.read", &[reports::breakdown(port, &window)])
        .await?;
    let mut response = json_response(
        200,
        &json!({
            "port": port,
            "period": view.budget.budget.period.as_str(),
            "periodStart": iso(window.start),
            "resetsAt": iso(window.end),
            "breakdown": breakdown_json(&rows[0]),
        }),
    );
    pending_header(&mut response, &view);
    Ok(response)
}

/// A page of the ledger asked for by the query: its size and the row it
/// starts before.
///
/// # Errors
/// 400 `invalid-value` (limit), `invalid-cursor`.
pub fn page_of(req: &Request) -> Result<(u32, Option<u64>), ApiError> {
    let limit = match query(req, "limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "invalid-value",
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let cursor = match query(req, "cursor") {
        None => None,
        Some(text) => Some(text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_field(
                "invalid-cursor",
                "cursor",
                "cursor must be a nextCursor from a previous page",
            )
        })?),
    };
    Ok((limit, cursor))
}

/// A page of the ledger as JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerPage<'a> {
    port: &'a str,
    rows: Vec<Value>,
    next_cursor: Option<String>,
}

/// `POST /v1/ports/{port}/ledger/retry` (admin): puts the port's
/// set-aside ledger rows (refused for good by D1) back on their way, once
/// their cause is mended; they are delivered after the answer, and set
/// aside again if D1 still refuses them.
pub async fn retry_set_aside(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let retried = ctx.gate(port)?.retry_set_aside().await?;
    Ok(json_response(
        200,
        &json!({ "port": port, "retried": retried }),
    ))
}

/// `GET /v1/ports/{port}/ledger?limit=&cursor=&format=csv`: newest first.
pub async fn ledger(ctx: &mut Ctx, port: &str, req: &Request) -> Result<Response, ApiError> {
    let (limit, cursor) = page_of(req)?;
    let csv = super::ctx::wants_csv(req);
    let view = synced_view(ctx, port).await?;
    let results = ctx
        .d1
        .run("d1.read", &[reports::ledger_page(port, cursor, limit)])
        .await?;
    let rows: Vec<_> = results[0].iter().map(reports::entry_of).collect();
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let mut response = if csv {
        let mut response = csv_response(ledger_csv(port, &rows));
        if let Some(next) = &next {
            set(&mut response, "X-Next-Cursor", next);
        }
        response
    } else {
        let page = LedgerPage {
            port,
            rows: rows.iter().map(|r| json::entry(port, r)).collect(),
            next_cursor: next,
        };
        typed_json_response(200, &page)
    };
    pending_header(&mut response, &view);
    Ok(response)
}

/// Ledger rows as CSV, under a header line of [`CSV_COLUMNS`].
fn ledger_csv(port: &str, rows: &[Entry]) -> String {
    let mut text = CSV_COLUMNS.join(",");
    text.push('\n');
    for r in rows {
        let fields = [
            r.seq.to_string(),
            iso(reports::at(r.created_at)),
            port.to_owned(),
            r.user_id.clone().unwrap_or_default(),
            r.feature.clone(),
            r.provider.clone(),
            r.model.clone(),
            r.tokens.input_tokens.to_string(),
            r.tokens.output_tokens.to_string(),
            r.total_tokens().to_string(),
            r.request_id.clone(),
            r.reservation_id.clone().unwrap_or_default(),
            u8::from(r.estimated).to_string(),
            r.tokens.cached_input_tokens.to_string(),
            r.tokens.cache_write_tokens.to_string(),
            r.tokens.reasoning_tokens.to_string(),
            r.cost_usd.map(usd_string).unwrap_or_default(),
            r.funded_by.clone().unwrap_or_else(|| "cap".into()),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        text.push_str(&line.join(","));
        text.push('\n');
    }
    text
}

/// `GET /v1/ports/{port}/status`: everything the admin page needs.
pub async fn status(ctx: &mut Ctx, port: &str) -> Result<Response, ApiError> {
    let view = ctx.gate(port)?.status_view().await?;
    ctx.remember(&view.budget.budget, &view.load);
    let budget = view.budget.budget;
    let window = budget.window(ctx.now);
    let windows = Period::ALL.map(|p| budget.window_of(p, ctx.now));
    let results = ctx
        .d1
        .run(
            "d1.read",
            &[
                reports::breakdown(port, &window),
                reports::daily(port, &window),
                reports::ledger_page(port, None, RECENT_ROWS),
            ],
        )
        .await?;
    let keys = if matches!(ctx.caller, Caller::Admin | Caller::Key(_)) {
        Some(ctx.settings.keys(port).await?)
    } else {
        None
    };
    let daily = reports::daily_of(&window, &results[1]);
    let caps = view.caps.clone().unwrap_or_default();
    let recent: Vec<Value> = results[2]
        .iter()
        .map(|r| json::entry(port, &reports::entry_of(r)))
        .collect();
    let body = json!({
        "port": port,
        "budget": view.budget.json(),
        "period": budget.period.as_str(),
        "periodStart": iso(window.start),
        "resetsAt": iso(window.end),
        "timeZoneData": crate::calendar::database_version(),
        "usage": json::load(&view.load),
        "usageByPeriod": {
            "day": json::period_load(&view.by_period[0], &windows[0]),
            "week": json::period_load(&view.by_period[1], &windows[1]),
            "month": json::period_load(&view.by_period[2], &windows[2]),
        },
        "capStatus": json::cap_of(&budget, &view.load, ctx.now),
        "room": super::json::room_view_json(&view.room, budget.unit),
        "forecast": json::forecast(&budget, &view.load, ctx.now),
        "breakdown": breakdown_json(&results[0]),
        "daily": daily.iter().map(|d| json!({
            "date": d.date.format("%Y-%m-%d").to_string(),
            "tokens": d.tokens,
            "calls": d.calls,
            "costUsd": usd_number(d.usd),
        })).collect::<Vec<_>>(),
        "recentLedger": recent,
        "pendingLedgerRows": view.pending_entries,
        "setAsideLedgerRows": view.set_aside_entries,
        "refusals": view.refusals,
        "setAside": view.set_aside.iter().map(|e| json!({
            "seq": e.seq,
            "requestId": e.request_id,
            "version": e.version,
            "reason": e.reason,
            "setAsideAt": iso(crate::time::instant(e.at)),
        })).collect::<Vec<_>>(),
        "featureCaps": caps.features.iter().map(|l| json::scope_load("feature", l, &budget, ctx.now)).collect::<Vec<_>>(),
        "topUsers": caps.top_users.iter().map(|l| json::scope_load("userId", l, &budget, ctx.now)).collect::<Vec<_>>(),
        "reservations": view.holds.iter().map(|h| json::hold(port, h)).collect::<Vec<_>>(),
        "keys": keys.map(|keys| keys.iter().map(|k| json!({
            "keyId": k.key_id,
            "createdAt": k.created_at,
        })).collect::<Vec<_>>()),
    });
    let mut response = json_response(200, &body);
    pending_header(&mut response, &view);
    Ok(response)
}
