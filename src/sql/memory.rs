//! Reads remembered across statements: storage that only one writer ever
//! changes (a Durable Object's own SQLite) answers a read asked again with
//! the same parameters from memory, until a write that may change its
//! answer. A port's object reads its budget, credits, raises and alert
//! settings on every operation and writes them rarely; each read it skips
//! is a trip through the runtime's SQL API and a cursor.
//!
//! What a write forgets: every read whose text names the table it writes
//! (every read, when the statement does not name its table plainly). The
//! `meta` table is a key-value table written on every commit (the ledger's
//! next number): a write of one key there forgets only the reads of that
//! key, and the reads of `meta` that are not a plain read of one key.
//!
//! Beside the reads, the memory keeps [`Fact`]s: numbers the only writer
//! knows about a table between statements (no open hold expires before an
//! instant; how many ledger entries wait for delivery), each forgotten by
//! any write to its table unless the writer keeps it again, knowing what
//! its write changed ([`crate::sql::Sql::keep_fact`]).
//!
//! The memory is only as right as the rule that every write passes through
//! [`ReadMemory::written`], and that what a transaction wrote is forgotten
//! when it rolls back ([`ReadMemory::forget_all`]); the storage seam that
//! holds one keeps both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::{reads_only, written_table, Row, SqlError, Value};

/// How many reads one memory keeps (the oldest goes first).
pub const REMEMBERED_READS: usize = 64;

/// One read's statement, parameters and rows, and the words of its text
/// (lowercase identifiers: the tables it reads are among them).
#[derive(Clone, Debug)]
struct Read {
    sql: String,
    params: Vec<Value>,
    rows: Vec<Row>,
    words: Rc<[String]>,
}

/// A number about one table that its only writer keeps between
/// statements, so that a read it would otherwise ask on every operation
/// can be skipped: a bound or a count that the writer knows how each of
/// its own writes moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The table it is about: any write to it forgets the fact, unless the
    /// writer keeps it again after the write.
    pub table: &'static str,
    /// What it says (for debugging; facts are told apart by it).
    pub name: &'static str,
}

impl Fact {
    /// A fact about `table`, saying `name`.
    pub const fn on(table: &'static str, name: &'static str) -> Fact {
        Fact { table, name }
    }
}

/// The reads of one storage, remembered until a write may change them,
/// and the facts its writer keeps.
#[derive(Clone, Debug, Default)]
pub struct ReadMemory {
    reads: Vec<Read>,
    facts: Vec<(Fact, i64)>,
    /// The words of each statement text met (a text's words never change:
    /// kept across writes and rollbacks, up to [`STATEMENT_TEXTS`] texts).
    texts: HashMap<String, Rc<[String]>>,
}

/// How many statement texts' words one memory keeps (the gate runs a few
/// dozen distinct statements; past it, the words start again).
const STATEMENT_TEXTS: usize = 256;

/// The statement that reads one key of `meta`.
const META_READ: &str = "SELECT value FROM meta WHERE key = ?1";

impl ReadMemory {
    /// The rows `sql` gave with `params`, when they are remembered.
    pub fn recall(&self, sql: &str, params: &[Value]) -> Option<Vec<Row>> {
        self.reads
            .iter()
            .find(|r| r.sql == sql && r.params == params)
            .map(|r| r.rows.clone())
    }

    /// Remembers what a read gave (a statement that is not a plain read is
    /// never remembered).
    pub fn keep(&mut self, sql: &str, params: &[Value], rows: &[Row]) {
        if !reads_only(sql) {
            return;
        }
        if self.reads.len() >= REMEMBERED_READS {
            self.reads.remove(0);
        }
        let words = self.words_of(sql);
        self.reads.push(Read {
            sql: sql.to_owned(),
            params: params.to_vec(),
            rows: rows.to_vec(),
            words,
        });
    }

    /// The value of `fact`, when it is kept.
    pub fn fact(&self, fact: Fact) -> Option<i64> {
        self.facts
            .iter()
            .find(|(kept, _)| *kept == fact)
            .map(|(_, value)| *value)
    }

    /// Keeps `fact` as `value` until a write to its table.
    pub fn keep_fact(&mut self, fact: Fact, value: i64) {
        self.facts.retain(|(kept, _)| *kept != fact);
        self.facts.push((fact, value));
    }

    /// The words of `sql`, worked out once per text.
    fn words_of(&mut self, sql: &str) -> Rc<[String]> {
        if let Some(words) = self.texts.get(sql) {
            return words.clone();
        }
        if self.texts.len() >= STATEMENT_TEXTS {
            self.texts.clear();
        }
        let words: Rc<[String]> = words(sql).into();
        self.texts.insert(sql.to_owned(), words.clone());
        words
    }

    /// Forgets what the write `sql` with `params` may change; a read (a
    /// statement that starts with `SELECT`) forgets nothing.
    pub fn written(&mut self, sql: &str, params: &[Value]) {
        if reads_only(sql) {
            return;
        }
        let Some(table) = written_table(sql) else {
            self.forget_all();
            return;
        };
        let table = table.to_ascii_lowercase();
        self.facts
            .retain(|(fact, _)| !fact.table.eq_ignore_ascii_case(&table));
        if table == "meta" {
            let key = meta_key_written(sql, params);
            self.reads
                .retain(|r| match (&key, meta_key_read(&r.sql, &r.params)) {
                    (Some(written), Some(read)) => written != read,
                    _ => !r.names("meta"),
                });
            return;
        }
        self.reads.retain(|r| !r.names(&table));
    }

    /// Forgets every read (a transaction rolled back, or the storage
    /// changed in a way the memory cannot follow).
    pub fn forget_all(&mut self) {
        self.reads.clear();
        self.facts.clear();
    }

    /// How many reads are remembered.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }
}

/// Runs `sql` with `params` through `memory`: a remembered read is
/// answered from it, a write first forgets what it may change, and a read
/// that ran is remembered. `run` runs a statement on the storage.
///
/// # Errors
/// The storage's error; nothing is remembered from a failed read.
pub fn exec_remembered(
    memory: &RefCell<ReadMemory>,
    sql: &str,
    params: &[Value],
    run: impl FnOnce(&str, &[Value]) -> Result<Vec<Row>, SqlError>,
) -> Result<Vec<Row>, SqlError> {
    if !reads_only(sql) {
        // Forgotten before it runs: a write that fails half way is
        // forgotten too.
        memory.borrow_mut().written(sql, params);
        return run(sql, params);
    }
    if let Some(rows) = memory.borrow().recall(sql, params) {
        return Ok(rows);
    }
    let rows = run(sql, params)?;
    memory.borrow_mut().keep(sql, params, &rows);
    Ok(rows)
}

impl Read {
    /// True when the read's text names `table` (lowercase) as a word: a
    /// column of that name counts too.
    fn names(&self, table: &str) -> bool {
        self.words.iter().any(|w| w == table)
    }
}

/// The distinct words of `sql`, lowercase: runs of letters, digits and
/// underscores (a table is named by one, quoted or not).
fn words(sql: &str) -> Vec<String> {
    let mut words: Vec<String> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// The key a plain read of one `meta` key reads.
fn meta_key_read<'a>(sql: &str, params: &'a [Value]) -> Option<&'a str> {
    match (sql == META_READ, params) {
        (true, [Value::Text(key)]) => Some(key),
        _ => None,
    }
}

/// The key a write of one `meta` key writes: `INSERT INTO meta (key,
/// value) VALUES (?1 ...` or `('literal' ...`, or `DELETE FROM meta WHERE
/// key = ?1`; `None` for any other write of `meta`.
fn meta_key_written(sql: &str, params: &[Value]) -> Option<String> {
    let first_param = || match params.first() {
        Some(Value::Text(key)) => Some(key.clone()),
        _ => None,
    };
    if let Some(rest) = sql.strip_prefix("INSERT INTO meta (key, value) VALUES (") {
        if rest.starts_with("?1,") {
            return first_param();
        }
        let literal = rest.strip_prefix('\'')?;
        let end = literal.find('\'')?;
        return Some(literal[..end].to_owned());
    }
    if sql == "DELETE FROM meta WHERE key = ?1" {
        return first_param();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: i64) -> Vec<Row> {
        vec![Row::new(vec![("v".to_owned(), Value::Integer(v))])]
    }

    #[test]
    fn a_read_is_answered_until_a_write_names_its_table() {
        let mut m = ReadMemory::default();
        let read = "SELECT amount FROM credits ORDER BY id";
        m.keep(read, &[], &row(5));
        assert_eq!(m.recall(read, &[]), Some(row(5)));
        assert_eq!(
            m.recall(read, &[Value::Integer(1)]),
            None,
            "other parameters"
        );
        m.written("UPDATE holds SET state = ?2 WHERE id = ?1", &[]);
        assert_eq!(m.recall(read, &[]), Some(row(5)), "another table");
        m.written("INSERT INTO credits (id) VALUES (?1)", &[]);
        assert_eq!(m.recall(read, &[]), None);
    }

    #[test]
    fn a_table_is_named_by_a_whole_word_quoted_or_not() {
        let mut m = ReadMemory::default();
        m.keep("SELECT n FROM \"Holds\" WHERE state = 'held'", &[], &row(1));
        m.keep("SELECT n FROM holds_archive", &[], &row(2));
        m.written("UPDATE holds SET state = ?1", &[]);
        assert_eq!(m.recall("SELECT n FROM holds_archive", &[]), Some(row(2)));
        assert_eq!(
            m.recall("SELECT n FROM \"Holds\" WHERE state = 'held'", &[]),
            None
        );
    }

    #[test]
    fn a_write_that_does_not_name_its_table_forgets_everything() {
        let mut m = ReadMemory::default();
        m.keep("SELECT 1 FROM raises", &[], &row(1));
        m.written("WITH x AS (SELECT 1) DELETE FROM raises", &[]);
        assert!(m.is_empty());
        m.keep("SELECT 1 FROM raises", &[], &row(1));
        m.written("CREATE TABLE t (a)", &[]);
        assert!(m.is_empty());
    }

    #[test]
    fn a_meta_write_forgets_only_its_key() {
        let mut m = ReadMemory::default();
        let key = |k: &str| vec![Value::Text(k.to_owned())];
        m.keep(META_READ, &key("budget"), &row(1));
        m.keep(META_READ, &key("next_seq"), &row(2));
        m.keep("SELECT key, value FROM meta ORDER BY key", &[], &row(3));
        m.written(
            "INSERT INTO meta (key, value) VALUES ('next_seq', '2') ON CONFLICT (key) DO UPDATE SET value = '3'",
            &[],
        );
        assert_eq!(m.recall(META_READ, &key("budget")), Some(row(1)));
        assert_eq!(m.recall(META_READ, &key("next_seq")), None);
        assert_eq!(
            m.recall("SELECT key, value FROM meta ORDER BY key", &[]),
            None
        );
        m.written(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[Value::Text("budget".into()), Value::Text("{}".into())],
        );
        assert_eq!(m.recall(META_READ, &key("budget")), None);
        m.keep(META_READ, &key("port"), &row(4));
        m.written("DELETE FROM meta WHERE key = ?1", &key("port"));
        assert_eq!(m.recall(META_READ, &key("port")), None);
        m.keep(META_READ, &key("port"), &row(4));
        m.written("UPDATE meta SET value = ?1", &key("x"));
        assert_eq!(
            m.recall(META_READ, &key("port")),
            None,
            "any other meta write"
        );
    }

    #[test]
    fn a_fact_is_kept_until_a_write_to_its_table_a_rollback_or_a_write_naming_no_table() {
        const DUE: Fact = Fact::on("holds", "due from");
        const PENDING: Fact = Fact::on("entries", "pending");
        let mut m = ReadMemory::default();
        assert_eq!(m.fact(DUE), None);
        m.keep_fact(DUE, 10);
        m.keep_fact(PENDING, 3);
        m.keep_fact(DUE, 7);
        assert_eq!((m.fact(DUE), m.fact(PENDING)), (Some(7), Some(3)));
        m.written("UPDATE \"HOLDS\" SET x = 1", &[]);
        assert_eq!(
            m.fact(DUE),
            None,
            "a write naming no table plainly forgets all"
        );
        m.keep_fact(DUE, 7);
        m.keep_fact(PENDING, 3);
        m.written("INSERT INTO Holds (id) VALUES (?1)", &[]);
        assert_eq!((m.fact(DUE), m.fact(PENDING)), (None, Some(3)));
        m.written("INSERT INTO meta (key, value) VALUES (?1, ?2)", &[]);
        assert_eq!(m.fact(PENDING), Some(3), "another table");
        m.forget_all();
        assert_eq!(m.fact(PENDING), None);
    }

    #[test]
    fn the_memory_is_bounded_and_keeps_only_reads() {
        let mut m = ReadMemory::default();
        for i in 0..(REMEMBERED_READS as i64 + 10) {
            m.keep(
                "SELECT v FROM t WHERE id = ?1",
                &[Value::Integer(i)],
                &row(i),
            );
        }
        assert_eq!(m.len(), REMEMBERED_READS);
        assert_eq!(
            m.recall("SELECT v FROM t WHERE id = ?1", &[Value::Integer(0)]),
            None
        );
        let last = REMEMBERED_READS as i64 + 9;
        assert_eq!(
            m.recall("SELECT v FROM t WHERE id = ?1", &[Value::Integer(last)]),
            Some(row(last))
        );
        m.keep("INSERT INTO t VALUES (1) RETURNING v", &[], &row(1));
        assert_eq!(m.recall("INSERT INTO t VALUES (1) RETURNING v", &[]), None);
    }
}
