//! One API request's context ([`Ctx`]): its bindings, instant, caller
//! and stores, what a handler remembers for the answer's headers and the
//! audit record; and the request's query, as handlers read it.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use worker::{Env, Request};

use crate::gate::PortLoad;
use crate::worker::bindings::Bindings;
use crate::worker::budget_state::BudgetState;
use crate::worker::caller::Caller;
use crate::worker::clock::Clock;
use crate::worker::d1::{StoreError, D1};
use crate::worker::gate::GateClient;
use crate::worker::port_key::PresentedKey;
use crate::worker::settings::Settings;
use crate::Budget;

/// One request's context.
pub struct Ctx {
    /// The request's bindings (its clock and faults included).
    pub bindings: Bindings,
    /// The instant the request is answered at.
    pub now: DateTime<Utc>,
    /// Who calls.
    pub caller: Caller,
    /// KV: budgets as listed, port keys.
    pub settings: Settings,
    /// D1: the ledger of record, for reports.
    pub d1: D1,
    /// This request's id: a write it makes is known as its own on retries.
    pub write_id: String,
    /// The port's budget state, once a handler has measured it.
    pub(super) state: Option<BudgetState>,
    /// The group above the port over its soft cap, as the port's gate
    /// answered.
    pub(super) group_soft: Option<String>,
    /// The changed value before the change, as a handler read it, for the
    /// audit record (`null`: none, or not read).
    pub before: serde_json::Value,
    /// The changed value after, when the answer's body is not it (say it
    /// holds a secret); else the answer's body is recorded.
    pub after: Option<serde_json::Value>,
    /// The route as an audit record's action (`PUT /v1/ports/{port}/budget`).
    pub action: String,
    /// The handler wrote the change's audit record itself (in the change's
    /// own D1 batch).
    pub audited: bool,
    /// The port key the caller presents: the port's own object sees its
    /// hash on the request's first trip there; one the isolate remembered
    /// is confirmed by that trip, or by KV after the handler if none was
    /// made ([`crate::worker::port_key`]).
    pub(super) key: Option<Rc<PresentedKey>>,
}

impl Ctx {
    /// The request's clock (to carry to work done later, such as a queued
    /// delivery).
    pub fn clock(&self) -> Clock {
        self.bindings.clock
    }

    /// The Worker's environment.
    pub fn env(&self) -> &Env {
        &self.bindings.env
    }

    /// `port`'s gate (reached with the caller's unconfirmed port key, if
    /// any: the gate refuses a revoked one before it does anything).
    pub fn gate(&self, port: &str) -> Result<GateClient, StoreError> {
        Ok(self.bindings.gate(port)?.presenting(self.key.clone()))
    }

    /// Remembers the port's budget state for the answer's headers.
    pub fn remember(&mut self, budget: &Budget, load: &PortLoad) {
        self.state = Some(BudgetState::new(*budget, load, self.now));
    }

    /// Remembers the state a change of the port's gate answered: its
    /// budget and load, and a group above it over its soft cap.
    pub fn remember_answer<T>(&mut self, answer: &crate::worker::gate::protocol::Answered<T>) {
        self.remember(&answer.budget.budget, &answer.load);
        self.group_soft.clone_from(&answer.group_soft);
    }
}

/// True when the request asks for CSV (`format=csv`, or `Accept:
/// text/csv`).
pub fn wants_csv(req: &Request) -> bool {
    query(req, "format").as_deref() == Some("csv")
        || req
            .headers()
            .get("Accept")
            .ok()
            .flatten()
            .is_some_and(|a| a.contains("text/csv"))
}

/// A query parameter of the request URL.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
