//! The port gate's [`Sql`] seam over a Durable Object's SQLite storage, and
//! running one gate operation as one storage transaction.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, State};

use crate::gate::{Gate, GateError};
use crate::sql::memory::{exec_remembered, ReadMemory};
use crate::sql::{reads_only, Fact, Row, Sql, SqlError, Value};

thread_local! {
    /// Each object's storage handles and remembered reads (by id). Only the
    /// object writes its storage, and every write passes through
    /// [`ObjectSql`]; a new instance starts afresh ([`new_instance`]).
    static OBJECTS: RefCell<HashMap<String, Rc<Handles>>> = RefCell::new(HashMap::new());
}

/// One object's storage as the runtime hands it out, taken once per
/// instance instead of once per operation, and what it remembers.
struct Handles {
    /// `ctx.storage.sql`.
    sql: SqlStorage,
    /// `ctx.storage`, and its `transactionSync` (always there in workerd
    /// with SQLite storage).
    storage: JsValue,
    transaction: Option<js_sys::Function>,
    /// The reads remembered.
    memory: RefCell<ReadMemory>,
    /// This instance brought the storage to the newest schema: every later
    /// operation skips the check.
    migrated: Cell<bool>,
}

/// Forgets what an earlier instance of the object `id` kept: a new
/// instance takes its handles and reads its storage afresh.
pub fn new_instance(id: &str) {
    OBJECTS.with(|m| m.borrow_mut().remove(id));
}

/// The handles of `state`, the object `id`.
fn handles(state: &State, id: &str) -> Rc<Handles> {
    OBJECTS.with(|m| {
        if let Some(handles) = m.borrow().get(id) {
            return handles.clone();
        }
        let storage = state.storage();
        let raw: &JsValue = storage.as_raw().as_ref();
        let raw = raw.clone();
        let transaction = js_sys::Reflect::get(&raw, &JsValue::from_str("transactionSync"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let handles = Rc::new(Handles {
            sql: storage.sql(),
            storage: raw,
            transaction,
            memory: RefCell::default(),
            migrated: Cell::new(false),
        });
        m.borrow_mut().insert(id.to_owned(), handles.clone());
        handles
    })
}

/// A Durable Object's SQL storage as the gate's [`Sql`].
///
/// A read asked again with the same parameters, and no write between that
/// may change it, is answered from the object's [`ReadMemory`]: the
/// operations read the port's budget, credits, raises and alert settings
/// on every call and write them rarely. Nothing else writes the object's
/// storage, and the gate's schema has no triggers, so the answer is the
/// one the storage would give; a transaction that rolls back forgets
/// everything ([`atomically`]).
#[derive(Clone)]
pub struct ObjectSql {
    handles: Rc<Handles>,
    /// Set when writes are refused ([`reading`]): whether one was tried.
    refused_write: Option<Rc<Cell<bool>>>,
}

impl ObjectSql {
    /// The storage of `state`.
    pub fn of(state: &State) -> ObjectSql {
        ObjectSql {
            handles: handles(state, &state.id().to_string()),
            refused_write: None,
        }
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        super::tally::count(super::tally::Work::SqlStatement);
        let bindings: Vec<SqlStorageValue> = params.iter().map(bind).collect();
        let cursor = self
            .handles
            .sql
            .exec(sql, bindings)
            .map_err(|e| SqlError(e.to_string()))?;
        let mut rows = Vec::new();
        let mut names: Option<std::sync::Arc<[String]>> = None;
        for raw in cursor.raw() {
            let values = raw.map_err(|e| SqlError(e.to_string()))?;
            // The names are read once per result, and only for a result
            // with rows; its rows share them.
            let names = names.get_or_insert_with(|| cursor.column_names().into());
            rows.push(Row::of_result(
                names,
                values.into_iter().map(read).collect(),
            ));
        }
        Ok(rows)
    }
}

fn bind(value: &Value) -> SqlStorageValue {
    match value {
        Value::Null => SqlStorageValue::Null,
        Value::Integer(v) => SqlStorageValue::Integer(*v),
        Value::Real(v) => SqlStorageValue::Float(*v),
        Value::Text(v) => SqlStorageValue::String(v.clone()),
    }
}

fn read(value: SqlStorageValue) -> Value {
    match value {
        SqlStorageValue::Null | SqlStorageValue::Blob(_) => Value::Null,
        SqlStorageValue::Boolean(b) => Value::Integer(i64::from(b)),
        SqlStorageValue::Integer(v) => Value::Integer(v),
        SqlStorageValue::Float(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
            Value::Integer(v as i64)
        }
        SqlStorageValue::Float(v) => Value::Real(v),
        SqlStorageValue::String(v) => Value::Text(v),
    }
}

impl Sql for ObjectSql {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        if let Some(refused) = self.refused_write.as_ref().filter(|_| !reads_only(sql)) {
            refused.set(true);
            return Err(SqlError("a write outside a transaction".into()));
        }
        exec_remembered(&self.handles.memory, sql, params, |sql, params| {
            self.run(sql, params)
        })
    }

    fn fact(&self, fact: Fact) -> Option<i64> {
        self.handles.memory.borrow().fact(fact)
    }

    fn keep_fact(&self, fact: Fact, value: i64) {
        self.handles.memory.borrow_mut().keep_fact(fact, value);
    }
}

/// Runs `op` on the gate over `state`'s storage as one synchronous storage
/// transaction (`transactionSync`): everything it wrote is kept only if it
/// returns `Ok`, and no other request of the object runs in between.
pub fn atomically<T: 'static>(
    state: &State,
    op: impl FnOnce(&Gate<'_, ObjectSql>) -> Result<T, GateError> + 'static,
) -> Result<T, GateError> {
    super::tally::count(super::tally::Work::Transaction);
    let sql = ObjectSql::of(state);
    let handles = sql.handles.clone();
    let out: Rc<RefCell<Option<Result<T, GateError>>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let body = move || -> Result<JsValue, JsValue> {
        let migrated = sql.handles.migrated.get();
        let gate = if migrated {
            Ok(Gate::over(&sql))
        } else {
            Gate::open(&sql)
        };
        let result = gate.and_then(|gate| op(&gate));
        // Only a kept transaction keeps the schema it brought up to date.
        if !migrated && result.is_ok() {
            sql.handles.migrated.set(true);
        }
        let failed = result.as_ref().err().map(|e| JsValue::from_str(&e.0));
        *slot.borrow_mut() = Some(result);
        match failed {
            // Thrown: the storage rolls back everything the op wrote.
            Some(e) => Err(e),
            None => Ok(JsValue::UNDEFINED),
        }
    };
    let result = match &handles.transaction {
        Some(transaction) => {
            let callback = Closure::once_into_js(body);
            let thrown = transaction.call1(&handles.storage, &callback).err();
            let result = match out.borrow_mut().take() {
                Some(result) => result,
                None => Err(GateError(format!(
                    "the storage transaction did not run: {thrown:?}"
                ))),
            };
            if thrown.is_some() {
                handles.migrated.set(false);
                handles.memory.borrow_mut().forget_all();
            }
            result
        }
        // Without transactionSync (never in workerd with SQLite storage),
        // the op's synchronous writes still commit together at the end of
        // the turn.
        None => {
            let _ = body();
            out.borrow_mut()
                .take()
                .unwrap_or_else(|| Err(GateError("the gate operation did not run".into())))
        }
    };
    if result.is_err() {
        // Rolled back: what its reads saw of its own writes is gone.
        handles.memory.borrow_mut().forget_all();
    }
    result
}

/// Runs `op`, which mostly only reads (where the port stands, what it owes
/// its lender), without a storage transaction: synchronous, so no other
/// request of the object runs in between, and with nothing written there
/// is nothing to keep or roll back. An op that tries to write is run again
/// whole by [`atomically`] (its first run wrote nothing: the write was
/// refused).
pub fn reading<T: 'static>(
    state: &State,
    op: impl Fn(&Gate<'_, ObjectSql>) -> Result<T, GateError> + 'static,
) -> Result<T, GateError> {
    let sql = ObjectSql::of(state);
    if !sql.handles.migrated.get() {
        return atomically(state, move |g| op(g));
    }
    let refused = Rc::new(Cell::new(false));
    let reader = ObjectSql {
        refused_write: Some(refused.clone()),
        ..sql
    };
    let result = op(&Gate::over(&reader));
    if refused.get() {
        return atomically(state, move |g| op(g));
    }
    result
}
