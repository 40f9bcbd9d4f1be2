//! SQLite through rusqlite (compiled into flutter: no server, no library to
//! install). A column declared BOOLEAN gives booleans, one declared JSON gives
//! tables; everything else comes back by its storage class.

use super::{Error, Result, Rows, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use std::time::Duration;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn open(path: Option<&str>) -> Result<Connection> {
    let conn = match path {
        Some(p) => Connection::open(p),
        None => Connection::open_in_memory(),
    }
    .map_err(error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(error)?;
    if path.is_some() {
        // Readers do not wait for writers; commits need fewer fsyncs.
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(error)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(error)?;
    }
    conn.execute_batch("PRAGMA foreign_keys=ON")
        .map_err(error)?;
    Ok(conn)
}

pub fn error(e: rusqlite::Error) -> Error {
    let message = e.to_string();
    let missing = message.starts_with("no such table") || message.starts_with("no such column");
    Error {
        message,
        broken: false,
        missing,
    }
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Float(f) => ValueRef::Real(*f),
            Value::Text(s) | Value::Json(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
            Value::Array(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "arrays are bound as JSON text".into(),
                ))
            }
        }))
    }
}

fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    params: &[Value],
) -> Result<rusqlite::CachedStatement<'c>> {
    let stmt = conn.prepare_cached(sql).map_err(error)?;
    let want = stmt.parameter_count();
    if want != params.len() {
        return Err(Error::new(format!(
            "the statement has {want} parameter(s), {} given",
            params.len()
        )));
    }
    Ok(stmt)
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: &[Value]) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(p)).map_err(error)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Declared {
    Bool,
    Json,
    Other,
}

fn declared(t: Option<&str>) -> Declared {
    match t.map(str::to_ascii_uppercase).as_deref() {
        Some("BOOLEAN" | "BOOL") => Declared::Bool,
        Some("JSON" | "JSONB") => Declared::Json,
        _ => Declared::Other,
    }
}

fn value(v: ValueRef<'_>, decl: Declared) -> Value {
    match (v, decl) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), Declared::Bool) => Value::Bool(i != 0),
        (ValueRef::Integer(i), _) => Value::Int(i),
        (ValueRef::Real(f), _) => Value::Float(f),
        (ValueRef::Text(t), d) => match String::from_utf8(t.to_vec()) {
            Ok(s) if matches!(d, Declared::Json) => Value::Json(s),
            Ok(s) => Value::Text(s),
            Err(e) => Value::Blob(e.into_bytes()),
        },
        (ValueRef::Blob(b), _) => Value::Blob(b.to_vec()),
    }
}

pub fn query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Rows> {
    let mut stmt = prepare(conn, sql, params)?;
    bind(&mut stmt, params)?;
    let mut out = Rows::default();
    let mut decls: Vec<Declared> = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(error)? {
        if out.rows.is_empty() {
            // Read after the first step: a statement from the cache is compiled
            // anew then if the schema changed (a column added since).
            let cols = row.as_ref().columns();
            out.columns = cols.iter().map(|c| c.name().to_string()).collect();
            decls = cols.iter().map(|c| declared(c.decl_type())).collect();
        }
        let mut values = Vec::with_capacity(decls.len());
        for (i, d) in decls.iter().enumerate() {
            values.push(value(row.get_ref(i).map_err(error)?, *d));
        }
        out.rows.push(values);
    }
    Ok(out)
}

pub fn exec(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    let before = conn.total_changes();
    let mut stmt = prepare(conn, sql, params)?;
    bind(&mut stmt, params)?;
    // Stepped to the end, so statements that return rows (PRAGMA, RETURNING) work too.
    let mut rows = stmt.raw_query();
    while rows.next().map_err(error)?.is_some() {}
    drop(rows);
    Ok(conn.total_changes().saturating_sub(before))
}
