//! The front door: every request to the Worker comes in here. Its bindings
//! are read once ([`Bindings`]), its path is looked up in the one route
//! table ([`routes`]), and the table's row says what answers it: the
//! gateway (given the whole call), or an API handler once the method is
//! one the path answers (`OPTIONS` is 204 with `Allow`, `HEAD` is `GET`
//! without the body, any other method 405 with `Allow`) and the caller may
//! call it. An unknown path is 404.

use worker::{Context, Request, Response};

use super::api;
use super::bindings::Bindings;
use super::body::discard_body;
use super::gateway;
use super::http::{
    known_method, method_not_allowed, options_response, set, without_body, ApiError,
};
use super::routes::{self, Chosen, Found, Handler};

/// Answers one request. A body no handler read (an early refusal) is
/// drained first, so the client's keep-alive connection survives it.
pub async fn answer(mut req: Request, bindings: Bindings, ctx: Context) -> Response {
    let path = req.path();
    let response = match routes::find(&path) {
        Some(found) => route(&mut req, bindings, ctx, &found, &path).await,
        None => ApiError::not_found(format!("no route for {path}")).into_response(),
    };
    discard_body(&mut req).await;
    response
}

/// Answers a request to a known path by what its table rows say.
async fn route(
    req: &mut Request,
    bindings: Bindings,
    ctx: Context,
    found: &Found,
    path: &str,
) -> Response {
    let (response, head) = match found.choose(known_method(req)) {
        // The gateway settles streamed calls after the answer, so it needs
        // the event's context (`wait_until`).
        Chosen::Gateway => return gateway::handle(req, bindings, ctx).await,
        Chosen::Options => return options_response(&found.methods()),
        Chosen::NotAllowed => {
            // A fixed path names itself; others the path as sent.
            let shown = match found.rows[0].handler {
                Handler::Open(_) => found.rows[0].path,
                _ => path,
            };
            return method_not_allowed(shown, &found.methods()).into_response();
        }
        Chosen::Open { answer, head } => (answer(), head),
        Chosen::Api {
            route,
            handler,
            head,
        } => {
            // Under the test seams the answer tells the work it caused.
            let tally = bindings.seams.then(|| bindings.faults.clone());
            let mut response = api::serve(req, bindings, route, handler, &found.params).await;
            if let Some(faults) = tally {
                let own = faults.work.tally().header_value();
                set(&mut response, gateway::OPERATIONS_HEADER, &own);
                let isolate = super::gate::tally::Tally::now().header_value();
                set(&mut response, gateway::ISOLATE_HEADER, &isolate);
            }
            (response, head)
        }
    };
    if head {
        without_body(response)
    } else {
        response
    }
}
