//! SQL databases for handlers: SQLite (embedded) and PostgreSQL, behind one
//! small interface. Everything here blocks, so it only ever runs on the
//! blocking pool's threads (see `lua/db.rs`), never on a worker thread.
//!
//! A [`Database`] is a pool of connections to one URL, shared by every worker
//! of the process. A job takes a connection ([`Database::acquire`]), uses it
//! and gives it back. A connection found broken is dropped (on the pool
//! thread), and so are the idle ones opened before it: a server restart or a
//! terminated backend usually takes them all.

pub mod orm;
mod pg;
mod sqlite;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Connections one database keeps at most (an in-memory SQLite database: one).
const MAX_CONNECTIONS: usize = 10;
/// How long a job waits for a connection when all are in use.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A value on its way into or out of the database.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text that is valid UTF-8.
    Text(String),
    /// Bytes (a BLOB or bytea, or a Lua string that is not UTF-8).
    Blob(Vec<u8>),
    /// JSON text (a Lua table going in; a JSON column coming out).
    Json(String),
    /// A PostgreSQL array coming out.
    Array(Vec<Value>),
}

/// The result of a query: column names and rows of values in that order.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A failed database operation.
#[derive(Debug)]
pub struct Error {
    pub message: String,
    /// The connection is gone and must not be used again.
    pub broken: bool,
    /// The statement named a table or column that does not exist.
    pub missing: bool,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            broken: false,
            missing: false,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// How placeholders and types are spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Where a database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    SqliteFile(String),
    SqliteMemory,
    Postgres(String),
}

impl Target {
    /// `sqlite:path`, `sqlite::memory:`, `postgres://...` or `postgresql://...`.
    pub fn parse(url: &str) -> std::result::Result<Target, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            if rest == ":memory:" {
                return Ok(Target::SqliteMemory);
            }
            // sqlite:///abs/path and sqlite://rel/path as well as sqlite:path.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err("a sqlite: URL needs a file path (or :memory:)".into());
            }
            return Ok(Target::SqliteFile(path.to_string()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.parse::<postgres::Config>()
                .map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
            return Ok(Target::Postgres(url.to_string()));
        }
        Err("expected sqlite:PATH, sqlite::memory: or postgres://user@host:port/db".into())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Target::Postgres(_) => Dialect::Postgres,
            _ => Dialect::Sqlite,
        }
    }
}

/// One open connection.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(Box<postgres::Client>),
}

impl Conn {
    fn open(target: &Target) -> Result<Conn> {
        match target {
            Target::Postgres(url) => pg::connect(url).map(|c| Conn::Pg(Box::new(c))),
            Target::SqliteFile(path) => sqlite::open(Some(path)).map(Conn::Sqlite),
            Target::SqliteMemory => sqlite::open(None).map(Conn::Sqlite),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement with bound parameters; its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows> {
        match self {
            Conn::Sqlite(c) => sqlite::query(c, sql, params),
            Conn::Pg(c) => pg::query(c, sql, params),
        }
    }

    /// Runs a statement with bound parameters; the number of rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => sqlite::exec(c, sql, params),
            Conn::Pg(c) => pg::exec(c, sql, params),
        }
    }

    /// Runs statements without parameters (transaction control, DDL).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(sqlite::error),
            Conn::Pg(c) => c.batch_execute(sql).map_err(|e| pg::error(c, e)),
        }
    }

    /// Whether a transaction is open (one left behind by a request that went away).
    fn in_transaction(&self) -> bool {
        match self {
            Conn::Sqlite(c) => !c.is_autocommit(),
            // Cheap to end one that is not there: PostgreSQL only warns.
            Conn::Pg(_) => true,
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Pg(c) => c.is_closed(),
        }
    }
}

struct Idle {
    conn: Conn,
    /// The epoch it was put back in.
    epoch: u64,
    /// It may still be inside a transaction.
    dirty: bool,
}

struct State {
    idle: Vec<Idle>,
    /// Connections open, idle or in use.
    open: usize,
    /// Bumped when a connection is found broken: older idle ones are dropped.
    epoch: u64,
}

/// A pool of connections to one database, shared by the whole process.
pub struct Database {
    pub target: Target,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
    /// Known columns of the tables the ORM has seen (see orm.rs).
    pub(crate) schema: Mutex<HashMap<String, Vec<String>>>,
    /// Counts session saves, to clean out expired sessions now and then.
    pub(crate) saves: std::sync::atomic::AtomicU64,
}

/// The databases of this process, by URL.
fn registry() -> &'static Mutex<HashMap<String, Arc<Database>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<Database>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl Database {
    /// The pool for `url`, created on first use. Opens no connection.
    pub fn open(url: &str) -> std::result::Result<Arc<Database>, String> {
        let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = all.get(url) {
            return Ok(db.clone());
        }
        let target = Target::parse(url)?;
        let max = if target == Target::SqliteMemory {
            1
        } else {
            MAX_CONNECTIONS
        };
        let db = Arc::new(Database {
            target,
            max,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                epoch: 0,
            }),
            freed: Condvar::new(),
            schema: Mutex::new(HashMap::new()),
            saves: Default::default(),
        });
        all.insert(url.to_string(), db.clone());
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        self.target.dialect()
    }

    /// A connection: an idle one, a new one, or (all in use) the next one
    /// given back within ACQUIRE_TIMEOUT. Blocks: pool threads only.
    pub fn acquire(self: &Arc<Self>) -> Result<Lease> {
        let deadline = Instant::now() + ACQUIRE_TIMEOUT;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(idle) = st.idle.pop() {
                if idle.epoch < st.epoch || idle.conn.is_closed() {
                    st.open -= 1;
                    drop(st);
                    drop(idle); // may talk to the server: not under the lock
                    st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    continue;
                }
                drop(st);
                let mut lease = Lease {
                    conn: Some(idle.conn),
                    db: self.clone(),
                    in_transaction: false,
                };
                if idle.dirty && lease.conn().in_transaction() {
                    // A request went away inside a transaction.
                    if let Err(e) = lease.conn().batch("ROLLBACK") {
                        lease.discard(e.broken);
                        st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                }
                return Ok(lease);
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match Conn::open(&self.target) {
                    Ok(conn) => Ok(Lease {
                        conn: Some(conn),
                        db: self.clone(),
                        in_transaction: false,
                    }),
                    Err(e) => {
                        self.forget_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(format!(
                    "no database connection became free within {}s ({} in use)",
                    ACQUIRE_TIMEOUT.as_secs(),
                    self.max
                )));
            }
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn forget_one(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.open -= 1;
        drop(st);
        self.freed.notify_one();
    }

    fn give_back(&self, conn: Conn, dirty: bool) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = st.epoch;
        st.idle.push(Idle { conn, epoch, dirty });
        drop(st);
        self.freed.notify_one();
    }
}

/// A connection taken from a [`Database`]; dropping it gives it back (marked
/// for a rollback when it is inside a transaction). Dropping never closes a
/// connection, so a lease may be dropped on a worker thread.
pub struct Lease {
    conn: Option<Conn>,
    db: Arc<Database>,
    /// Inside a transaction begun on it.
    pub in_transaction: bool,
}

impl Lease {
    pub fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Whether the connection is gone (found broken earlier).
    pub fn is_lost(&self) -> bool {
        self.conn.is_none()
    }

    /// Closes the connection (pool threads only); with `broken`, the idle
    /// ones opened before are dropped too.
    pub fn discard(&mut self, broken: bool) {
        if let Some(conn) = self.conn.take() {
            if broken {
                let mut st = self.db.state.lock().unwrap_or_else(|e| e.into_inner());
                st.epoch += 1;
            }
            drop(conn);
            self.db.forget_one();
        }
    }

    /// Runs `op` on the connection; a broken connection is closed after it.
    pub fn with<T>(&mut self, op: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::new("the database connection was lost"));
        };
        let r = op(conn);
        if let Err(e) = &r {
            if e.broken || conn.is_closed() {
                self.discard(true);
            }
        }
        r
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.give_back(conn, self.in_transaction);
        }
    }
}

/// Runs `op` on a connection of `db`.
pub fn with_connection<T>(
    db: &Arc<Database>,
    op: impl FnOnce(&mut Conn) -> Result<T>,
) -> Result<T> {
    let mut lease = db.acquire()?;
    lease.with(op)
}

/// The placeholder for parameter `n` (from 1).
pub fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

pub(crate) use crate::http::date::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Target::parse("sqlite::memory:"), Ok(Target::SqliteMemory));
        assert_eq!(
            Target::parse("sqlite:a/b.db"),
            Ok(Target::SqliteFile("a/b.db".into()))
        );
        assert_eq!(
            Target::parse("sqlite:///tmp/x.db"),
            Ok(Target::SqliteFile("/tmp/x.db".into()))
        );
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("mysql://x").is_err());
        assert!(matches!(
            Target::parse("postgres://u@127.0.0.1:5432/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(Target::parse("postgres://u@h:notaport/db").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(10957), (2000, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19782), (2024, 2, 29));
    }

    #[test]
    fn sqlite_memory_round_trip() {
        let db = Database::open("sqlite::memory:").unwrap();
        let rows = with_connection(&db, |c| {
            c.batch("CREATE TABLE t (a INTEGER, b TEXT, c BOOLEAN, d JSON, e REAL, f BLOB)")?;
            let n = c.exec(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    Value::Int(7),
                    Value::Text("x'); DROP TABLE t; --".into()),
                    Value::Bool(true),
                    Value::Json("{\"k\":[1,2]}".into()),
                    Value::Float(1.5),
                    Value::Blob(vec![0, 255]),
                ],
            )?;
            assert_eq!(n, 1);
            c.query("SELECT * FROM t", &[])
        })
        .unwrap();
        assert_eq!(rows.columns, ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(
            rows.rows[0],
            [
                Value::Int(7),
                Value::Text("x'); DROP TABLE t; --".into()),
                Value::Bool(true),
                Value::Json("{\"k\":[1,2]}".into()),
                Value::Float(1.5),
                Value::Blob(vec![0, 255]),
            ]
        );
    }
}
