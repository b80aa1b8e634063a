//! The narrow storage interface the port gate is written against: run one
//! SQL statement with positional parameters, get its rows back.
//!
//! The same gate code runs over a Durable Object's SQLite storage in the
//! Worker and over an in-process SQLite in native tests; the ledger's D1
//! statements are plain [`Statement`]s that either can run. Atomicity is the
//! caller's: the object runs each gate operation in one synchronous storage
//! transaction, the tests in a SQLite transaction.

use std::fmt;
use std::sync::Arc;

pub mod memory;

pub use memory::Fact;

/// One SQL value, as SQLite, D1 and a Durable Object's storage carry them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// A whole number (JavaScript hands them over exactly up to 2^53).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}

impl From<u64> for Value {
    /// Counts stay below 2^53, far inside `i64`; anything above is clamped.
    fn from(v: u64) -> Value {
        Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Integer(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One row of a result, its columns by name. The rows of one result share
/// its column names: a row (or a remembered result) is copied without
/// copying them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `(column, value)` pairs.
    pub fn new(columns: Vec<(String, Value)>) -> Row {
        let (names, values): (Vec<String>, Vec<Value>) = columns.into_iter().unzip();
        Row {
            names: names.into(),
            values,
        }
    }

    /// A row of `values`, in the order of the result's column `names`.
    ///
    /// # Panics
    /// When there are not as many values as names.
    pub fn of_result(names: &Arc<[String]>, values: Vec<Value>) -> Row {
        assert_eq!(names.len(), values.len(), "a value for each column");
        Row {
            names: names.clone(),
            values,
        }
    }

    /// The value of `column` (`Null` when there is no such column).
    pub fn get(&self, column: &str) -> &Value {
        self.names
            .iter()
            .position(|name| name == column)
            .map_or(&Value::Null, |i| &self.values[i])
    }

    /// A whole-number column (a real with no fraction counts; else `None`).
    pub fn int(&self, column: &str) -> Option<i64> {
        match self.get(column) {
            Value::Integer(v) => Some(*v),
            Value::Real(v) if v.fract() == 0.0 && v.is_finite() => Some(*v as i64),
            _ => None,
        }
    }

    /// A non-negative count column (0 when missing, null or negative).
    pub fn count(&self, column: &str) -> u64 {
        self.int(column)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    }

    /// A text column.
    pub fn text(&self, column: &str) -> Option<String> {
        match self.get(column) {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

/// A storage failure: the statement did not run (or its result is lost).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError(pub String);

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

/// Storage that runs SQL statements one at a time, synchronously.
pub trait Sql {
    /// Runs `sql` with positional parameters (`?1`, `?2`, ... or `?`).
    ///
    /// # Errors
    /// The storage's error, as text.
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;

    /// The value of `fact`, when this storage keeps it ([`memory`]): only
    /// storage with one writer does; the default keeps nothing.
    fn fact(&self, fact: Fact) -> Option<i64> {
        let _ = fact;
        None
    }

    /// Keeps `fact` as `value` until a write to its table, a rollback or a
    /// new instance; the default keeps nothing. The writer keeps a fact
    /// again right after its own write to the table, knowing what the
    /// write changed.
    fn keep_fact(&self, fact: Fact, value: i64) {
        let _ = (fact, value);
    }
}

impl<T: Sql + ?Sized> Sql for &T {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        (**self).exec(sql, params)
    }

    fn fact(&self, fact: Fact) -> Option<i64> {
        (**self).fact(fact)
    }

    fn keep_fact(&self, fact: Fact, value: i64) {
        (**self).keep_fact(fact, value);
    }
}

/// One statement with its parameters, for storage that runs a batch of
/// them as one transaction (D1).
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The SQL text.
    pub sql: String,
    /// Its positional parameters.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// `?from, ?from+1, ...`: `n` numbered parameters.
pub fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a = ?from, b = ?from+1, ...` for `columns` numbered from `from`, leaving
/// out those in `skip` (their numbers are kept).
pub fn assignments(columns: &[&str], from: usize, skip: &[&str]) -> String {
    columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !skip.contains(c))
        .map(|(i, c)| format!("{c} = ?{}", from + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table an `INSERT INTO`, `UPDATE` or `DELETE FROM` statement writes,
/// when its text says so plainly.
pub fn written_table(sql: &str) -> Option<&str> {
    let mut words = sql.split_whitespace();
    let first = words.next()?;
    let table = if first.eq_ignore_ascii_case("insert") || first.eq_ignore_ascii_case("delete") {
        let into = words.next()?;
        if !(into.eq_ignore_ascii_case("into") || into.eq_ignore_ascii_case("from")) {
            return None;
        }
        words.next()?
    } else if first.eq_ignore_ascii_case("update") {
        words.next()?
    } else {
        return None;
    };
    let table = table.split('(').next()?;
    (!table.is_empty() && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(table)
}

/// True for a statement that only reads.
pub fn reads_only(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("select"))
}

#[cfg(test)]
mod tests {
    use super::{reads_only, written_table};

    #[test]
    fn a_statement_reads_or_names_the_table_it_writes() {
        assert!(reads_only("  select value FROM meta WHERE key = ?1"));
        assert!(!reads_only(
            "WITH x AS (SELECT 1) INSERT INTO meta SELECT * FROM x"
        ));
        assert!(!reads_only("INSERT INTO meta (key) VALUES (?1)"));
        assert_eq!(
            written_table("INSERT INTO holds (id) VALUES (?1)"),
            Some("holds")
        );
        assert_eq!(
            written_table("insert into counters(period) VALUES (?1)"),
            Some("counters")
        );
        assert_eq!(written_table("UPDATE holds SET state = ?2"), Some("holds"));
        assert_eq!(
            written_table("DELETE FROM entries WHERE seq = ?1"),
            Some("entries")
        );
        // Not plain: every remembered read is forgotten.
        assert_eq!(
            written_table("INSERT OR REPLACE INTO meta VALUES (?1, ?2)"),
            None
        );
        assert_eq!(written_table("WITH x AS (SELECT 1) DELETE FROM meta"), None);
        assert_eq!(written_table("UPDATE \"holds\" SET state = ?2"), None);
        assert_eq!(written_table("CREATE TABLE t (a)"), None);
    }
}
