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

use futures_util::future::LocalBoxFuture;
use worker::{Method, Request, Response};

use super::api::{
    alerts, budgets, credits, gateway_settings, groups, holds, keys, metrics, ports, prices,
    reports, usage, Ctx,
};
use super::http::ApiError;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anyone: no secret is asked for.
    Open,
    /// Any caller with a valid secret: the admin or any port's key.
    Caller,
    /// The admin, or a key of the port the path names.
    Port,
    /// The admin only.
    Admin,
}

impl Auth {
    /// The name used in listings and documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Auth::Open => "none",
            Auth::Caller => "caller",
            Auth::Port => "port",
            Auth::Admin => "admin",
        }
    }
}

/// An API handler: the request's context, the path's parameters and the
/// request (for its body, query and headers).
pub type ApiHandler = for<'a> fn(
    &'a mut Ctx,
    &'a Params,
    &'a mut Request,
) -> LocalBoxFuture<'a, Result<Response, ApiError>>;

/// What answers a route.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A fixed answer that needs no caller and no store.
    Open(fn() -> Response),
    /// An API handler, called once the caller is authorized.
    Api(ApiHandler),
    /// The gateway, given the whole call.
    Gateway,
}

/// One row of the table.
#[derive(Clone)]
pub struct Route {
    /// The method (for the gateway's rows: the one it proxies).
    pub method: Method,
    /// The path pattern.
    pub path: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// What answers it.
    pub handler: Handler,
    /// Its answers carry the port's budget-state headers (every answer
    /// about a port, but the keys').
    pub budget_state: bool,
}

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
        auth: Auth::Port,
        handler: Handler::Gateway,
        budget_state: true,
    }
}

impl Route {
    /// This row without the budget-state headers.
    const fn without_budget_state(self) -> Route {
        Route {
            budget_state: false,
            ..self
        }
    }
}

/// Every route of the Worker. Rows of one path are together, in the order
/// their methods are listed in `Allow`.
pub static ROUTES: &[Route] = &[
    open("/v1/openapi.json", super::api::openapi),
    api(GET, "/v1/ports", Auth::Admin, |c, _, _| {
        Box::pin(ports::list(c))
    }),
    api(GET, "/v1/metrics", Auth::Admin, |c, _, _| {
        Box::pin(metrics::get(c))
    }),
    api(GET, "/v1/prices", Auth::Caller, |c, _, _| {
        Box::pin(prices::list(c))
    }),
    api(GET, "/v1/prices/{model}", Auth::Caller, |c, p, _| {
        Box::pin(async move { prices::get(c, &prices::model_id(p.get("model"))?).await })
    }),
    api(PUT, "/v1/prices/{model}", Auth::Admin, |c, p, r| {
        Box::pin(async move { prices::put(c, &prices::model_id(p.get("model"))?, r).await })
    }),
    api(DELETE, "/v1/prices/{model}", Auth::Admin, |c, p, _| {
        Box::pin(async move { prices::delete(c, &prices::model_id(p.get("model"))?).await })
    }),
    api(GET, "/v1/alerts", Auth::Admin, |c, _, _| {
        Box::pin(alerts::get_default(c))
    }),
    api(PUT, "/v1/alerts", Auth::Admin, |c, _, r| {
        Box::pin(alerts::put_default(c, r))
    }),
    api(POST, "/v1/alerts/rotate", Auth::Admin, |c, _, r| {
        Box::pin(alerts::rotate(c, None, r))
    }),
    api(GET, "/v1/ports/{port}/budget", Auth::Port, |c, p, _| {
        Box::pin(budgets::get(c, p.port()))
    }),
    api(PUT, "/v1/ports/{port}/budget", Auth::Admin, |c, p, r| {
        Box::pin(budgets::put(c, p.port(), r))
    }),
    api(POST, "/v1/ports/{port}/check", Auth::Port, |c, p, r| {
        Box::pin(holds::check(c, p.port(), r))
    }),
    api(
        GET,
        "/v1/ports/{port}/reservations",
        Auth::Port,
        |c, p, r| Box::pin(holds::list(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations",
        Auth::Port,
        |c, p, r| Box::pin(holds::reserve(c, p.port(), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/reservations/{id}",
        Auth::Port,
        |c, p, _| Box::pin(holds::get(c, p.port(), p.get("id"))),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations/{id}/commit",
        Auth::Port,
        |c, p, r| Box::pin(holds::commit(c, p.port(), p.get("id"), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/reservations/{id}/release",
        Auth::Port,
        |c, p, _| Box::pin(holds::release(c, p.port(), p.get("id"))),
    ),
    api(GET, "/v1/ports/{port}/usage", Auth::Port, |c, p, r| {
        Box::pin(usage::get(c, p.port(), r))
    }),
    api(POST, "/v1/ports/{port}/usage", Auth::Port, |c, p, r| {
        Box::pin(usage::record(c, p.port(), r))
    }),
    api(GET, "/v1/ports/{port}/breakdown", Auth::Port, |c, p, _| {
        Box::pin(reports::breakdown(c, p.port()))
    }),
    api(GET, "/v1/ports/{port}/ledger", Auth::Port, |c, p, r| {
        Box::pin(reports::ledger(c, p.port(), r))
    }),
    api(
        POST,
        "/v1/ports/{port}/ledger/retry",
        Auth::Admin,
        |c, p, _| Box::pin(reports::retry_set_aside(c, p.port())),
    ),
    api(GET, "/v1/ports/{port}/credits", Auth::Port, |c, p, _| {
        Box::pin(credits::list_credits(c, p.port()))
    }),
    api(POST, "/v1/ports/{port}/credits", Auth::Admin, |c, p, r| {
        Box::pin(credits::grant(c, p.port(), r))
    }),
    api(
        DELETE,
        "/v1/ports/{port}/credits/{id}",
        Auth::Admin,
        |c, p, _| Box::pin(credits::void(c, p.port(), p.get("id"))),
    ),
    api(GET, "/v1/ports/{port}/raises", Auth::Port, |c, p, _| {
        Box::pin(credits::list_raises(c, p.port()))
    }),
    api(POST, "/v1/ports/{port}/raises", Auth::Admin, |c, p, r| {
        Box::pin(credits::raise(c, p.port(), r))
    }),
    api(
        DELETE,
        "/v1/ports/{port}/raises/{id}",
        Auth::Admin,
        |c, p, _| Box::pin(credits::end_raise(c, p.port(), p.get("id"))),
    ),
    api(GET, "/v1/ports/{port}/status", Auth::Port, |c, p, _| {
        Box::pin(reports::status(c, p.port()))
    }),
    api(GET, "/v1/ports/{port}/keys", Auth::Admin, |c, p, _| {
        Box::pin(keys::list(c, p.port()))
    })
    .without_budget_state(),
    api(POST, "/v1/ports/{port}/keys", Auth::Admin, |c, p, _| {
        Box::pin(keys::issue(c, p.port()))
    })
    .without_budget_state(),
    api(
        DELETE,
        "/v1/ports/{port}/keys/{keyId}",
        Auth::Admin,
        |c, p, _| Box::pin(keys::revoke(c, p.port(), p.get("keyId"))),
    )
    .without_budget_state(),
    api(GET, "/v1/ports/{port}/alerts", Auth::Admin, |c, p, _| {
        Box::pin(alerts::get(c, p.port()))
    }),
    api(PUT, "/v1/ports/{port}/alerts", Auth::Admin, |c, p, r| {
        Box::pin(alerts::put(c, p.port(), r))
    }),
    api(
        POST,
        "/v1/ports/{port}/alerts/test",
        Auth::Admin,
        |c, p, _| Box::pin(alerts::test(c, p.port())),
    ),
    api(
        POST,
        "/v1/ports/{port}/alerts/rotate",
        Auth::Admin,
        |c, p, r| Box::pin(alerts::rotate(c, Some(p.port()), r)),
    ),
    api(
        GET,
        "/v1/ports/{port}/alerts/deliveries",
        Auth::Admin,
        |c, p, r| Box::pin(alerts::deliveries(c, p.port(), r)),
    ),
    api(
        POST,
        "/v1/ports/{port}/alerts/deliveries/{id}/resend",
        Auth::Admin,
        |c, p, _| Box::pin(alerts::resend(c, p.port(), p.get("id"))),
    ),
    api(GET, "/v1/groups", Auth::Admin, |c, _, _| {
        Box::pin(groups::list(c))
    })
    .without_budget_state(),
    api(GET, "/v1/groups/{group}/budget", Auth::Admin, |c, p, _| {
        Box::pin(groups::get(c, p.get("group")))
    })
    .without_budget_state(),
    api(PUT, "/v1/groups/{group}/budget", Auth::Admin, |c, p, r| {
        Box::pin(groups::put(c, p.get("group"), r))
    })
    .without_budget_state(),
    api(GET, "/v1/groups/{group}/status", Auth::Admin, |c, p, _| {
        Box::pin(groups::status(c, p.get("group")))
    })
    .without_budget_state(),
    gateway("/v1/ports/{port}/openai/{*endpoint}"),
    gateway("/v1/ports/{port}/anthropic/{*endpoint}"),
    gateway("/v1/ports/{port}/gemini/{*endpoint}"),
    gateway("/v1/ports/{port}/providers/{provider}/{*endpoint}"),
    api(GET, "/v1/ports/{port}/gateway", Auth::Admin, |c, p, _| {
        Box::pin(gateway_settings::get(c, p.port()))
    })
    .without_budget_state(),
    api(PUT, "/v1/ports/{port}/gateway", Auth::Admin, |c, p, r| {
        Box::pin(gateway_settings::put(c, p.port(), r))
    })
    .without_budget_state(),
];

/// Every row as (method, path pattern, who may call it): for documents and
/// tests that check them against the table.
pub fn listing() -> impl Iterator<Item = (Method, &'static str, Auth)> {
    ROUTES.iter().map(|r| (r.method.clone(), r.path, r.auth))
}

/// The parameters a path gave its pattern's `{name}`s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The parameter `name` (empty when the pattern has none).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The port the path names, if its pattern has one.
    pub fn port(&self) -> &str {
        self.get("port")
    }

    /// True when the pattern names a port.
    pub fn has_port(&self) -> bool {
        self.0.iter().any(|(n, _)| *n == "port")
    }
}

/// The parameters of `path` under `pattern`, if it matches.
fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let mut segments = path.trim_end_matches('/').split('/').skip(1);
    let mut params = Vec::new();
    for part in pattern.split('/').skip(1) {
        if let Some(name) = part.strip_prefix("{*").and_then(|p| p.strip_suffix('}')) {
            let rest: Vec<&str> = segments.by_ref().collect();
            params.push((name, rest.join("/")));
            return Some(Params(params));
        }
        let segment = segments.next()?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name, segment.to_owned())),
            None if part == segment => {}
            None => return None,
        }
    }
    segments.next().is_none().then_some(Params(params))
}

/// The rows of one path, with the parameters the path gave them.
pub struct Found {
    /// The rows of the matched pattern, in table order.
    pub rows: Vec<&'static Route>,
    /// The path's parameters.
    pub params: Params,
}

/// What answers a request to a found path, by its method.
pub enum Chosen {
    /// The gateway: it answers every method itself, in the provider's format.
    Gateway,
    /// `OPTIONS`: 204 with `Allow`.
    Options,
    /// A fixed answer (`head`: a `HEAD`, answered without the body).
    Open {
        /// The answer.
        answer: fn() -> Response,
        /// True for a `HEAD`.
        head: bool,
    },
    /// An API handler's row (`head` as above).
    Api {
        /// The row.
        route: &'static Route,
        /// Its handler.
        handler: ApiHandler,
        /// True for a `HEAD`.
        head: bool,
    },
    /// No row answers the method: 405 with `Allow`.
    NotAllowed,
}

impl Found {
    /// The methods the path answers (GET implies HEAD; OPTIONS is always
    /// answered), in table order.
    pub fn methods(&self) -> Vec<Method> {
        self.rows.iter().map(|r| r.method.clone()).collect()
    }

    /// True when the gateway answers the path.
    pub fn is_gateway(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.handler, Handler::Gateway))
    }

    /// What answers `method` (`None`: a method the Worker does not know).
    pub fn choose(&self, method: Option<Method>) -> Chosen {
        if self.is_gateway() {
            return Chosen::Gateway;
        }
        let (wanted, head) = match method {
            Some(Method::Options) => return Chosen::Options,
            Some(Method::Head) => (Method::Get, true),
            Some(m) => (m, false),
            None => return Chosen::NotAllowed,
        };
        let Some(route) = self.rows.iter().copied().find(|r| r.method == wanted) else {
            return Chosen::NotAllowed;
        };
        match route.handler {
            Handler::Open(answer) => Chosen::Open { answer, head },
            Handler::Api(handler) => Chosen::Api {
                route,
                handler,
                head,
            },
            Handler::Gateway => Chosen::Gateway,
        }
    }
}

/// The route of `path`, if any.
pub fn find(path: &str) -> Option<Found> {
    let (pattern, params) = ROUTES
        .iter()
        .find_map(|r| matches(r.path, path).map(|params| (r.path, params)))?;
    Some(Found {
        rows: ROUTES.iter().filter(|r| r.path == pattern).collect(),
        params,
    })
}

#[cfg(test)]
mod tests;
