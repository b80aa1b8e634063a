//! The port gate's [`Sql`] seam over a Durable Object's SQLite storage, and
//! running one gate operation as one storage transaction.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, State};

use crate::gate::{Gate, GateError};
use crate::sql::memory::{exec_remembered, ReadMemory};
use crate::sql::{Row, Sql, SqlError, Value};

thread_local! {
    /// The objects (by id) whose storage this isolate brought to the newest
    /// schema: every other operation skips the check.
    static MIGRATED: RefCell<std::collections::HashSet<String>> = RefCell::new(Default::default());
    /// Each object's remembered reads (by id). Only the object writes its
    /// storage, and every write passes through [`ObjectSql`]; a new
    /// instance starts with none ([`new_instance`]).
    static MEMORY: RefCell<HashMap<String, Rc<RefCell<ReadMemory>>>> = RefCell::new(HashMap::new());
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
    sql: SqlStorage,
    /// The object's remembered reads.
    memory: Rc<RefCell<ReadMemory>>,
}

/// Forgets what an earlier instance of the object `id` remembered: a new
/// instance reads its storage afresh.
pub fn new_instance(id: &str) {
    MEMORY.with(|m| m.borrow_mut().remove(id));
}

/// The memory of the object `id`.
fn memory_of(id: &str) -> Rc<RefCell<ReadMemory>> {
    MEMORY.with(|m| {
        if let Some(memory) = m.borrow().get(id) {
            return memory.clone();
        }
        let memory = Rc::new(RefCell::new(ReadMemory::default()));
        m.borrow_mut().insert(id.to_owned(), memory.clone());
        memory
    })
}

impl ObjectSql {
    /// The storage of `state`.
    pub fn of(state: &State) -> ObjectSql {
        Self::with_id(state, &state.id().to_string())
    }

    /// The storage of `state`, the object `id`.
    fn with_id(state: &State, id: &str) -> ObjectSql {
        ObjectSql {
            sql: state.storage().sql(),
            memory: memory_of(id),
        }
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        super::tally::count(super::tally::Work::SqlStatement);
        let bindings: Vec<SqlStorageValue> = params.iter().map(bind).collect();
        let cursor = self
            .sql
            .exec(sql, bindings)
            .map_err(|e| SqlError(e.to_string()))?;
        let names = cursor.column_names();
        let mut rows = Vec::new();
        for raw in cursor.raw() {
            let values = raw.map_err(|e| SqlError(e.to_string()))?;
            rows.push(Row::new(
                names
                    .iter()
                    .cloned()
                    .zip(values.into_iter().map(read))
                    .collect(),
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
        exec_remembered(&self.memory, sql, params, |sql, params| {
            self.run(sql, params)
        })
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
    let id = state.id().to_string();
    let sql = ObjectSql::with_id(state, &id);
    let memory = sql.memory.clone();
    let migrated = MIGRATED.with(|m| m.borrow().contains(&id));
    let out: Rc<RefCell<Option<Result<T, GateError>>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let body = move || -> Result<JsValue, JsValue> {
        let gate = if migrated {
            Ok(Gate::over(&sql))
        } else {
            Gate::open(&sql)
        };
        let result = gate.and_then(|gate| op(&gate));
        // Only a kept transaction keeps the schema it brought up to date.
        if !migrated && result.is_ok() {
            MIGRATED.with(|m| m.borrow_mut().insert(id.clone()));
        }
        let failed = result.as_ref().err().map(|e| JsValue::from_str(&e.0));
        *slot.borrow_mut() = Some(result);
        match failed {
            // Thrown: the storage rolls back everything the op wrote.
            Some(e) => Err(e),
            None => Ok(JsValue::UNDEFINED),
        }
    };
    let storage = state.storage();
    let raw: &JsValue = storage.as_raw().as_ref();
    let transaction = js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match transaction {
        Some(transaction) => {
            let callback = Closure::once_into_js(body);
            let thrown = transaction.call1(raw, &callback).err();
            let result = match out.borrow_mut().take() {
                Some(result) => result,
                None => Err(GateError(format!(
                    "the storage transaction did not run: {thrown:?}"
                ))),
            };
            if thrown.is_some() || result.is_err() {
                // Rolled back: what its reads saw of its own writes is gone.
                memory.borrow_mut().forget_all();
            }
            result
        }
        // Without transactionSync (never in workerd with SQLite storage),
        // the op's synchronous writes still commit together at the end of
        // the turn.
        None => {
            let _ = body();
            let result = out
                .borrow_mut()
                .take()
                .unwrap_or_else(|| Err(GateError("the gate operation did not run".into())));
            if result.is_err() {
                memory.borrow_mut().forget_all();
            }
            result
        }
    }
}
