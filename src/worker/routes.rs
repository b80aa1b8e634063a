//! The Worker's routes: one table, one row per method and path, saying who
//! may call it and what answers it. The front door ([`super::door`]) reads
//! everything from here: the route of a path, its methods (`Allow`, `HEAD`
//! for `GET`, `OPTIONS`), the caller it needs, and its handler. The
//! gateway's rows hand the whole call to the gateway, which answers
//! methods, access and errors in the provider's own format.
//!
//! A path is matched segment by segment after trailing slashes are
//! trimmed: `{name}` takes one segment (possibly empty), `{*name}` the rest
//! of the path (possibly nothing).

use worker::{Method, Response};

use super::api::{
    admin_keys, alerts, audit, budgets, credits, gateway_settings, group_alerts, groups, holds,
    keys, metrics, ports, prices, reports, usage,
};
use crate::access::Role;

/// The least roles, as the table names them.
const VIEWER: Role = Role::Viewer;
const EDITOR: Role = Role::Editor;
const OWNER: Role = Role::Owner;

const GET: Method = Method::Get;
const POST: Method = Method::Post;
const PUT: Method = Method::Put;
const DELETE: Method = Method::Delete;

const fn api(method: Method, path: &'static str, auth: Auth, handler: ApiHandler) -> Route {
    Route {
        method,
        path,
        auth,
        handler: Handler::Api(handler),
        budget_state: true,
    }
}

const fn open(path: &'static str, answer: fn() -> Response) -> Route {
    Route {
        method: GET,
        path,
        auth: Auth::Open,
        handler: Handler::Open(answer),
        budget_state: false,
    }
}

const fn gateway(path: &'static str) -> Route {
    Route {
        method: POST,
        path,
        auth: Auth::Port(EDITOR),
        handler: Handler::Gateway,
        budget_state: true,
    }
}

/// Every route of the Worker. Rows of one path are together, in the order
/// their methods are listed in `Allow`.
pub static ROUTES: &[Route] = &[
    open("/v1/openapi.json", super::api::openapi),
    api(GET, "/v1/ports", Auth::Admin(VIEWER), |c, _, _| {
        Box::pin(ports::list(c))
    }),
    api(GET, "/v1/metrics", Auth::Admin(VIEWER), |c, _, _| {
        Box::pin(metrics::get(c))
    }),
    api(GET, "/v1/prices", Auth::Caller, |c, _, _| {
        Box::pin(prices::list(c))
    }),
    api(GET, "/v1/prices/{model}", Auth::Caller, |c, p, _| {
        Box::pin(async move { prices::get(c, &prices::model_id(p.get("model"))?).await })
    }),
    api(PUT, "/v1/prices/{model}", Auth::Admin(OWNER), |c, p, r| {
        Box::pin(async move { prices::put(c, &prices::model_id(p.get("model"))?, r).await })
    }),
    api(
        DELETE,
        "/v1/prices/{model}",
        Auth::Admin(OWNER),
        |c, p, _| {
            Box::pin(async move { prices::delete(c, &prices::model_id(p.get("model"))?).await })
        },
    ),
    api(GET, "/v1/alerts", Auth::Admin(VIEWER), |c, _, _| {
        Box::pin(alerts::get_default(c))
    }),
    api(PUT, "/v1/alerts", Auth::Admin(OWNER), |c, _, r| {
        Box::pin(alerts::put_default(c, r))
    }),
    api(POST, "/v1/alerts/rotate", Auth::Admin(OWNER), |c, _, r| {
        Box::pin(alerts::rotate(c, None, r))
    }),
    api(
        GET,
        "/v1/ports/{port}/budget",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(budgets::get(c, p.port())),
    ),
    api(
        PUT,
        "/v1/ports/{port}/budget",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(budgets::put(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/check",
        Auth::Port(VIEWER),
        |c, p, r| Box::pin(holds::check(c, p.port(), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/reservations",
        Auth::Port(VIEWER),
        |c, p, r| Box::pin(holds::list(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations",
        Auth::Port(EDITOR),
        |c, p, r| Box::pin(holds::reserve(c, p.port(), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/reservations/{id}",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(holds::get(c, p.port(), p.get("id"))),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations/{id}/commit",
        Auth::Port(EDITOR),
        |c, p, r| Box::pin(holds::commit(c, p.port(), p.get("id"), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations/{id}/release",
        Auth::Port(EDITOR),
        |c, p, _| Box::pin(holds::release(c, p.port(), p.get("id"))),
    ),
    api(
        GET,
        "/v1/ports/{port}/usage",
        Auth::Port(VIEWER),
        |c, p, r| Box::pin(usage::get(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/usage",
        Auth::Port(EDITOR),
        |c, p, r| Box::pin(usage::record(c, p.port(), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/breakdown",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(reports::breakdown(c, p.port())),
    ),
    api(
        GET,
        "/v1/ports/{port}/ledger",
        Auth::Port(VIEWER),
        |c, p, r| Box::pin(reports::ledger(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/ledger/retry",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(reports::retry_set_aside(c, p.port())),
    ),
    api(
        GET,
        "/v1/ports/{port}/credits",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(credits::list_credits(c, p.port())),
    ),
    api(
        POST,
        "/v1/ports/{port}/credits",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(credits::grant(c, p.port(), r)),
    ),
    api(
        DELETE,
        "/v1/ports/{port}/credits/{id}",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(credits::void(c, p.port(), p.get("id"))),
    ),
    api(
        GET,
        "/v1/ports/{port}/raises",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(credits::list_raises(c, p.port())),
    ),
    api(
        POST,
        "/v1/ports/{port}/raises",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(credits::raise(c, p.port(), r)),
    ),
    api(
        DELETE,
        "/v1/ports/{port}/raises/{id}",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(credits::end_raise(c, p.port(), p.get("id"))),
    ),
    api(
        GET,
        "/v1/ports/{port}/status",
        Auth::Port(VIEWER),
        |c, p, _| Box::pin(reports::status(c, p.port())),
    ),
    api(
        GET,
        "/v1/ports/{port}/keys",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(keys::list(c, p.port())),
    )
    .without_budget_state(),
    api(
        POST,
        "/v1/ports/{port}/keys",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(keys::issue(c, p.port())),
    )
    .without_budget_state(),
    api(
        DELETE,
        "/v1/ports/{port}/keys/{keyId}",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(keys::revoke(c, p.port(), p.get("keyId"))),
    )
    .without_budget_state(),
    api(
        GET,
        "/v1/ports/{port}/alerts",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(alerts::get(c, p.port())),
    ),
    api(
        PUT,
        "/v1/ports/{port}/alerts",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(alerts::put(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/alerts/test",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(alerts::test(c, p.port())),
    ),
    api(
        POST,
        "/v1/ports/{port}/alerts/rotate",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(alerts::rotate(c, Some(p.port()), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/alerts/deliveries",
        Auth::Admin(VIEWER),
        |c, p, r| Box::pin(alerts::deliveries(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/alerts/deliveries/{id}/resend",
        Auth::Admin(EDITOR),
        |c, p, _| Box::pin(alerts::resend(c, p.port(), p.get("id"))),
    ),
    api(GET, "/v1/groups", Auth::Admin(VIEWER), |c, _, _| {
        Box::pin(groups::list(c))
    })
    .without_budget_state(),
    api(
        GET,
        "/v1/groups/{group}/budget",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(groups::get(c, p.get("group"))),
    )
    .without_budget_state(),
    api(
        PUT,
        "/v1/groups/{group}/budget",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(groups::put(c, p.get("group"), r)),
    )
    .without_budget_state(),
    api(
        GET,
        "/v1/groups/{group}/status",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(groups::status(c, p.get("group"))),
    )
    .without_budget_state(),
    api(
        GET,
        "/v1/groups/{group}/alerts",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(group_alerts::get(c, p.get("group"))),
    )
    .without_budget_state(),
    api(
        PUT,
        "/v1/groups/{group}/alerts",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(group_alerts::put(c, p.get("group"), r)),
    )
    .without_budget_state(),
    gateway("/v1/ports/{port}/openai/{*endpoint}"),
    gateway("/v1/ports/{port}/anthropic/{*endpoint}"),
    gateway("/v1/ports/{port}/gemini/{*endpoint}"),
    gateway("/v1/ports/{port}/providers/{provider}/{*endpoint}"),
    api(GET, "/v1/admin-keys", Auth::Admin(OWNER), |c, _, _| {
        Box::pin(admin_keys::list(c))
    }),
    api(POST, "/v1/admin-keys", Auth::Admin(OWNER), |c, _, r| {
        Box::pin(admin_keys::issue(c, r))
    }),
    api(
        DELETE,
        "/v1/admin-keys/{id}",
        Auth::Admin(OWNER),
        |c, p, _| Box::pin(admin_keys::revoke(c, p.get("id"))),
    ),
    api(
        POST,
        "/v1/admin-keys/{id}/rotate",
        Auth::Admin(OWNER),
        |c, p, r| Box::pin(admin_keys::rotate(c, p.get("id"), r)),
    ),
    api(GET, "/v1/audit", Auth::Admin(VIEWER), |c, _, r| {
        Box::pin(audit::list(c, r))
    }),
    api(
        GET,
        "/v1/ports/{port}/gateway",
        Auth::Admin(VIEWER),
        |c, p, _| Box::pin(gateway_settings::get(c, p.port())),
    )
    .without_budget_state(),
    api(
        PUT,
        "/v1/ports/{port}/gateway",
        Auth::Admin(EDITOR),
        |c, p, r| Box::pin(gateway_settings::put(c, p.port(), r)),
    )
    .without_budget_state(),
];

/// Every row as (method, path pattern, who may call it): for documents and
/// tests that check them against the table.
pub fn listing() -> impl Iterator<Item = (Method, &'static str, Auth)> {
    ROUTES.iter().map(|r| (r.method.clone(), r.path, r.auth))
}

mod paths;
pub mod row;

#[cfg(test)]
use paths::matches;
pub use paths::{find, Chosen, Found};
pub use row::{ApiHandler, Auth, Handler, Params, Route};

#[cfg(test)]
mod tests;
