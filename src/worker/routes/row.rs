//! What a row of the route table is: its method and path pattern, who may
//! call it ([`Auth`]), what answers it ([`Handler`]), and the parameters a
//! path gives its pattern ([`Params`]). API handlers build on these types;
//! the table itself (`routes`) names the handlers.

use futures_util::future::LocalBoxFuture;
use worker::{Method, Request, Response};

use crate::access::Role;
use crate::worker::api::ctx::Ctx;
use crate::worker::http::ApiError;

/// Who may call a route. The role is the least an admin key needs (the
/// admin token is an owner); `docs/openapi.json` states it as each
/// operation's `x-role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anyone: no secret is asked for.
    Open,
    /// Any caller with a valid secret: the admin, any admin key or any
    /// port's key.
    Caller,
    /// A key of the port the path names, or the admin (an admin key of
    /// this role or above, whose scope reaches the port).
    Port(Role),
    /// The admin (an admin key of this role or above, whose scope reaches
    /// the path's port or group).
    Admin(Role),
}

impl Auth {
    /// The name used in listings and documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            Auth::Open => "none",
            Auth::Caller => "caller",
            Auth::Port(_) => "port",
            Auth::Admin(_) => "admin",
        }
    }

    /// The least role an admin key needs (`None`: any caller).
    pub const fn role(self) -> Option<Role> {
        match self {
            Auth::Port(role) | Auth::Admin(role) => Some(role),
            Auth::Open | Auth::Caller => None,
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

impl Route {
    /// This row without the budget-state headers.
    pub(super) const fn without_budget_state(self) -> Route {
        Route {
            budget_state: false,
            ..self
        }
    }
}

/// The parameters a path gave its pattern's `{name}`s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub(super) Vec<(&'static str, String)>);

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
