//! An in-process SQLite as the port gate's and the ledger's storage: the
//! same SQL the Durable Object and D1 run, natively.

use std::cell::RefCell;

use ai_budget::sql::memory::{exec_remembered, ReadMemory};
use ai_budget::sql::{Fact, Row, Sql, SqlError, Statement, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};

/// A fresh in-memory database.
pub struct Sqlite {
    conn: rusqlite::Connection,
    /// Reads remembered as a port's object remembers them (a gate's
    /// storage: one writer), or none (the ledger's: D1 has many).
    memory: Option<RefCell<ReadMemory>>,
    /// The statements that reached the database (a remembered read does
    /// not), in order: what the object's storage would run.
    ran: RefCell<Vec<String>>,
}

fn to_sql(v: &Value) -> ToSqlOutput<'_> {
    match v {
        Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
        Value::Integer(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
        Value::Real(f) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*f)),
        Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
    }
}

impl Sqlite {
    /// An empty in-memory database.
    pub fn new() -> Sqlite {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory SQLite");
        conn.set_prepared_statement_cache_capacity(256);
        Sqlite {
            conn,
            memory: None,
            ran: RefCell::default(),
        }
    }

    /// An empty in-memory database that remembers its reads as a port's
    /// object does ([`ReadMemory`]): a gate's storage.
    pub fn remembering() -> Sqlite {
        Sqlite {
            memory: Some(RefCell::default()),
            ..Sqlite::new()
        }
    }

    /// The statements that reached the database since the last call (a
    /// read answered from memory is not one), and forgets them.
    pub fn statements_run(&self) -> Vec<String> {
        self.ran.take()
    }

    /// Forgets the remembered reads (a new instance of the object).
    pub fn forget_reads(&self) {
        if let Some(memory) = &self.memory {
            memory.borrow_mut().forget_all();
        }
    }

    /// Runs `f` as one transaction: everything it wrote is kept only if it
    /// returns `Ok`, as the Durable Object runs each gate operation.
    pub fn transaction<T, E>(&self, f: impl FnOnce(&Sqlite) -> Result<T, E>) -> Result<T, E> {
        self.conn.execute_batch("BEGIN").expect("BEGIN");
        let out = f(self);
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        self.conn.execute_batch(end).expect(end);
        if let (Err(_), Some(memory)) = (&out, &self.memory) {
            // Rolled back: what its reads saw of its own writes is gone.
            memory.borrow_mut().forget_all();
        }
        out
    }

    /// Runs `statements` as one transaction, as D1 runs a batch; every
    /// statement's rows, or the first error (and nothing kept).
    pub fn batch(&self, statements: &[Statement]) -> Result<Vec<Vec<Row>>, SqlError> {
        self.transaction(|db| {
            statements
                .iter()
                .map(|s| db.exec(&s.sql, &s.params))
                .collect()
        })
    }

    /// Applies every migration in `migrations/`, in order (the D1 schema).
    pub fn with_d1_schema() -> Sqlite {
        let db = Sqlite::new();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("migrations/")
            .map(|e| e.expect("a migration").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a migration's text");
            db.conn
                .execute_batch(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        db
    }
}

/// An error as D1 words it: SQLite's message, then its class
/// (`...: SQLITE_CONSTRAINT`), so the rules that read D1's messages are
/// tested on the same words.
fn d1_message(e: rusqlite::Error) -> SqlError {
    use rusqlite::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let class = match failure.code {
                C::ConstraintViolation => "SQLITE_CONSTRAINT",
                C::TooBig => "SQLITE_TOOBIG",
                C::TypeMismatch => "SQLITE_MISMATCH",
                C::DatabaseBusy => "SQLITE_BUSY",
                _ => "SQLITE_ERROR",
            };
            let text = message.clone().unwrap_or_else(|| e.to_string());
            SqlError(format!("D1_ERROR: {text}: {class}"))
        }
        _ => SqlError(e.to_string()),
    }
}

impl Sql for Sqlite {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        match &self.memory {
            Some(memory) => {
                exec_remembered(memory, sql, params, |sql, params| self.run(sql, params))
            }
            None => self.run(sql, params),
        }
    }

    fn fact(&self, fact: Fact) -> Option<i64> {
        self.memory.as_ref()?.borrow().fact(fact)
    }

    fn keep_fact(&self, fact: Fact, value: i64) {
        if let Some(memory) = &self.memory {
            memory.borrow_mut().keep_fact(fact, value);
        }
    }
}

impl Sqlite {
    /// Runs one statement on the database itself.
    fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        self.ran.borrow_mut().push(sql.to_owned());
        let err = d1_message;
        // Cached: the gate runs the same few statements over and over.
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let names: std::sync::Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
        let params: Vec<ToSqlOutput<'_>> = params.iter().map(to_sql).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                let value = match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Integer(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => Value::Null,
                };
                values.push(value);
            }
            out.push(Row::of_result(&names, values));
        }
        Ok(out)
    }
}
