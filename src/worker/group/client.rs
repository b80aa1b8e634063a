//! Reaching a group's object (from the API, a port's object or another
//! group's), and a port's or a group's object from a group: one JSON
//! request each, carrying the request's instant under the test seams.

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, Method, Request, RequestInit};

use super::protocol::{GroupFailure, GroupRequest};
use crate::allowance::{Grant, Report};
use crate::group::{ChildKind, GroupAnswer};
use crate::worker::clock::{self, Clock};
use crate::worker::d1::StoreError;
use crate::worker::gate::protocol::GateRequest;

/// The binding of the groups' namespace.
pub const BINDING: &str = "GROUP";

/// Sends `body` to the object named `name` in `binding`, once more if the
/// object could not be reached.
async fn post<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    clock: Clock,
    body: &B,
) -> Result<T, StoreError> {
    post_with(env, binding, name, clock, None, body).await
}

/// [`post`], with the test seams' faults on the first attempt only (a
/// fault is one lost answer, not a lost object).
async fn post_with<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    clock: Clock,
    faults: Option<&str>,
    body: &B,
) -> Result<T, StoreError> {
    let text = serde_json::to_string(body).map_err(|e| StoreError::Failed(e.to_string()))?;
    if binding == BINDING {
        parent_hop_delay(env).await;
    }
    let mut last = String::new();
    for attempt in 0..2 {
        let faults = faults.filter(|_| attempt == 0);
        match send(env, binding, name, clock, faults, &text).await {
            Ok((200, answer)) => {
                return serde_json::from_str(&answer).map_err(|e| {
                    StoreError::Failed(format!("{binding} {name} answered {answer}: {e}"))
                })
            }
            Ok((_, answer)) => {
                last = serde_json::from_str::<GroupFailure>(&answer)
                    .map(|f| f.message)
                    .unwrap_or(answer);
            }
            Err(e) => last = e,
        }
    }
    Err(StoreError::Unavailable {
        message: format!("{binding} {name}: {last}"),
    })
}

/// The latency seam: under the test seams (`FAULT_INJECTION=on`) only,
/// the Worker var `FAULT_PARENT_DELAY_MS` slows every hop to a group's
/// object by that many milliseconds (as if the group lived far away), so
/// a benchmark can show which calls wait for their group.
async fn parent_hop_delay(env: &Env) {
    if !crate::worker::bindings::seams_on(env) {
        return;
    }
    let delay = crate::worker::bindings::text_setting(env, "FAULT_PARENT_DELAY_MS")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0 && *ms <= 10_000);
    if let Some(ms) = delay {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

async fn send(
    env: &Env,
    binding: &str,
    name: &str,
    clock: Clock,
    faults: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.id_from_name(name)?.get_stub())
        .map_err(|e| e.to_string())?;
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("x-port", name);
    let _ = headers.set("x-group", name);
    if let Some(at) = clock.header_value() {
        let _ = headers.set(clock::NOW_HEADER, &at);
    }
    if let Some(faults) = faults {
        let _ = headers.set("x-fault", faults);
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let req = Request::new_with_init("https://group/", &init).map_err(|e| e.to_string())?;
    let response = stub
        .fetch_with_request({
            crate::worker::gate::tally::count(crate::worker::gate::tally::Work::ObjectTrip);
            req
        })
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status_code();
    let text = crate::worker::body::response_text(response).await?;
    Ok((status, text))
}

/// One group, as another object reaches it.
pub struct GroupClient {
    env: Env,
    group: String,
    clock: Clock,
    faults: Option<String>,
}

impl GroupClient {
    /// The group `group`, reached at `clock`.
    pub fn new(env: &Env, group: &str, clock: Clock) -> GroupClient {
        GroupClient {
            env: env.clone(),
            group: group.to_owned(),
            clock,
            faults: None,
        }
    }

    /// The same, carrying the test seams' `x-fault` header (first attempt).
    pub fn with_faults(self, faults: Option<String>) -> GroupClient {
        GroupClient { faults, ..self }
    }

    /// Sends one request.
    pub async fn call<T: DeserializeOwned>(&self, request: &GroupRequest) -> Result<T, StoreError> {
        post_with(
            &self.env,
            BINDING,
            &self.group,
            self.clock,
            self.faults.as_deref(),
            request,
        )
        .await
    }

    /// A child's report, answered with its grant (and the refusal of its
    /// need, if it was not granted).
    pub async fn report(&self, child: &str, report: &Report) -> Result<GroupAnswer, StoreError> {
        self.call(&GroupRequest::Report {
            child: child.to_owned(),
            report: report.clone(),
        })
        .await
    }
}

/// Sends a grant to a child (a port's object or a group's); answers the
/// report the child owes back, if any.
pub async fn push_grant(
    env: &Env,
    clock: Clock,
    kind: ChildKind,
    id: &str,
    grant: &Grant,
) -> Result<Option<Report>, StoreError> {
    match kind {
        ChildKind::Port => {
            let request = GateRequest::Allowance {
                grant: grant.clone(),
            };
            post(
                env,
                crate::worker::gate::client::BINDING,
                id,
                clock,
                &request,
            )
            .await
        }
        ChildKind::Group => {
            let request = GroupRequest::Grant {
                grant: grant.clone(),
            };
            post(env, BINDING, id, clock, &request).await
        }
    }
}
