//! Running the ledger's statements ([`crate::ledger`]) on D1: one batch per
//! call (a transaction), transient failures retried with a fresh attempt
//! id each time, overload answered at once, every failure classified.

use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Delay};

use super::fault::Faults;
use super::ids::random_id;
use crate::sql::{Row, Statement, Value};

/// How many times a batch is tried when D1 reports a transient error.
const ATTEMPTS: u32 = 3;
/// What a client is told to wait when a store cannot answer.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Why a store (D1, KV, a port's object) could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Unreachable or overloaded: the request changed nothing or is safe
    /// to retry; the gate fails closed.
    Unavailable {
        /// What the store said.
        message: String,
    },
    /// An unexpected error (a bug): nothing to retry.
    Failed(String),
    /// The port key the request presents is no longer valid (it was
    /// revoked): the port's object refused it, or KV no longer holds it.
    /// Nothing was done.
    KeyNotValid,
}

impl StoreError {
    fn from_message(message: String) -> StoreError {
        if is_transient(&message) || is_overloaded(&message) {
            StoreError::Unavailable { message }
        } else {
            StoreError::Failed(message)
        }
    }
}

/// D1's messages for failures that a retry can cure.
fn is_transient(message: &str) -> bool {
    [
        "Network connection lost",
        "storage caused object to be reset",
        "reset because its code was updated",
        "transient issue on remote node",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// D1 shedding load: answer 503 at once rather than retry hot.
fn is_overloaded(message: &str) -> bool {
    message.contains("Overloaded") || message.contains("overloaded")
}

fn js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        // Bound as doubles: workers-rs's integer binding is 32-bit, and
        // counts may pass 2^31 (they stay exact below 2^53).
        Value::Integer(v) => JsValue::from_f64(*v as f64),
        Value::Real(v) => JsValue::from_f64(*v),
        Value::Text(v) => JsValue::from_str(v),
    }
}

fn value_of(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Integer(f as i64),
            (None, Some(f)) => Value::Real(f),
            _ => Value::Null,
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        _ => Value::Null,
    }
}

/// The ids of every attempt one call made: a write tagged with any of them
/// was this call's, even when an earlier attempt's reply was lost after its
/// write landed.
#[derive(Clone, Debug, Default)]
pub struct Attempts(pub Vec<String>);

/// The D1 ledger of record, with this request's injected faults.
#[derive(Clone)]
pub struct D1 {
    db: Rc<D1Database>,
    faults: Rc<Faults>,
}

impl D1 {
    /// D1 over the `DB` binding.
    pub fn new(db: D1Database, faults: Rc<Faults>) -> D1 {
        D1 {
            db: Rc::new(db),
            faults,
        }
    }

    fn prepare(&self, s: &Statement) -> Result<D1PreparedStatement, StoreError> {
        let args: Vec<JsValue> = s.params.iter().map(js).collect();
        self.db
            .prepare(&s.sql)
            .bind(&args)
            .map_err(|e| StoreError::Failed(e.to_string()))
    }

    /// Runs `statements` as one batch, retrying transient failures; `point`
    /// names the call for fault injection. Every statement's rows.
    pub async fn run(
        &self,
        point: &str,
        statements: &[Statement],
    ) -> Result<Vec<Vec<Row>>, StoreError> {
        let (rows, _) = self.run_fresh(point, |_| statements.to_vec()).await?;
        Ok(rows)
    }

    /// Runs the batch `build` makes for each attempt (given a fresh attempt
    /// id), retrying transient failures.
    pub async fn run_fresh(
        &self,
        point: &str,
        build: impl Fn(&str) -> Vec<Statement>,
    ) -> Result<(Vec<Vec<Row>>, Attempts), StoreError> {
        let mut last = String::new();
        let mut attempts = Attempts::default();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                Delay::from(Duration::from_millis(10 << attempt)).await;
            }
            let attempt_id = random_id("w_");
            let statements = build(&attempt_id)
                .iter()
                .map(|s| self.prepare(s))
                .collect::<Result<Vec<_>, _>>()?;
            attempts.0.push(attempt_id);
            let outcome: Result<Vec<Vec<Row>>, String> = match self.faults.before(point) {
                Some(injected) => Err(injected),
                None => match {
                    use super::gate::tally::Work;
                    self.faults.count(Work::D1Batch);
                    self.faults
                        .work
                        .add(Work::D1Statement, statements.len() as u64);
                    self.db.batch(statements)
                }
                .await
                {
                    Ok(results) => match self.faults.after(point) {
                        Some(injected) => Err(injected),
                        None => {
                            let rows = results
                                .iter()
                                .map(|r| {
                                    r.results::<serde_json::Map<String, serde_json::Value>>()
                                        .map(|rows| {
                                            rows.iter()
                                                .map(|cols| {
                                                    Row::new(
                                                        cols.iter()
                                                            .map(|(k, v)| (k.clone(), value_of(v)))
                                                            .collect(),
                                                    )
                                                })
                                                .collect()
                                        })
                                        .map_err(|e| e.to_string())
                                })
                                .collect::<Result<Vec<Vec<Row>>, String>>();
                            match rows {
                                Ok(rows) => return Ok((rows, attempts)),
                                Err(e) => return Err(StoreError::Failed(e)),
                            }
                        }
                    },
                    Err(e) => Err(e.to_string()),
                },
            };
            last = outcome.unwrap_err();
            if !is_transient(&last) {
                break;
            }
        }
        Err(StoreError::from_message(last))
    }
}
