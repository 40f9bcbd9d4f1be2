//! The freeform ORM: Lua tables stored as rows of a table named after their
//! collection. A table and its columns are created when first needed; a
//! field never seen before adds a column. Names are checked against
//! [`valid_name`] and always quoted; values are always bound parameters.
//!
//! Column types by the first value seen: booleans BOOLEAN, numbers NUMERIC,
//! strings TEXT, strings that are not UTF-8 BLOB/bytea, tables JSON/jsonb.
//! Every table has `id`, an integer primary key the database assigns.

use super::{placeholder, Conn, Database, Dialect, Error, Result, Rows, Value};

/// Longest collection or field name (PostgreSQL's identifier limit).
pub const MAX_NAME: usize = 63;

/// Whether `s` may name a collection or a field: a letter or `_`, then
/// letters, digits and `_`, at most 63 in all.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn quote(name: &str) -> String {
    debug_assert!(valid_name(name));
    format!("\"{name}\"")
}

/// A condition on one field of a `find`, `count` or `delete`.
#[derive(Debug, Clone)]
pub enum Filter {
    Eq(Value),
    IsNull,
    /// One of these values.
    In(Vec<Value>),
}

#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Fields and whether descending.
    pub order: Vec<(String, bool)>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// SQL text with its parameters, numbered as they are added.
struct Sql {
    text: String,
    params: Vec<Value>,
    dialect: Dialect,
}

impl Sql {
    fn new(dialect: Dialect, text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            params: Vec::new(),
            dialect,
        }
    }

    fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    fn param(&mut self, v: Value) -> &mut Sql {
        self.params.push(v);
        let p = placeholder(self.dialect, self.params.len());
        self.text.push_str(&p);
        self
    }
}

fn column_type(dialect: Dialect, v: &Value) -> Option<&'static str> {
    Some(match (v, dialect) {
        (Value::Null, _) => return None,
        (Value::Bool(_), _) => "BOOLEAN",
        (Value::Int(_) | Value::Float(_), _) => "NUMERIC",
        (Value::Text(_), _) => "TEXT",
        (Value::Blob(_), Dialect::Sqlite) => "BLOB",
        (Value::Blob(_), Dialect::Postgres) => "BYTEA",
        (Value::Json(_) | Value::Array(_), Dialect::Sqlite) => "JSON",
        (Value::Json(_) | Value::Array(_), Dialect::Postgres) => "JSONB",
    })
}

/// The columns of `table`, None when it does not exist. From the cache
/// unless `refresh`.
fn columns(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    refresh: bool,
) -> Result<Option<Vec<String>>> {
    if !refresh {
        if let Some(c) = db
            .schema
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(table)
        {
            return Ok(Some(c.clone()));
        }
    }
    let rows = match conn.dialect() {
        Dialect::Sqlite => conn.query(
            "SELECT name FROM pragma_table_info(?1)",
            &[Value::Text(table.into())],
        )?,
        Dialect::Postgres => conn.query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[Value::Text(table.into())],
        )?,
    };
    let mut schema = db.schema.lock().unwrap_or_else(|e| e.into_inner());
    if rows.rows.is_empty() {
        schema.remove(table);
        return Ok(None);
    }
    let cols: Vec<String> = rows
        .rows
        .into_iter()
        .filter_map(|r| match r.into_iter().next() {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        })
        .collect();
    schema.insert(table.to_string(), cols.clone());
    Ok(Some(cols))
}

fn forget(db: &Database, table: &str) {
    db.schema
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(table);
}

/// Runs `op`; when it names a table or column that is not there (the cache
/// was stale), once more after forgetting what was cached.
fn retrying<T>(db: &Database, table: &str, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    match op() {
        Err(e) if e.missing => {
            forget(db, table);
            op()
        }
        r => r,
    }
}

/// Creates `table` or adds the columns `fields` need; the columns after.
fn ensure(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    fields: &[(String, Value)],
) -> Result<Vec<String>> {
    let dialect = conn.dialect();
    let mut cols = match columns(db, conn, table, false)? {
        Some(c) => c,
        None => {
            let mut sql = format!(
                "CREATE TABLE IF NOT EXISTS {} ({} ",
                quote(table),
                quote("id")
            );
            sql.push_str(match dialect {
                Dialect::Sqlite => "INTEGER PRIMARY KEY",
                Dialect::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            });
            for (name, v) in fields {
                if let Some(t) = column_type(dialect, v) {
                    sql.push_str(&format!(", {} {t}", quote(name)));
                }
            }
            sql.push(')');
            conn.batch(&sql)?;
            // Another worker may have created it first, with other columns.
            columns(db, conn, table, true)?
                .ok_or_else(|| Error::new(format!("table {table} was not created")))?
        }
    };
    let mut added = false;
    for (name, v) in fields {
        let Some(t) = column_type(dialect, v) else {
            continue;
        };
        if cols.iter().any(|c| c == name) {
            continue;
        }
        let r = match dialect {
            Dialect::Postgres => conn.batch(&format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {t}",
                quote(table),
                quote(name)
            )),
            Dialect::Sqlite => match conn.batch(&format!(
                "ALTER TABLE {} ADD COLUMN {} {t}",
                quote(table),
                quote(name)
            )) {
                // Added meanwhile by another connection.
                Err(e) if e.message.starts_with("duplicate column name") => Ok(()),
                r => r,
            },
        };
        r?;
        cols.push(name.clone());
        added = true;
    }
    if added {
        db.schema
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.to_string(), cols.clone());
    }
    Ok(cols)
}

/// Stores a record: updates row `id` (every column the record lacks becomes
/// NULL), or inserts it (with `id` when given, else a new one). Its id.
pub fn save(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    id: Option<i64>,
    fields: &[(String, Value)],
) -> Result<i64> {
    retrying(db, table, || save_once(db, conn, table, id, fields))
}

fn save_once(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    id: Option<i64>,
    fields: &[(String, Value)],
) -> Result<i64> {
    let dialect = conn.dialect();
    let cols = ensure(db, conn, table, fields)?;
    // Null fields without a column yet have nothing to store.
    let stored: Vec<&(String, Value)> = fields
        .iter()
        .filter(|(n, v)| !matches!(v, Value::Null) || cols.contains(n))
        .collect();
    if let Some(id) = id {
        let mut sql = Sql::new(dialect, &format!("UPDATE {} SET ", quote(table)));
        let mut first = true;
        for (name, v) in &stored {
            if !first {
                sql.push(", ");
            }
            first = false;
            sql.push(&quote(name)).push(" = ").param(v.clone());
        }
        for c in cols.iter().filter(|c| *c != "id") {
            if stored.iter().any(|(n, _)| n == c) || !valid_name(c) {
                continue;
            }
            if !first {
                sql.push(", ");
            }
            first = false;
            sql.push(&quote(c)).push(" = NULL");
        }
        if first {
            sql.push("\"id\" = \"id\"");
        }
        sql.push(" WHERE \"id\" = ").param(Value::Int(id));
        if conn.exec(&sql.text, &sql.params)? > 0 {
            return Ok(id);
        }
    }
    let mut sql = Sql::new(dialect, &format!("INSERT INTO {}", quote(table)));
    let mut names: Vec<String> = stored.iter().map(|(n, _)| quote(n)).collect();
    let mut values: Vec<Value> = stored.iter().map(|(_, v)| v.clone()).collect();
    if let Some(id) = id {
        names.insert(0, quote("id"));
        values.insert(0, Value::Int(id));
    }
    if names.is_empty() {
        sql.push(" DEFAULT VALUES");
    } else {
        sql.push(" (").push(&names.join(", ")).push(") VALUES (");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.param(v);
        }
        sql.push(")");
    }
    sql.push(" RETURNING \"id\"");
    let rows = conn.query(&sql.text, &sql.params)?;
    let new_id = match rows.rows.first().and_then(|r| r.first()) {
        Some(Value::Int(i)) => *i,
        _ => return Err(Error::new("the database returned no id")),
    };
    if id.is_some() && dialect == Dialect::Postgres {
        // Keep the identity sequence ahead of an id chosen by the caller.
        conn.query(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), \
                 GREATEST((SELECT max(\"id\") FROM {}), 1))",
                quote(table)
            ),
            &[Value::Text(quote(table))],
        )?;
    }
    Ok(new_id)
}

/// The WHERE clause of `filter`; None when no row can match.
fn conditions(sql: &mut Sql, cols: &[String], filter: &[(String, Filter)]) -> Option<()> {
    let mut first = true;
    for (name, f) in filter {
        let known = cols.iter().any(|c| c == name);
        if !known {
            match f {
                // A field no record has is NULL everywhere.
                Filter::IsNull => continue,
                _ => return None,
            }
        }
        sql.push(if first { " WHERE " } else { " AND " });
        first = false;
        sql.push(&quote(name));
        match f {
            Filter::IsNull => {
                sql.push(" IS NULL");
            }
            Filter::Eq(v) => {
                sql.push(" = ").param(v.clone());
            }
            Filter::In(vs) if vs.is_empty() => return None,
            Filter::In(vs) => {
                sql.push(" IN (");
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.param(v.clone());
                }
                sql.push(")");
            }
        }
    }
    Some(())
}

/// The columns to filter against: refreshed once when the filter names one
/// the cache does not know (another process may have added it).
fn filter_columns(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    filter: &[(String, Filter)],
) -> Result<Option<Vec<String>>> {
    let Some(cols) = columns(db, conn, table, false)? else {
        return columns(db, conn, table, true);
    };
    if filter.iter().all(|(n, _)| cols.contains(n)) {
        return Ok(Some(cols));
    }
    columns(db, conn, table, true)
}

/// Record `id`, as a result of zero or one rows.
pub fn get(db: &Database, conn: &mut Conn, table: &str, id: i64) -> Result<Rows> {
    find(
        db,
        conn,
        table,
        &[("id".into(), Filter::Eq(Value::Int(id)))],
        &Options::default(),
    )
}

pub fn find(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    filter: &[(String, Filter)],
    opts: &Options,
) -> Result<Rows> {
    retrying(db, table, || {
        let Some(cols) = filter_columns(db, conn, table, filter)? else {
            return Ok(Rows::default());
        };
        let dialect = conn.dialect();
        let mut sql = Sql::new(dialect, &format!("SELECT * FROM {}", quote(table)));
        if conditions(&mut sql, &cols, filter).is_none() {
            return Ok(Rows::default());
        }
        sql.push(" ORDER BY ");
        for (name, desc) in &opts.order {
            if name != "id" && cols.contains(name) {
                sql.push(&quote(name)).push(if *desc {
                    " DESC NULLS FIRST, "
                } else {
                    " ASC NULLS LAST, "
                });
            }
        }
        let id_desc = opts
            .order
            .iter()
            .find(|(n, _)| n == "id")
            .is_some_and(|(_, d)| *d);
        sql.push(if id_desc { "\"id\" DESC" } else { "\"id\" ASC" });
        if opts.limit.is_some() || opts.offset.is_some() {
            let limit = match (opts.limit, dialect) {
                (Some(n), _) => Value::Int(n),
                (None, Dialect::Sqlite) => Value::Int(-1),
                (None, Dialect::Postgres) => Value::Null,
            };
            sql.push(" LIMIT ").param(limit);
            sql.push(" OFFSET ")
                .param(Value::Int(opts.offset.unwrap_or(0)));
        }
        conn.query(&sql.text, &sql.params)
    })
}

pub fn count(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    filter: &[(String, Filter)],
) -> Result<i64> {
    retrying(db, table, || {
        let Some(cols) = filter_columns(db, conn, table, filter)? else {
            return Ok(0);
        };
        let mut sql = Sql::new(
            conn.dialect(),
            &format!("SELECT COUNT(*) FROM {}", quote(table)),
        );
        if conditions(&mut sql, &cols, filter).is_none() {
            return Ok(0);
        }
        let rows = conn.query(&sql.text, &sql.params)?;
        match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(Error::new("the database returned no count")),
        }
    })
}

pub fn delete(
    db: &Database,
    conn: &mut Conn,
    table: &str,
    filter: &[(String, Filter)],
) -> Result<u64> {
    retrying(db, table, || {
        let Some(cols) = filter_columns(db, conn, table, filter)? else {
            return Ok(0);
        };
        let mut sql = Sql::new(conn.dialect(), &format!("DELETE FROM {}", quote(table)));
        if conditions(&mut sql, &cols, filter).is_none() {
            return Ok(0);
        }
        conn.exec(&sql.text, &sql.params)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::with_connection;

    #[test]
    fn names() {
        assert!(valid_name("todos"));
        assert!(valid_name("_x9"));
        assert!(!valid_name(""));
        assert!(!valid_name("9a"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a\"; DROP TABLE x; --"));
        assert!(!valid_name("é"));
        assert!(!valid_name(&"a".repeat(64)));
    }

    #[test]
    fn save_find_widen() {
        let db = Database::open("sqlite::memory:").unwrap();
        with_connection(&db, |c| {
            let id = save(&db, c, "orm_t", None, &[("a".into(), Value::Int(1))])?;
            let id2 = save(
                &db,
                c,
                "orm_t",
                None,
                &[
                    ("a".into(), Value::Int(2)),
                    ("b".into(), Value::Text("x".into())),
                ],
            )?;
            assert_eq!((id, id2), (1, 2));
            assert_eq!(count(&db, c, "orm_t", &[])?, 2);
            let rows = find(
                &db,
                c,
                "orm_t",
                &[("b".into(), Filter::IsNull)],
                &Options::default(),
            )?;
            assert_eq!(rows.rows.len(), 1);
            assert_eq!(
                count(&db, c, "orm_t", &[("zz".into(), Filter::Eq(Value::Int(1)))])?,
                0
            );
            save(
                &db,
                c,
                "orm_t",
                Some(1),
                &[("b".into(), Value::Text("y".into()))],
            )?;
            let r = get(&db, c, "orm_t", 1)?;
            assert_eq!(
                r.rows[0],
                [Value::Int(1), Value::Null, Value::Text("y".into())]
            );
            assert_eq!(delete(&db, c, "orm_t", &[])?, 2);
            assert_eq!(count(&db, c, "nothing_here", &[])?, 0);
            Ok(())
        })
        .unwrap();
    }
}
