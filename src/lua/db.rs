//! `flutter.db`: the native half of db.lua. Lua values become [`Value`]s on
//! the worker thread, the database work runs on the blocking pool, and the
//! results become Lua values again on the worker thread.
//!
//! Every native takes `async` first: true in a request (queue the job, return
//! its ticket for `await`), false at a script's top level (run the job on a
//! thread of its own and return its results). A programmer's mistake is
//! answered with `false, message`, which db.lua raises at the caller's line.

use super::blocking;
use crate::db::orm::{self, Filter, Options};
use crate::db::{self, Conn, Database, Lease, Rows, Value};
use crate::pool::Output;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, Value as LuaValue};
use std::sync::{Arc, Mutex};

const SOURCE: &str = include_str!("db.lua");

/// A database as Lua holds it.
struct DbHandle(Arc<Database>);
impl UserData for DbHandle {}

/// An open transaction (or, at `depth` > 0, a savepoint inside one).
struct TxHandle {
    state: Arc<Mutex<TxState>>,
    depth: u32,
}
impl UserData for TxHandle {}

struct TxState {
    /// None once the transaction is over.
    lease: Option<Lease>,
    /// Savepoints open; 0 once the transaction is over.
    open: u32,
}

/// A mistake of the caller, answered with `false, message`.
struct Bad(String);

impl From<mlua::Error> for Bad {
    fn from(e: mlua::Error) -> Bad {
        Bad(e.to_string())
    }
}

type Checked<T> = Result<T, Bad>;

/// Where a job runs its statements.
enum Target {
    Db(Arc<Database>),
    Tx(Arc<Mutex<TxState>>, u32),
}

fn target(v: Option<&LuaValue>) -> Checked<Target> {
    if let Some(LuaValue::UserData(ud)) = v {
        if let Ok(h) = ud.borrow::<DbHandle>() {
            return Ok(Target::Db(h.0.clone()));
        }
        if let Ok(t) = ud.borrow::<TxHandle>() {
            return Ok(Target::Tx(t.state.clone(), t.depth));
        }
    }
    Err(Bad("not a database".into()))
}

/// Runs `op` with the target's connection (a pooled one for a database).
fn on_conn<T>(
    target: &Target,
    op: impl FnOnce(&Arc<Database>, &mut Conn) -> db::Result<T>,
) -> db::Result<T> {
    match target {
        Target::Db(d) => {
            let mut lease = d.acquire()?;
            lease.with(|c| op(d, c))
        }
        Target::Tx(state, depth) => {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            if st.open <= *depth {
                return Err(db::Error::new("the transaction is over"));
            }
            let Some(lease) = st.lease.as_mut() else {
                return Err(db::Error::new("the transaction is over"));
            };
            let d = lease.database().clone();
            lease.with(|c| op(&d, c))
        }
    }
}

/// What a job produces.
enum Out {
    Rows(Rows),
    Records(Rows),
    Record(Rows),
    Count(i64),
    Id(i64),
    Tx(Lease),
    Savepoint,
    Done,
}

type Finish = Box<dyn FnOnce(&Lua, Out) -> mlua::Result<MultiValue>>;

/// Runs `job` on the blocking pool (async) or to its end now; `finish` makes
/// Lua values of its output, a failure becomes `nil, message`.
fn dispatch(
    lua: &Lua,
    async_: bool,
    job: impl FnOnce() -> db::Result<Out> + Send + 'static,
    finish: Finish,
) -> mlua::Result<MultiValue> {
    let done = move |lua: &Lua, r: db::Result<Out>| match r {
        Ok(o) => finish(lua, o),
        Err(e) => (LuaValue::Nil, e.message).into_lua_multi(lua),
    };
    if async_ {
        let ticket = blocking::submit(
            lua,
            Box::new(move || Box::new(job()) as Output),
            Box::new(
                move |lua, out: Output| match out.downcast::<db::Result<Out>>() {
                    Ok(r) => done(lua, *r),
                    Err(_) => Err(mlua::Error::runtime("a database job returned nothing")),
                },
            ),
        )?;
        return ticket.into_lua_multi(lua);
    }
    // A script's top level: no request to suspend; the job still runs off this thread.
    let r = std::thread::spawn(job)
        .join()
        .unwrap_or_else(|_| Err(db::Error::new("a database job failed")));
    done(lua, r)
}

/// A Lua value as a parameter or field value.
fn to_value(v: &LuaValue, what: &dyn Fn() -> String) -> Checked<Value> {
    Ok(match v {
        LuaValue::Nil => Value::Null,
        LuaValue::LightUserData(p) if p.0.is_null() => Value::Null,
        LuaValue::Boolean(b) => Value::Bool(*b),
        LuaValue::Integer(i) => Value::Int(*i),
        LuaValue::Number(n) => Value::Float(*n),
        LuaValue::String(s) => match s.to_str() {
            Ok(t) => Value::Text(t.to_string()),
            Err(_) => Value::Blob(s.as_bytes().to_vec()),
        },
        LuaValue::Table(_) => {
            Value::Json(super::json::encode(v).map_err(|e| Bad(format!("{}: {e}", what())))?)
        }
        other => {
            return Err(Bad(format!(
                "{}: cannot store a {}",
                what(),
                other.type_name()
            )))
        }
    })
}

fn to_lua(lua: &Lua, v: Value) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => super::json::null(),
        Value::Bool(b) => LuaValue::Boolean(b),
        Value::Int(i) => LuaValue::Integer(i),
        Value::Float(f) => LuaValue::Number(f),
        Value::Text(s) => LuaValue::String(lua.create_string(&s)?),
        Value::Blob(b) => LuaValue::String(lua.create_string(&b)?),
        // JSON the database holds but Lua cannot (a bad document) stays text.
        Value::Json(s) => super::json::decode(lua, s.as_bytes())
            .or_else(|_| lua.create_string(&s).map(LuaValue::String))?,
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            t.set_metatable(Some(super::json::array_mt(lua)?))?;
            LuaValue::Table(t)
        }
    })
}

/// One row as a table by column name; a record (ORM) leaves NULL fields out.
fn row_table(lua: &Lua, columns: &[String], row: Vec<Value>, record: bool) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, columns.len())?;
    for (name, v) in columns.iter().zip(row) {
        if record && v == Value::Null {
            continue;
        }
        t.raw_set(name.as_str(), to_lua(lua, v)?)?;
    }
    Ok(t)
}

/// An array (marked as a JSON array) of rows.
fn rows_table(lua: &Lua, rows: Rows, record: bool) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(rows.rows.len(), 0)?;
    for (i, row) in rows.rows.into_iter().enumerate() {
        t.raw_set(i + 1, row_table(lua, &rows.columns, row, record)?)?;
    }
    t.set_metatable(Some(super::json::array_mt(lua)?))?;
    Ok(t)
}

fn finish_out(lua: &Lua, out: Out) -> mlua::Result<MultiValue> {
    match out {
        Out::Rows(r) => rows_table(lua, r, false)?.into_lua_multi(lua),
        Out::Records(r) => rows_table(lua, r, true)?.into_lua_multi(lua),
        Out::Record(r) => {
            let columns = r.columns;
            match r.rows.into_iter().next() {
                Some(row) => row_table(lua, &columns, row, true)?.into_lua_multi(lua),
                None => LuaValue::Nil.into_lua_multi(lua),
            }
        }
        Out::Count(n) | Out::Id(n) => n.into_lua_multi(lua),
        Out::Done | Out::Savepoint => true.into_lua_multi(lua),
        Out::Tx(lease) => TxHandle {
            state: Arc::new(Mutex::new(TxState {
                lease: Some(lease),
                open: 1,
            })),
            depth: 0,
        }
        .into_lua_multi(lua),
    }
}

fn string_arg(v: Option<&LuaValue>, what: &str) -> Checked<String> {
    match v {
        Some(LuaValue::String(s)) => s
            .to_str()
            .map(|s| s.to_string())
            .map_err(|_| Bad(format!("bad argument ({what}): not UTF-8 text"))),
        other => Err(Bad(format!(
            "bad argument ({what}): expected a string, got {}",
            other.map_or("no value", |v| v.type_name())
        ))),
    }
}

fn collection(v: Option<&LuaValue>) -> Checked<String> {
    let name = string_arg(v, "collection")?;
    if !orm::valid_name(&name) {
        return Err(Bad(format!(
            "invalid collection name {name:?}: use letters, digits and _, starting with a letter or _ (at most {} characters)",
            orm::MAX_NAME
        )));
    }
    Ok(name)
}

/// An id from Lua: an integer, an integral float or a decimal string;
/// None for a string that is no id (it matches no record).
fn id_value(v: &LuaValue, what: &str) -> Checked<Option<i64>> {
    match v {
        LuaValue::Integer(i) => Ok(Some(*i)),
        LuaValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => Ok(Some(*n as i64)),
        LuaValue::String(s) => Ok(s.to_str().ok().and_then(|s| s.trim().parse().ok())),
        other => Err(Bad(format!(
            "bad {what}: expected an integer id, got {}",
            other.type_name()
        ))),
    }
}

/// The fields of a record to save, sorted by name; its id if it has one.
/// A record's fields by name.
type Fields = Vec<(String, Value)>;

fn record_fields(t: &Table) -> Checked<(Option<i64>, Fields)> {
    let mut id = None;
    let mut fields = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let name = match &k {
            LuaValue::String(s) => s.to_str().map(|s| s.to_string()).unwrap_or_default(),
            other => {
                return Err(Bad(format!(
                    "a record's field names must be strings, not {} ({})",
                    other.type_name(),
                    match other {
                        LuaValue::Integer(i) => i.to_string(),
                        _ => String::from("?"),
                    }
                )))
            }
        };
        if name == "id" {
            if !v.is_nil() {
                id = Some(
                    id_value(&v, "record id")?
                        .ok_or_else(|| Bad("bad record id: not an integer".into()))?,
                );
            }
            continue;
        }
        if !orm::valid_name(&name) {
            return Err(Bad(format!(
                "invalid field name {name:?}: use letters, digits and _, starting with a letter or _ (at most {} characters)",
                orm::MAX_NAME
            )));
        }
        let value = to_value(&v, &|| format!("field {name}"))?;
        fields.push((name, value));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((id, fields))
}

/// A filter table `{ field = value }`, or an id; None: matches nothing.
fn filter(v: Option<&LuaValue>, required: bool) -> Checked<Option<Vec<(String, Filter)>>> {
    let t =
        match v {
            None | Some(LuaValue::Nil) if required => return Err(Bad(
                "bad argument (filter): expected a table or an id (pass {} to mean every record)"
                    .into(),
            )),
            None | Some(LuaValue::Nil) => return Ok(Some(Vec::new())),
            Some(LuaValue::Table(t)) => t,
            Some(other) => {
                return Ok(id_value(other, "filter")?
                    .map(|id| vec![("id".to_string(), Filter::Eq(Value::Int(id)))]))
            }
        };
    let mut out = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let name = match &k {
            LuaValue::String(s) => s.to_str().map(|s| s.to_string()).unwrap_or_default(),
            other => {
                return Err(Bad(format!(
                    "filter keys must be field names, not {}",
                    other.type_name()
                )))
            }
        };
        if !orm::valid_name(&name) {
            return Err(Bad(format!("invalid field name {name:?} in the filter")));
        }
        let what = || format!("filter field {name}");
        let f = match &v {
            LuaValue::LightUserData(p) if p.0.is_null() => Filter::IsNull,
            LuaValue::Table(list) if name != "id" || list.raw_len() > 0 => {
                // A sequence: any of its values.
                let mut vs = Vec::new();
                for x in list.sequence_values::<LuaValue>() {
                    vs.push(to_value(&x?, &what)?);
                }
                Filter::In(vs)
            }
            _ if name == "id" => match id_value(&v, "filter id")? {
                Some(id) => Filter::Eq(Value::Int(id)),
                None => return Ok(None),
            },
            _ => Filter::Eq(to_value(&v, &what)?),
        };
        out.push((name, f));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}

fn options(v: Option<&LuaValue>) -> Checked<Options> {
    let mut o = Options::default();
    let t = match v {
        None | Some(LuaValue::Nil) => return Ok(o),
        Some(LuaValue::Table(t)) => t,
        Some(other) => {
            return Err(Bad(format!(
                "bad argument (options): expected a table, got {}",
                other.type_name()
            )))
        }
    };
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = match &k {
            LuaValue::String(s) => s.to_string_lossy(),
            other => format!("{other:?}"),
        };
        match key.as_str() {
            "order" => {
                let items: Vec<LuaValue> = match &v {
                    LuaValue::Table(list) => list.sequence_values().collect::<mlua::Result<_>>()?,
                    one => vec![one.clone()],
                };
                for item in items {
                    let s = match &item {
                        LuaValue::String(s) => s.to_string_lossy(),
                        other => {
                            return Err(Bad(format!(
                                "bad option order: expected field names, got a {}",
                                other.type_name()
                            )))
                        }
                    };
                    let s = s.trim();
                    let (name, desc) = if let Some(n) = s.strip_prefix('-') {
                        (n, true)
                    } else if let Some((n, dir)) = s.split_once(' ') {
                        match dir.trim().to_ascii_lowercase().as_str() {
                            "asc" => (n, false),
                            "desc" => (n, true),
                            _ => return Err(Bad(format!("bad option order {s:?}: expected \"field\", \"-field\", \"field asc\" or \"field desc\""))),
                        }
                    } else {
                        (s, false)
                    };
                    if !orm::valid_name(name) {
                        return Err(Bad(format!(
                            "bad option order: invalid field name {name:?}"
                        )));
                    }
                    o.order.push((name.to_string(), desc));
                }
            }
            "limit" | "offset" => {
                let n = match v {
                    LuaValue::Integer(i) if i >= 0 => i,
                    LuaValue::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < 9.2e18 => n as i64,
                    other => {
                        return Err(Bad(format!(
                            "bad option {key}: expected a whole number >= 0, got {}",
                            match other {
                                LuaValue::Integer(i) => i.to_string(),
                                LuaValue::Number(n) => n.to_string(),
                                o => o.type_name().to_string(),
                            }
                        )))
                    }
                };
                if key == "limit" {
                    o.limit = Some(n);
                } else {
                    o.offset = Some(n);
                }
            }
            other => {
                return Err(Bad(format!(
                    "unknown option {other:?} (expected order, limit or offset)"
                )))
            }
        }
    }
    Ok(o)
}

/// Wraps a native so that a [`Bad`] becomes `false, message`.
fn native<F>(lua: &Lua, f: F) -> mlua::Result<mlua::Function>
where
    F: Fn(&Lua, &[LuaValue]) -> Result<MultiValue, Bad> + 'static,
{
    lua.create_function(move |lua, args: MultiValue| {
        let args: Vec<LuaValue> = args.into_iter().collect();
        match f(lua, &args) {
            Ok(v) => Ok(v),
            Err(Bad(msg)) => (false, msg).into_lua_multi(lua),
        }
    })
}

/// A result known at once: in a request, marked with `true` so that db.lua
/// does not wait for it.
fn immediate(lua: &Lua, args: &[LuaValue], v: impl IntoLuaMulti) -> Result<MultiValue, Bad> {
    let mut values = v.into_lua_multi(lua)?;
    if is_async(args) {
        values.push_front(LuaValue::Boolean(true));
    }
    Ok(values)
}

fn is_async(args: &[LuaValue]) -> bool {
    matches!(args.first(), Some(LuaValue::Boolean(true)))
}

/// Adds `flutter.db` to the library table.
pub fn install(lua: &Lua, library: &Table, await_fn: mlua::Function) -> mlua::Result<()> {
    let n = lua.create_table()?;
    n.raw_set(
        "open",
        native(lua, |lua, args| {
            let url = string_arg(args.first(), "url")?;
            let db = Database::open(&url).map_err(Bad)?;
            Ok(lua.create_userdata(DbHandle(db))?.into_lua_multi(lua)?)
        })?,
    )?;
    // query/exec(async, target, sql, n, params...)
    for (name, rows) in [("query", true), ("exec", false)] {
        n.raw_set(
            name,
            native(lua, move |lua, args| {
                let target = target(args.get(1))?;
                let sql = string_arg(args.get(2), "sql")?;
                let count = match args.get(3) {
                    Some(LuaValue::Integer(n)) => *n as usize,
                    _ => 0,
                };
                let mut params = Vec::with_capacity(count);
                for i in 0..count {
                    let v = args.get(4 + i).unwrap_or(&LuaValue::Nil);
                    params.push(to_value(v, &|| {
                        format!("bad argument #{} (parameter {})", i + 2, i + 1)
                    })?);
                }
                let job = move || {
                    on_conn(&target, |_, c| {
                        if rows {
                            c.query(&sql, &params).map(Out::Rows)
                        } else {
                            c.exec(&sql, &params).map(|n| Out::Count(n as i64))
                        }
                    })
                };
                Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
            })?,
        )?;
    }
    n.raw_set(
        "save",
        native(lua, |lua, args| {
            let target = target(args.get(1))?;
            let name = collection(args.get(2))?;
            let record = match args.get(3) {
                Some(LuaValue::Table(t)) => t.clone(),
                other => {
                    return Err(Bad(format!(
                        "bad argument (record): expected a table, got {}",
                        other.map_or("no value", |v| v.type_name())
                    )))
                }
            };
            let (id, fields) = record_fields(&record)?;
            let job =
                move || on_conn(&target, |d, c| orm::save(d, c, &name, id, &fields)).map(Out::Id);
            let finish: Finish = Box::new(move |lua, out| {
                if let Out::Id(id) = out {
                    record.raw_set("id", id)?;
                }
                finish_out(lua, out)
            });
            Ok(dispatch(lua, is_async(args), job, finish)?)
        })?,
    )?;
    n.raw_set(
        "get",
        native(lua, |lua, args| {
            let target = target(args.get(1))?;
            let name = collection(args.get(2))?;
            let Some(id) = id_value(args.get(3).unwrap_or(&LuaValue::Nil), "argument (id)")? else {
                return immediate(lua, args, LuaValue::Nil);
            };
            let job = move || on_conn(&target, |d, c| orm::get(d, c, &name, id)).map(Out::Record);
            Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
        })?,
    )?;
    n.raw_set(
        "find",
        native(lua, |lua, args| {
            let target = target(args.get(1))?;
            let name = collection(args.get(2))?;
            let opts = options(args.get(4))?;
            let Some(filter) = filter(args.get(3), false)? else {
                return immediate(lua, args, rows_table(lua, Rows::default(), true)?);
            };
            let job = move || {
                on_conn(&target, |d, c| orm::find(d, c, &name, &filter, &opts)).map(Out::Records)
            };
            Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
        })?,
    )?;
    for (op, required) in [("count", false), ("delete", true)] {
        n.raw_set(
            op,
            native(lua, move |lua, args| {
                let target = target(args.get(1))?;
                let name = collection(args.get(2))?;
                let Some(filter) = filter(args.get(3), required)? else {
                    return immediate(lua, args, 0);
                };
                let job = move || {
                    on_conn(&target, |d, c| {
                        if required {
                            orm::delete(d, c, &name, &filter).map(|n| Out::Count(n as i64))
                        } else {
                            orm::count(d, c, &name, &filter).map(Out::Count)
                        }
                    })
                };
                Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
            })?,
        )?;
    }
    // begin(async, target): a transaction, or a savepoint inside one.
    n.raw_set(
        "begin",
        native(lua, |lua, args| match target(args.get(1))? {
            Target::Db(d) => {
                let job = move || {
                    let mut lease = d.acquire()?;
                    let begin = match lease.database().dialect() {
                        db::Dialect::Sqlite => "BEGIN IMMEDIATE",
                        db::Dialect::Postgres => "BEGIN",
                    };
                    lease.with(|c| c.batch(begin))?;
                    lease.in_transaction = true;
                    Ok(Out::Tx(lease))
                };
                Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
            }
            Target::Tx(state, _) => {
                let depth = state.lock().unwrap_or_else(|e| e.into_inner()).open;
                if depth == 0 {
                    return immediate(lua, args, (LuaValue::Nil, "the transaction is over"));
                }
                let for_job = state.clone();
                let job = move || {
                    let t = Target::Tx(for_job.clone(), depth - 1);
                    on_conn(&t, |_, c| c.batch(&format!("SAVEPOINT flutter_{depth}")))?;
                    for_job.lock().unwrap_or_else(|e| e.into_inner()).open = depth + 1;
                    Ok(Out::Savepoint)
                };
                let finish: Finish = Box::new(move |lua, out| match out {
                    Out::Savepoint => TxHandle { state, depth }.into_lua_multi(lua),
                    o => finish_out(lua, o),
                });
                Ok(dispatch(lua, is_async(args), job, finish)?)
            }
        })?,
    )?;
    // commit/rollback(async, tx)
    for (name, commit) in [("commit", true), ("rollback", false)] {
        n.raw_set(
            name,
            native(lua, move |lua, args| {
                let Target::Tx(state, depth) = target(args.get(1))? else {
                    return Err(Bad("not a transaction".into()));
                };
                let job = move || end(&state, depth, commit).map(|()| Out::Done);
                Ok(dispatch(lua, is_async(args), job, Box::new(finish_out))?)
            })?,
        )?;
    }
    let source = lua
        .load(SOURCE)
        .set_name("=flutter.db")
        .call::<Table>((n, await_fn))?;
    library.raw_set("db", source)
}

/// Ends a transaction (depth 0) or the savepoint at `depth`: commits or rolls
/// back. A transaction's connection goes back to its pool.
fn end(state: &Mutex<TxState>, depth: u32, commit: bool) -> db::Result<()> {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    if st.open <= depth {
        return Err(db::Error::new("the transaction is over"));
    }
    let Some(lease) = st.lease.as_mut() else {
        return Err(db::Error::new("the transaction is over"));
    };
    let sql = match (depth, commit) {
        (0, true) => "COMMIT".to_string(),
        (0, false) => "ROLLBACK".to_string(),
        (d, true) => format!("RELEASE SAVEPOINT flutter_{d}"),
        (d, false) => format!("ROLLBACK TO SAVEPOINT flutter_{d}; RELEASE SAVEPOINT flutter_{d}"),
    };
    let r = lease.with(|c| c.batch(&sql));
    if depth == 0 {
        // Over either way; a failed end leaves it for the next user to roll back.
        lease.in_transaction = r.is_err();
        st.open = 0;
        st.lease = None;
    } else if r.is_ok() {
        st.open = depth;
    }
    r
}
