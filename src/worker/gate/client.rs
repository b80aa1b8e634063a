//! The Worker's side of a port's gate, its transport: one request to the
//! port's object (or the shard a request belongs to) per operation,
//! retried when the object could not be reached, carrying the isolate's
//! waiting commits. The operations themselves are in `port_ops` (and the
//! gateway's in `gateway_ops`).

use serde::de::DeserializeOwned;
use worker::{Env, Headers, Method, Request, RequestInit, Stub};

use super::carry;
use super::protocol::{Answered, Elsewhere, GateFailure, GateRequest, ShardAnswered};
use super::tally::{Work, WORK_HEADER};
use crate::allowance::shards;
use crate::gate::carried::{self, Ride, CARRIED_HEADER};
use crate::gate::{CallUsage, CommitOutcome};
use crate::worker::clock::{self, Clock};
use crate::worker::d1::StoreError;
use crate::worker::fault::Faults;
use crate::worker::port_key::{PresentedKey, KEY_HEADER};
use crate::worker::settings::Settings;

/// The binding of the port gates' namespace.
pub const BINDING: &str = "GATE";
/// How many times one operation is sent when the object cannot be reached.
const ATTEMPTS: u32 = 3;
/// The header naming the shard a request is for (absent: the port's own
/// object).
pub const SHARD_HEADER: &str = "x-shard";
/// How the object's refusal of a request it cannot read starts.
pub const NOT_VALID: &str = "the gate request is not valid";
/// How an [`Elsewhere`] answer starts.
const ELSEWHERE_START: &str = "{\"elsewhere\":";
/// How long an isolate places a port's reservations by the shard count it
/// last learned from the port's own object (ms); past it, the next one
/// goes to the port's own object, which says where it belongs. The count
/// decides only where a request is decided, never whether: every shard
/// borrows what it holds from the port's object.
pub const SHARDS_KNOWN_MS: f64 = 10_000.0;

thread_local! {
    /// Each port's shard count as this isolate last learned it, and when
    /// (runtime ms).
    static SHARD_COUNTS: std::cell::RefCell<std::collections::HashMap<String, (u32, f64)>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `port`'s shard count, if learned within [`SHARDS_KNOWN_MS`].
fn known_shards(port: &str) -> Option<u32> {
    let now = clock::system_ms();
    SHARD_COUNTS.with(|counts| {
        counts
            .borrow()
            .get(port)
            .filter(|(_, at)| now - at < SHARDS_KNOWN_MS)
            .map(|(count, _)| *count)
    })
}

/// Remembers `port`'s shard count, as its own object just said.
pub(super) fn learn_shards(port: &str, count: u32) {
    let now = clock::system_ms();
    SHARD_COUNTS.with(|counts| {
        let mut counts = counts.borrow_mut();
        if counts.len() > 10_000 {
            counts.clear();
        }
        counts.insert(port.to_owned(), (count, now));
    });
}

/// What the object did with a request.
enum Sent {
    /// Its answer.
    Answer(String),
    /// It refused (its storage or the first-start import failed).
    Refused(String),
    /// The port key the request presented was revoked: nothing was done.
    KeyRevoked,
}

/// One port's gate, as the Worker reaches it.
pub struct GateClient {
    env: Env,
    stub: std::cell::RefCell<std::rc::Rc<Stub>>,
    port: String,
    /// The port's shard this client reaches (`None`: the port's own
    /// object).
    shard: Option<u32>,
    pub(super) clock: Clock,
    faults: Option<String>,
    /// The request's faults, which keep the tally of its work.
    work: std::rc::Rc<Faults>,
    /// The port key the request presents ([`crate::worker::port_key`]):
    /// its hash rides on requests to the port's own object until it has
    /// seen it; KV confirms one the isolate remembered before a trip to a
    /// shard.
    key: Option<std::rc::Rc<PresentedKey>>,
    /// How long this request's commits after its answer wait for another
    /// trip of the isolate to carry them ([`crate::gate::carried`]); its
    /// own trips carry what waits. `None`: neither (an object's client, an
    /// event's, or a request with injected faults).
    carry: Option<std::time::Duration>,
}

/// A stub of the object of `port`'s shard `shard` (or of its own).
fn stub(env: &Env, port: &str, shard: Option<u32>) -> Result<Stub, StoreError> {
    let name = shards::object_name(port, shard);
    env.durable_object(BINDING)
        .and_then(|ns| ns.id_from_name(&name)?.get_stub())
        .map_err(|e| StoreError::Failed(format!("the {BINDING} binding: {e}")))
}

/// The commit of hold `id` with `usage`, for the request `write_id`.
pub(super) fn commit_request(
    id: &str,
    usage: &CallUsage,
    body_hash: &str,
    write_id: &str,
) -> GateRequest {
    GateRequest::Commit {
        id: id.to_owned(),
        usage: usage.clone(),
        body_hash: body_hash.to_owned(),
        write_id: write_id.to_owned(),
    }
}

fn unavailable(message: impl Into<String>) -> StoreError {
    StoreError::Unavailable {
        message: message.into(),
    }
}

impl GateClient {
    /// The gate of `port`, reached at this request's `clock`; `faults` is
    /// the request's `x-fault` header (test seams only), passed on; `work`
    /// the request's faults, which tally its work.
    ///
    /// # Errors
    /// `Failed` when the Worker has no `GATE` binding.
    pub fn new(
        env: &Env,
        port: &str,
        clock: Clock,
        faults: Option<String>,
        work: std::rc::Rc<Faults>,
    ) -> Result<GateClient, StoreError> {
        Ok(GateClient {
            stub: std::cell::RefCell::new(std::rc::Rc::new(stub(env, port, None)?)),
            env: env.clone(),
            port: port.to_owned(),
            shard: None,
            clock,
            faults,
            work,
            key: None,
            carry: None,
        })
    }

    /// The same gate, for a Worker request: its trips carry the isolate's
    /// waiting commits to their object, and its commits after its answer
    /// wait up to `wait` to be carried ([`Self::commit_after_answer`]). A
    /// request with injected faults neither carries nor waits: a fault is
    /// meant for its own operations.
    #[must_use]
    pub fn carrying(mut self, wait: std::time::Duration) -> GateClient {
        if self.faults.is_none() {
            self.carry = Some(wait);
        }
        self
    }

    /// The port this client reaches.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The same gate, reached for a request that presents `key` (a port
    /// key of this port): see [`crate::worker::port_key`].
    #[must_use]
    pub fn presenting(mut self, key: Option<std::rc::Rc<PresentedKey>>) -> GateClient {
        self.key = key.filter(|k| k.port() == self.port);
        self
    }

    /// Sends one operation, retrying (the very same request: the gate tells
    /// a retry of a request from a replay by another) when the object could
    /// not be reached or restarted under it. Test faults ride on the first
    /// attempt only, so a fault is one lost answer, not a lost port.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        request: &GateRequest,
    ) -> Result<T, StoreError> {
        let text = self.call_text(request).await?;
        self.parse(&text)
    }

    fn parse<T: DeserializeOwned>(&self, text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|e| {
            StoreError::Failed(format!("port {}'s gate answered {text}: {e}", self.port))
        })
    }

    /// [`GateClient::call`]'s request, answered as text.
    async fn call_text(&self, request: &GateRequest) -> Result<String, StoreError> {
        self.work.count(Work::Json);
        let body = serde_json::to_string(request).map_err(|e| StoreError::Failed(e.to_string()))?;
        self.send_text(&body).await
    }

    /// Sends one operation's JSON `body`, as [`Self::call`] does.
    async fn send_text(&self, body: &str) -> Result<String, StoreError> {
        if self.key.as_deref().is_some_and(PresentedKey::is_refused) {
            // Refused earlier in this request: nothing more is sent.
            return Err(StoreError::KeyNotValid);
        }
        let key = self.key.as_deref().filter(|k| !k.confirmed());
        if let (Some(key), Some(_)) = (key, self.shard) {
            // A shard keeps no revocations: KV confirms the key first.
            let settings = Settings::new(self.env.clone(), self.work.clone());
            key.confirm(&settings).await?;
        }
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                worker::Delay::from(std::time::Duration::from_millis(5 << attempt)).await;
                // A stub that met an object's reset stays broken: a new one.
                *self.stub.borrow_mut() =
                    std::rc::Rc::new(stub(&self.env, &self.port, self.shard)?);
            }
            match self.send(body, attempt == 0).await {
                Ok(Sent::Answer(text)) => {
                    self.work.count(Work::Json);
                    return Ok(text);
                }
                Ok(Sent::Refused(message)) => {
                    return Err(unavailable(format!("port {}'s gate: {message}", self.port)))
                }
                Ok(Sent::KeyRevoked) => {
                    let key = self.key.as_deref();
                    return Err(key.map_or(StoreError::KeyNotValid, PresentedKey::refused));
                }
                Err(e) => last = e,
            }
        }
        Err(unavailable(format!("port {}'s gate: {last}", self.port)))
    }

    /// The same port's gate, at its shard `shard` (`None`: its own object).
    ///
    /// # Errors
    /// `Failed` when the Worker has no `GATE` binding.
    pub fn at_shard(&self, shard: Option<u32>) -> Result<GateClient, StoreError> {
        Ok(GateClient {
            stub: std::cell::RefCell::new(std::rc::Rc::new(stub(&self.env, &self.port, shard)?)),
            env: self.env.clone(),
            port: self.port.clone(),
            shard,
            clock: self.clock,
            faults: self.faults.clone(),
            work: self.work.clone(),
            key: self.key.clone(),
            carry: self.carry,
        })
    }

    /// Sends a reservation or a usage write of `request_id` where it
    /// belongs: its shard under the port's shard count as this isolate
    /// last learned it from the port's own object (within
    /// [`SHARDS_KNOWN_MS`]), else the port's own object, which answers
    /// [`Elsewhere`] when the port has shards (then the request goes to its
    /// shard). `request` builds the request for the shard chosen.
    pub(super) async fn placed<T: DeserializeOwned>(
        &self,
        request_id: &str,
        request: impl Fn(Option<u32>) -> GateRequest,
    ) -> Result<Answered<T>, StoreError> {
        let known = known_shards(&self.port);
        let mut shard = known.and_then(|count| shards::placement(request_id, count));
        for _ in 0..2 {
            let target = if shard == self.shard {
                None
            } else {
                Some(self.at_shard(shard)?)
            };
            let client = target.as_ref().unwrap_or(self);
            let text = client.call_text(&request(shard)).await?;
            if text.starts_with(ELSEWHERE_START) {
                let elsewhere: Elsewhere = self.parse(&text)?;
                learn_shards(&self.port, elsewhere.elsewhere);
                shard = shards::placement(request_id, elsewhere.elsewhere);
                continue;
            }
            let answered: Answered<T> = self.parse(&text)?;
            if shard.is_none() {
                learn_shards(&self.port, answered.budget.shards);
            }
            return Ok(answered);
        }
        Err(unavailable(format!(
            "port {}'s gate: its shards could not be placed",
            self.port
        )))
    }

    /// The gate object holding reservation `id` (its shard is in its id).
    fn holding(&self, id: &str) -> Result<Option<GateClient>, StoreError> {
        match shards::shard_of_hold(id) {
            shard if shard == self.shard => Ok(None),
            shard => self.at_shard(shard).map(Some),
        }
    }

    /// Sends `request` to the gate object holding reservation `id`.
    pub(super) async fn call_holding<T: DeserializeOwned>(
        &self,
        id: &str,
        request: &GateRequest,
    ) -> Result<T, StoreError> {
        let holding = self.holding(id)?;
        holding.as_ref().unwrap_or(self).call(request).await
    }

    /// To the port's own object: shard `shard`'s report, answered with its
    /// grant and the port's budget.
    pub async fn shard_report(
        &self,
        shard: u32,
        report: &crate::allowance::Report,
        request_id: Option<&str>,
    ) -> Result<ShardAnswered, StoreError> {
        self.call(&GateRequest::ShardReport {
            shard,
            report: report.clone(),
            request_id: request_id.map(str::to_owned),
        })
        .await
    }

    /// To a shard's object: a grant from the port's own object; answers
    /// the report the shard owes back, if any.
    pub async fn shard_grant(
        &self,
        grant: &crate::allowance::Grant,
    ) -> Result<Option<crate::allowance::Report>, StoreError> {
        self.call(&GateRequest::Allowance {
            grant: grant.clone(),
        })
        .await
    }

    async fn send(&self, body: &str, first: bool) -> Result<Sent, String> {
        let riders = carried::Boarded(if self.carry.is_some() {
            carry::board(|| shards::object_name(&self.port, self.shard))
        } else {
            Vec::new()
        });
        let sent = self.send_carrying(body, first, &riders.0).await;
        if matches!(sent, Ok(Sent::Answer(_))) {
            return sent;
        }
        carried::fail_all(&riders.0);
        match sent {
            // An object that cannot read a request carrying settlements
            // (one still on the code before them, during a deploy): the
            // request again on its own.
            Ok(Sent::Refused(message))
                if !riders.0.is_empty() && message.starts_with(NOT_VALID) =>
            {
                self.send_carrying(body, false, &[]).await
            }
            sent => sent,
        }
    }

    /// [`Self::send`], the request carrying `riders` before its own body.
    async fn send_carrying(
        &self,
        body: &str,
        first: bool,
        riders: &[std::rc::Rc<Ride>],
    ) -> Result<Sent, String> {
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        let _ = headers.set("x-port", &self.port);
        if let Some(shard) = self.shard {
            let _ = headers.set(SHARD_HEADER, &shard.to_string());
        }
        if let Some(at) = self.clock.header_value() {
            let _ = headers.set(clock::NOW_HEADER, &at);
        }
        if let Some(faults) = self.faults.as_ref().filter(|_| first) {
            let _ = headers.set("x-fault", faults);
        }
        let key = self
            .key
            .as_deref()
            .filter(|k| self.shard.is_none() && k.to_show());
        if let Some(key) = key {
            let _ = headers.set(KEY_HEADER, key.hash());
        }
        let framed;
        let body = if riders.is_empty() {
            body
        } else {
            self.work.work.add(Work::Carried, riders.len() as u64);
            let _ = headers.set(CARRIED_HEADER, &riders.len().to_string());
            framed = carried::frame(riders, body);
            &framed
        };
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let req = Request::new_with_init("https://gate/", &init).map_err(|e| e.to_string())?;
        let stub = self.stub.borrow().clone();
        self.work.count(Work::ObjectTrip);
        let response = stub
            .fetch_with_request(req)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(Some(work)) = response.headers().get(WORK_HEADER) {
            self.work.work.add_reported(&work);
        }
        let status = response.status_code();
        let carried_count = response
            .headers()
            .get(CARRIED_HEADER)
            .ok()
            .flatten()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let text = crate::worker::body::response_text(response).await?;
        match status {
            200 => {
                if let Some(key) = key {
                    key.confirmed_by_object();
                }
                if riders.is_empty() {
                    return Ok(Sent::Answer(text));
                }
                match carried::arrive(riders, Some(&text), carried_count) {
                    Some(own) => Ok(Sent::Answer(own.to_owned())),
                    // Unreadable: sent again, as a lost answer is.
                    None => Err(format!(
                        "an answer carrying {carried_count} settlements, not {}",
                        riders.len()
                    )),
                }
            }
            401 if key.is_some() => Ok(Sent::KeyRevoked),
            // The object restarted under the request: the same again.
            503 if text.contains("restarted") => Err(text),
            _ => Ok(Sent::Refused(
                serde_json::from_str::<GateFailure>(&text)
                    .map(|f| f.message)
                    .unwrap_or(text),
            )),
        }
    }

    /// [`Self::commit`] for a call already answered: the commit waits a
    /// few milliseconds for another trip of this isolate to the hold's
    /// object to carry it, and is sent on its own when none does or the
    /// one that did failed (the gate answers it as a retry when it was
    /// applied). A client that does not carry sends it at once.
    pub async fn commit_after_answer(
        &self,
        id: &str,
        usage: &CallUsage,
        body_hash: &str,
        write_id: &str,
    ) -> Result<Answered<CommitOutcome>, StoreError> {
        let Some(wait) = self.carry else {
            return self.commit(id, usage, body_hash, write_id).await;
        };
        let holding = self.holding(id)?;
        let client = holding.as_ref().unwrap_or(self);
        let request = commit_request(id, usage, body_hash, write_id);
        self.work.count(Work::Json);
        let body =
            serde_json::to_string(&request).map_err(|e| StoreError::Failed(e.to_string()))?;
        let object = shards::object_name(&client.port, client.shard);
        match carry::wait_for_trip(&object, body, &self.clock, wait).await {
            carry::Waited::Answered(text) => {
                self.work.count(Work::Json);
                self.parse(&text)
            }
            carry::Waited::SendAlone(body) => {
                let text = client.send_text(&body).await?;
                self.parse(&text)
            }
        }
    }
}
