//! The port gate's [`Sql`] seam over a Durable Object's SQLite storage, and
//! running one gate operation as one storage transaction.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, State};

use crate::gate::{Gate, GateError};
use crate::sql::{reads_only, written_table, Row, Sql, SqlError, Value};

thread_local! {
    /// The objects (by id) whose storage this isolate brought to the newest
    /// schema: every other operation skips the check.
    static MIGRATED: RefCell<std::collections::HashSet<String>> = RefCell::new(Default::default());
}

/// A Durable Object's SQL storage as the gate's [`Sql`].
///
/// Within one of [`atomically`]'s transactions a read asked again with the
/// same parameters, and no write to a table it names in between, is
/// answered from memory (the operations read the port's load, credits and
/// raises more than once): nothing else runs in the object during the
/// synchronous transaction, and the gate's schema has no triggers, so the
/// answer is the one the storage would give. A write forgets every read
/// whose text names its table (every read, when the table is not clear).
pub struct ObjectSql {
    sql: SqlStorage,
    /// The reads of the transaction (`None` outside [`atomically`]'s own).
    reads: Option<RefCell<Vec<Read>>>,
}

impl Clone for ObjectSql {
    /// The same storage, with no reads remembered.
    fn clone(&self) -> ObjectSql {
        ObjectSql {
            sql: self.sql.clone(),
            reads: self.reads.as_ref().map(|_| RefCell::default()),
        }
    }
}

/// A read's statement, parameters and rows.
struct Read {
    sql: String,
    params: Vec<Value>,
    rows: Vec<Row>,
}

impl ObjectSql {
    /// The storage of `state`.
    pub fn of(state: &State) -> ObjectSql {
        ObjectSql {
            sql: state.storage().sql(),
            reads: None,
        }
    }

    /// The storage of `state` for one synchronous transaction: its reads
    /// remembered until its next write.
    fn for_transaction(state: &State) -> ObjectSql {
        ObjectSql {
            sql: state.storage().sql(),
            reads: Some(RefCell::default()),
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
        let Some(reads) = &self.reads else {
            return self.run(sql, params);
        };
        if !reads_only(sql) {
            match written_table(sql) {
                Some(table) => {
                    let table = table.to_ascii_lowercase();
                    reads
                        .borrow_mut()
                        .retain(|r| !r.sql.to_ascii_lowercase().contains(&table));
                }
                None => reads.borrow_mut().clear(),
            }
            return self.run(sql, params);
        }
        if let Some(known) = reads
            .borrow()
            .iter()
            .find(|r| r.sql == sql && r.params == params)
        {
            return Ok(known.rows.clone());
        }
        let rows = self.run(sql, params)?;
        reads.borrow_mut().push(Read {
            sql: sql.to_owned(),
            params: params.to_vec(),
            rows: rows.clone(),
        });
        Ok(rows)
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
    let sql = ObjectSql::for_transaction(state);
    let id = state.id().to_string();
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
            MIGRATED.with(|m| m.borrow_mut().insert(id));
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
            match out.borrow_mut().take() {
                Some(result) => result,
                None => Err(GateError(format!(
                    "the storage transaction did not run: {thrown:?}"
                ))),
            }
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
    }
}
