//! The Worker's bindings, read once per request: the admin token (trimmed),
//! the test seams (`FAULT_INJECTION`, `x-fault`, `x-now`), the request's
//! clock, and the stores (KV through one settings store, D1, each port's
//! gate). The API, the gateway, each port's object and the queue consumer
//! read the environment only through here.

use std::rc::Rc;
use std::time::Duration;

use worker::kv::KvStore;
use worker::{Env, Request};

use super::clock::{self, Clock};
use super::d1::{StoreError, D1};
use super::fault::Faults;
use super::gate::{GateClient, CARRY_WAIT_MS};
use super::settings::Settings;

/// The D1 database: the ledger of record.
pub const D1_BINDING: &str = "DB";
/// The request header that lists injected faults (test seams only).
pub const FAULT_HEADER: &str = "x-fault";
/// The request header that sets how long the request's commits after its
/// answer wait to be carried by another trip (ms, at most 10 000; test
/// seams only).
pub const CARRY_WAIT_HEADER: &str = "x-test-carry-wait";

/// What every request reads of the environment, read once per isolate:
/// a Worker's vars and secrets are fixed for the life of the isolate that
/// runs it (changing one deploys a new version, which new isolates run).
struct OfIsolate {
    seams: bool,
    admin_token: Option<String>,
}

thread_local! {
    static OF_ISOLATE: std::cell::OnceCell<OfIsolate> = const { std::cell::OnceCell::new() };
}

fn of_isolate<T>(env: &Env, read: impl FnOnce(&OfIsolate) -> T) -> T {
    OF_ISOLATE.with(|cell| {
        read(cell.get_or_init(|| {
            OfIsolate {
                seams: env
                    .var("FAULT_INJECTION")
                    .map(|v| v.to_string() == "on")
                    .unwrap_or(false),
                admin_token: text_setting(env, "ADMIN_TOKEN"),
            }
        }))
    })
}

/// True when the Worker's `FAULT_INJECTION` variable is `on`: the tests'
/// seams (`x-fault`, `x-now`). The one place the switch is read (once per
/// isolate).
pub fn seams_on(env: &Env) -> bool {
    of_isolate(env, |fixed| fixed.seams)
}

/// The `ADMIN_TOKEN` secret, trimmed (read once per isolate).
fn admin_token(env: &Env) -> Option<String> {
    of_isolate(env, |fixed| fixed.admin_token.clone())
}

/// A Worker secret (or, locally, a var) as text: trimmed, `None` when unset
/// or blank. A secret saved with a trailing newline reads the same as
/// without it.
pub fn text_setting(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// One request's view of the Worker's bindings.
pub struct Bindings {
    /// The environment, for what only one part of the Worker reads (the
    /// gateway's configuration, the alert queue).
    pub env: Env,
    /// The `ADMIN_TOKEN` secret, trimmed; `None` when unset or blank.
    pub admin_token: Option<String>,
    /// The test seams are on.
    pub seams: bool,
    /// The request's `x-fault` header, when the seams are on.
    pub fault_header: Option<String>,
    /// The request's clock.
    pub clock: Clock,
    /// The request's injected faults (none in production), shared by its
    /// stores so a fault that strikes once strikes once per request.
    pub faults: Rc<Faults>,
    /// How long the request's commits after its answer wait for another
    /// trip to carry them (`None`: an event's, which neither carries nor
    /// waits).
    pub carry_wait: Option<Duration>,
}

impl Bindings {
    /// The bindings of `req`.
    pub fn of_request(req: &Request, env: Env) -> Bindings {
        let seams = seams_on(&env);
        // Every header read here is a test seam's: none is read without them.
        let header = |name: &str| {
            seams
                .then(|| req.headers().get(name).ok().flatten())
                .flatten()
        };
        let fault_header = header(FAULT_HEADER);
        Bindings {
            admin_token: admin_token(&env),
            clock: Clock::for_request(seams, header(clock::NOW_HEADER).as_deref()),
            faults: Rc::new(Faults::from_header(seams, fault_header.clone())),
            fault_header,
            carry_wait: Some(Duration::from_millis(
                header(CARRY_WAIT_HEADER)
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map_or(CARRY_WAIT_MS, |ms| ms.min(10_000)),
            )),
            seams,
            env,
        }
    }

    /// The bindings of an event that is not a request (the cron trigger, a
    /// queue batch): no injected faults, the runtime's clock.
    pub fn of_event(env: Env) -> Bindings {
        Bindings {
            admin_token: admin_token(&env),
            seams: seams_on(&env),
            fault_header: None,
            clock: Clock::System,
            faults: Rc::new(Faults::none()),
            carry_wait: None,
            env,
        }
    }

    /// The KV namespace.
    ///
    /// # Errors
    /// When the Worker has no `BUDGETS` binding.
    pub fn kv(&self) -> Result<KvStore, StoreError> {
        super::settings::kv_store(&self.env)
    }

    /// The settings store (KV) with this request's faults. The binding
    /// is taken at the first read or write: a Worker without it fails
    /// there (`Failed`, a 500), not before.
    pub fn settings(&self) -> Settings {
        Settings::new(self.env.clone(), self.faults.clone())
    }

    /// The ledger of record (D1) with this request's faults.
    ///
    /// # Errors
    /// When the Worker has no `DB` binding.
    pub fn d1(&self) -> Result<D1, StoreError> {
        let db = self
            .env
            .d1(D1_BINDING)
            .map_err(|e| StoreError::Failed(format!("the {D1_BINDING} binding: {e}")))?;
        Ok(D1::new(db, self.faults.clone()))
    }

    /// `port`'s gate, reached at this request's clock with its faults.
    ///
    /// # Errors
    /// When the Worker has no `GATE` binding.
    pub fn gate(&self, port: &str) -> Result<GateClient, StoreError> {
        let client = GateClient::new(
            &self.env,
            port,
            self.clock,
            self.fault_header.clone(),
            self.faults.clone(),
        )?;
        Ok(match self.carry_wait {
            Some(wait) => client.carrying(wait),
            None => client,
        })
    }
}
