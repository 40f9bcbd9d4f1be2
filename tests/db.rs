//! flutter.db over real sockets, on SQLite and on a real PostgreSQL server.
//! The PostgreSQL tests need FLUTTER_TEST_PG (tests/run-all starts a
//! throwaway cluster and sets it); without it they fail, never skip.

mod common;

use common::{curl, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn get_json(s: &Server, path: &str) -> Value {
    let (code, body) = curl(&[&s.url(path)]);
    assert_eq!(code, 0, "curl {path}");
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&body),
            s.stderr()
        )
    })
}

fn status(s: &Server, path: &str) -> u16 {
    let (_, out) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &s.url(path)]);
    String::from_utf8_lossy(&out).parse().unwrap()
}

/// A fresh schema on the test cluster; the URL whose connections use it.
fn pg_url(schema: &str) -> String {
    let base = std::env::var("FLUTTER_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "FLUTTER_TEST_PG is not set: run tests/run-all, which starts a PostgreSQL \
             cluster for these tests (they fail rather than skip without one)"
        )
    });
    let mut c = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to FLUTTER_TEST_PG={base}: {e}"));
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ))
    .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}&application_name={schema}")
}

/// Handlers shared by the SQLite and PostgreSQL runs; DB_URL is replaced.
const ORM_APP: &str = r#"
local flutter = require "flutter"
local null = flutter.json.null
local db = flutter.db.open(DB_URL)

local function try(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then return { raised = tostring(a) } end
  return { value = a, err = b }
end

local routes = {}

function routes.save()
  local t = { title = "write tests", done = false, prio = 2, tags = { "a", "b" }, meta = { by = "ann", n = 1.5 } }
  local id = assert(db:save("todos", t))
  assert(t.id == id, "save fills id")
  local t2 = { title = "ship", done = true, prio = 1 }
  assert(db:save("todos", t2))
  -- A new field widens the table.
  local t3 = { title = "later", done = false, prio = 3, due = "2030-01-01" }
  assert(db:save("todos", t3))
  -- Update: fields it lacks become NULL.
  t2.title = "shipped"
  t2.prio = nil
  assert(db:save("todos", t2) == t2.id)
  -- An id of our own inserts.
  assert(db:save("todos", { id = 100, title = "chosen id", done = false }) == 100)
  local t4 = { title = "after chosen", done = true }
  assert(db:save("todos", t4))
  return { ids = { id, t2.id, t3.id, t4.id }, first = db:get("todos", id), second = db:get("todos", t2.id),
           third = db:get("todos", t3.id), missing = db:get("todos", 999) or null,
           missing_str = db:get("todos", "abc") or null, by_str = db:get("todos", tostring(id)) }
end

function routes.find()
  return {
    open = db:find("todos", { done = false }, { order = "prio" }),
    desc = db:find("todos", nil, { order = "-id", limit = 2 }),
    page = db:find("todos", {}, { order = { "done", "-prio" }, limit = 2, offset = 1 }),
    any = db:find("todos", { prio = { 1, 3 } }),
    nulls = db:find("todos", { due = null }),
    unknown_field = db:find("todos", { nosuchfield = 1 }),
    none = db:find("nosuchtable"),
    count = db:count("todos"),
    count_done = db:count("todos", { done = true }),
    count_none = db:count("nosuchtable", { x = 1 }),
  }
end

function routes.delete()
  local n = assert(db:delete("todos", { done = true }))
  local by_id = assert(db:delete("todos", 100))
  return { deleted = n, by_id = by_id, left = db:count("todos") }
end

local hostile = {
  "x\"; DROP TABLE todos; --",
  "todos; DELETE FROM todos",
  "a b", "", "1abc", "é", string.rep("a", 64), "todos--", "t\0x",
}

function routes.hostile()
  local out = { names = {}, fields = {}, values = {}, filters = {} }
  for i, name in ipairs(hostile) do
    out.names[i] = try(db.save, db, name, { x = 1 })
    out.fields[i] = try(db.save, db, "todos", { [name] = 1 })
    out.filters[i] = try(db.find, db, "todos", { [name] = 1 })
  end
  local evil = "'); DROP TABLE todos; --"
  local id = assert(db:save("todos", { title = evil, done = false, note = "\"quoted\" \\ and ' and ;" }))
  out.stored = db:get("todos", id)
  out.found = db:find("todos", { title = evil })
  out.order = try(db.find, db, "todos", {}, { order = "id; DROP TABLE todos" })
  out.injected_id = db:get("todos", "1 OR 1=1") or null
  out.count = db:count("todos")
  return out
end

function routes.tx()
  local before = db:count("todos")
  local ok, err = pcall(db.transaction, db, function(tx)
    assert(tx:save("todos", { title = "rolled back", done = false }))
    assert(tx:count("todos") == before + 1)
    error("changed my mind")
  end)
  local r1, r2 = db:transaction(function(tx)
    assert(tx:save("todos", { title = "committed", done = false }))
    -- A savepoint inside: rolled back alone.
    pcall(tx.transaction, tx, function(inner)
      inner:save("todos", { title = "inner rolled back", done = false })
      error("inner")
    end)
    return "result", 2
  end)
  local none = db:transaction(function() end)
  return { ok = ok, err = err, r1 = r1, r2 = r2, none = none, before = before, after = db:count("todos"),
           committed = db:count("todos", { title = "committed" }),
           inner = db:count("todos", { title = "inner rolled back" }),
           rolled = db:count("todos", { title = "rolled back" }) }
end

function routes.errors()
  return {
    bad_sql = try(db.query, db, "SELEC nonsense"),
    no_table = try(db.query, db, "SELECT * FROM nosuchtable"),
    sql_type = try(db.query, db, 42),
    bad_param = try(db.query, db, "SELECT 1", function() end),
    no_method = try(db.query, "SELECT 1"),
    bad_record = try(db.save, db, "todos", "nope"),
    bad_option = try(db.find, db, "todos", {}, { limit = -1 }),
    unknown_option = try(db.find, db, "todos", {}, { sort = "id" }),
    delete_all_needs_filter = try(db.delete, db, "todos"),
    bad_url = try(flutter.db.open, "mysql://x"),
    tx_fn = try(db.transaction, db, "not a function"),
    cycle = (function() local t = {} t.self = t return try(db.save, db, "todos", { t = t }) end)(),
  }
end

return function(req)
  local f = routes[req.path:sub(2)]
  if not f then return { status = 404, body = "no route" } end
  return { json = f(req) }
end
"#;

fn orm_suite(url: &str) {
    let app = ORM_APP.replace("DB_URL", &format!("{url:?}"));
    let s = Server::start(&app, &[]);

    let v = get_json(&s, "/save");
    let first = &v["first"];
    assert_eq!(first["title"], "write tests");
    assert_eq!(first["done"], false);
    assert_eq!(first["prio"], 2);
    assert_eq!(first["tags"], json!(["a", "b"]));
    assert_eq!(first["meta"], json!({"by": "ann", "n": 1.5}));
    assert!(
        first.get("due").is_none(),
        "NULL fields are left out: {first}"
    );
    assert_eq!(v["second"]["title"], "shipped");
    assert!(v["second"].get("prio").is_none(), "{}", v["second"]);
    assert_eq!(v["third"]["due"], "2030-01-01");
    assert_eq!(v["missing"], Value::Null);
    assert_eq!(v["missing_str"], Value::Null);
    assert_eq!(v["by_str"]["title"], "write tests");
    let ids: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(ids[..3], [1, 2, 3]);
    assert!(ids[3] > 100, "ids go on after a chosen one: {ids:?}");

    let v = get_json(&s, "/find");
    let titles = |x: &Value| -> Vec<String> {
        x.as_array()
            .unwrap_or_else(|| panic!("not an array: {x}"))
            .iter()
            .map(|r| r["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles(&v["open"]), ["write tests", "later", "chosen id"]);
    assert_eq!(titles(&v["desc"]), ["after chosen", "chosen id"]);
    assert_eq!(titles(&v["page"]), ["later", "write tests"]);
    assert_eq!(titles(&v["any"]), ["later"]);
    assert_eq!(v["nulls"].as_array().unwrap().len(), 4);
    assert_eq!(v["unknown_field"], json!([]));
    assert_eq!(v["none"], json!([]));
    assert_eq!(v["count"], 5);
    assert_eq!(v["count_done"], 2);
    assert_eq!(v["count_none"], 0);

    let v = get_json(&s, "/hostile");
    for kind in ["names", "fields", "filters"] {
        for (i, r) in v[kind].as_array().unwrap().iter().enumerate() {
            let raised = r["raised"]
                .as_str()
                .unwrap_or_else(|| panic!("{kind} #{i} not refused: {r}"));
            assert!(raised.contains("invalid"), "{kind} #{i}: {raised}");
        }
    }
    assert_eq!(v["stored"]["title"], "'); DROP TABLE todos; --");
    assert_eq!(v["stored"]["note"], "\"quoted\" \\ and ' and ;");
    assert_eq!(v["found"].as_array().unwrap().len(), 1);
    assert!(
        v["order"]["raised"]
            .as_str()
            .unwrap()
            .contains("bad option order"),
        "{}",
        v["order"]
    );
    assert_eq!(v["injected_id"], Value::Null);
    assert_eq!(v["count"], 6, "the table is intact");

    let v = get_json(&s, "/tx");
    assert_eq!(v["ok"], false);
    assert!(v["err"].as_str().unwrap().contains("changed my mind"));
    assert_eq!(
        (v["r1"].clone(), v["r2"].clone()),
        (json!("result"), json!(2))
    );
    assert_eq!(v["none"], true);
    assert_eq!(v["after"].as_i64(), v["before"].as_i64().map(|n| n + 1));
    assert_eq!(
        (
            v["committed"].clone(),
            v["inner"].clone(),
            v["rolled"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );

    let v = get_json(&s, "/errors");
    for key in ["bad_sql", "no_table"] {
        assert!(
            v[key]["raised"].is_null(),
            "{key} must not raise: {}",
            v[key]
        );
        assert!(
            v[key]["err"].as_str().is_some_and(|m| !m.is_empty()),
            "{key}: {}",
            v[key]
        );
    }
    let raised = |key: &str, words: &str| {
        let m = v[key]["raised"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} must raise: {}", v[key]));
        assert!(m.contains(words), "{key}: {m}");
    };
    raised("sql_type", "db:query: bad argument (sql)");
    raised("bad_param", "parameter 1");
    raised("no_method", "as a method");
    raised("bad_record", "bad argument (record)");
    raised("bad_option", "limit");
    raised("unknown_option", "sort");
    raised("delete_all_needs_filter", "filter");
    raised("bad_url", "flutter.db.open");
    raised("tx_fn", "expected a function");
    raised("cycle", "field t");

    let v = get_json(&s, "/delete");
    assert_eq!(v["deleted"], 2);
    assert_eq!(v["by_id"], 1);
    assert_eq!(v["left"], 4);
    assert_eq!(status(&s, "/nothing"), 404);
}

#[test]
fn sqlite_orm() {
    let dir = common::temp_dir("sqlite-orm");
    let url = format!("sqlite:{}", dir.join("orm.db").display());
    orm_suite(&url);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pg_orm() {
    orm_suite(&pg_url("flutter_orm"));
}

/// Raw SQL with every type both ways.
#[test]
fn sqlite_query_types() {
    let s = Server::start(
        r#"
local flutter = require "flutter"
local db = flutter.db.open("sqlite::memory:")
-- At the top level the job runs to its end at once.
assert(db:exec([[CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, f BOOLEAN, j JSON, n TEXT, ts TEXT)]]))
return function(req)
  local n, err = db:exec("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    9007199254740993, 0.1, "it's \"x\"", "\0\255", true, { a = { 1, 2 } }, nil, "2024-02-29T13:14:15Z")
  assert(n == 1, err)
  assert(db:exec("INSERT INTO t (i, n) VALUES (?2, ?1)", flutter.json.null, 7) == 1)
  local rows = assert(db:query("SELECT * FROM t ORDER BY i DESC"))
  local r = rows[1]
  return { json = {
    i = r.i, r = r.r, s = r.s, b = r.b == "\0\255", f = r.f, j = r.j, n = r.n == flutter.json.null, ts = r.ts,
    second_n = rows[2].n == flutter.json.null, count = #rows, empty = db:query("SELECT * FROM t WHERE 0"),
    changed = db:exec("UPDATE t SET s = ? WHERE i = ?", "new", 7),
    pragma = db:exec("PRAGMA user_version = 3"),
    params = (function() local ok, r, e = pcall(db.query, db, "SELECT ?, ?", 1) return { ok = ok, err = e } end)(),
  } }
end
"#,
        &[],
    );
    let v = get_json(&s, "/");
    assert_eq!(v["i"], 9007199254740993i64);
    assert_eq!(v["r"], 0.1);
    assert_eq!(v["s"], "it's \"x\"");
    assert_eq!(v["b"], true);
    assert_eq!(v["f"], true);
    assert_eq!(v["j"], json!({"a": [1, 2]}));
    assert_eq!(v["n"], true);
    assert_eq!(v["second_n"], true);
    assert_eq!(v["ts"], "2024-02-29T13:14:15Z");
    assert_eq!(v["count"], 2);
    assert_eq!(v["empty"], json!([]));
    assert_eq!(v["changed"], 1);
    assert_eq!(v["pragma"], 0);
    assert_eq!(v["params"]["ok"], true);
    assert!(
        v["params"]["err"].as_str().unwrap().contains("parameter"),
        "{}",
        v["params"]
    );
}

#[test]
fn pg_query_types() {
    let url = pg_url("flutter_types");
    let app = r#"
local flutter = require "flutter"
local db = flutter.db.open(DB_URL)
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
return function(req)
  local rows, err = db:query([[SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8,
      1.5::float4 AS f4, 0.1::float8 AS f8, 12345.678::numeric AS num, 42::numeric AS num_int,
      'txt'::text AS t, 'v'::varchar AS vc, '\x00ff'::bytea AS by, true AS bo, NULL::int AS nu,
      '{"x":[1,2]}'::json AS js, '{"y":null}'::jsonb AS jb,
      '2024-02-29 13:14:15.5'::timestamp AS ts, '2024-02-29 13:14:15+02'::timestamptz AS tz,
      '2024-02-29'::date AS d, '13:14:15'::time AS tm, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
      ARRAY[1, 2, NULL] AS arr, ARRAY[]::text[] AS empty_arr,
      $1::int8 AS p_int, $2::text AS p_text, $3::bool AS p_bool, $4::jsonb AS p_json, $5::float8 AS p_float,
      $6::bytea AS p_bytea, $7::numeric AS p_num, $8::timestamptz AS p_ts, $9::int AS p_null, $10::int8 AS p_whole_float]],
    7, "it's", false, { k = { 1, 2 } }, 2.5, "\0\1\255", 3, "2024-01-01T00:00:00Z", nil, 4.0)
  if not rows then return { json = { err = err } } end
  local r = rows[1]
  r.by, r.p_bytea = hex(r.by), hex(r.p_bytea)
  r.nu, r.p_null = r.nu == flutter.json.null, r.p_null == flutter.json.null
  assert(db:exec("CREATE TABLE items (id serial PRIMARY KEY, name text, tags text[])") == 0)
  local n = assert(db:exec("INSERT INTO items (name, tags) VALUES ($1, $2), ($3, $4)", "a", { "x", "y z" }, "b", { "\"q\"" }))
  local any = assert(db:query("SELECT name, tags FROM items WHERE id = ANY($1) ORDER BY id", { 1, 2 }))
  local unknown, uerr = db:query("SELECT point(1, 2) AS p")
  return { json = { row = r, inserted = n, any = any, unknown = uerr, unknown_rows = unknown or flutter.json.null } }
end
"#
    .replace("DB_URL", &format!("{url:?}"));
    let s = Server::start(&app, &[]);
    let v = get_json(&s, "/");
    let r = &v["row"];
    assert!(v.get("err").is_none(), "{v}");
    for (k, want) in [
        ("i2", json!(1)),
        ("i4", json!(2)),
        ("i8", json!(9007199254740993i64)),
        ("f4", json!(1.5)),
        ("f8", json!(0.1)),
        ("num", json!(12345.678)),
        ("num_int", json!(42)),
        ("t", json!("txt")),
        ("vc", json!("v")),
        ("by", json!("00ff")),
        ("bo", json!(true)),
        ("nu", json!(true)),
        ("js", json!({"x": [1, 2]})),
        ("jb", json!({"y": null})),
        ("ts", json!("2024-02-29T13:14:15.5")),
        ("tz", json!("2024-02-29T11:14:15Z")),
        ("d", json!("2024-02-29")),
        ("tm", json!("13:14:15")),
        ("u", json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("arr", json!([1, 2, null])),
        ("empty_arr", json!([])),
        ("p_int", json!(7)),
        ("p_text", json!("it's")),
        ("p_bool", json!(false)),
        ("p_json", json!({"k": [1, 2]})),
        ("p_float", json!(2.5)),
        ("p_bytea", json!("0001ff")),
        ("p_num", json!(3)),
        ("p_ts", json!("2024-01-01T00:00:00Z")),
        ("p_null", json!(true)),
        ("p_whole_float", json!(4)),
    ] {
        assert_eq!(r[k], want, "column {k}");
    }
    assert_eq!(v["inserted"], 2);
    assert_eq!(
        v["any"],
        json!([{"name": "a", "tags": ["x", "y z"]}, {"name": "b", "tags": ["\"q\""]}])
    );
    assert!(v["unknown"].as_str().unwrap().contains("cast"), "{v}");
}

/// One worker: a request waiting on the database does not hold up another.
#[test]
fn pg_query_does_not_block_the_worker() {
    let url = pg_url("flutter_sleep");
    let app = r#"
local db = require("flutter").db.open(DB_URL)
return function(req)
  if req.path == "/sleep" then
    local rows, err = db:query("SELECT pg_sleep(1) AS slept, 'done' AS what")
    return rows and rows[1].what or err
  end
  return "plain"
end
"#
    .replace("DB_URL", &format!("{url:?}"));
    let s = Server::start(&app, &["--workers", "1"]);
    let start = Instant::now();
    let addr = s.addr;
    let slow = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = common::read_response(&mut c);
        (r.text(), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut c = s.connect();
    c.write_all(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let plain = common::read_response(&mut c);
    let plain_at = start.elapsed();
    let (slow_body, slow_at) = slow.join().unwrap();
    assert_eq!(plain.text(), "plain");
    assert_eq!(slow_body, "done");
    eprintln!(
        "pg_sleep(1) request done at {slow_at:?}; plain request sent at 200ms done at {plain_at:?}"
    );
    assert!(
        plain_at < slow_at,
        "the plain request waited for the slow one"
    );
    assert!(slow_at >= Duration::from_secs(1));
}

/// A connection the server ended is replaced; the request that met it gets an error.
#[test]
fn pg_lost_connection_is_reestablished() {
    let url = pg_url("flutter_lost");
    let app = r#"
local db = require("flutter").db.open(DB_URL)
return function(req)
  local rows, err = db:query("SELECT pg_backend_pid() AS pid")
  return { json = { pid = rows and rows[1].pid, err = err } }
end
"#
    .replace("DB_URL", &format!("{url:?}"));
    let s = Server::start(&app, &[]);
    let first = get_json(&s, "/");
    let pid = first["pid"].as_i64().unwrap_or_else(|| panic!("{first}"));
    assert_eq!(get_json(&s, "/")["pid"], pid, "the connection is pooled");
    let mut admin =
        postgres::Client::connect(&std::env::var("FLUTTER_TEST_PG").unwrap(), postgres::NoTls)
            .unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flutter_lost'",
            &[],
        )
        .unwrap();
    assert_eq!(killed.len(), 1);
    // Wait until the backend is gone, so the next query meets a dead connection.
    let pid32 = i32::try_from(pid).unwrap();
    for _ in 0..250 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid32],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let hit = get_json(&s, "/");
    assert!(hit["pid"].is_null(), "{hit}");
    assert!(!hit["err"].as_str().unwrap().is_empty());
    let next = get_json(&s, "/");
    let new_pid = next["pid"].as_i64().unwrap_or_else(|| panic!("{next}"));
    assert_ne!(new_pid, pid);
    assert_eq!(status(&s, "/"), 200);
}

/// The example app, end to end.
fn todo_example(extra_env: Option<(&str, &str)>) {
    // The database URL reaches the server through its environment: one at a time.
    static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::temp_dir("todo");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/todo.lua");
    let copy = dir.join("todo.lua");
    std::fs::copy(&script, &copy).unwrap();
    if let Some((k, v)) = extra_env {
        std::env::set_var(k, v);
    }
    let s = Server::start_script(&copy, &dir, &[]).unwrap();
    if let Some((k, _)) = extra_env {
        std::env::remove_var(k);
    }
    let jar = dir.join("jar");
    let jar = jar.to_str().unwrap();
    let base = s.url("");
    let req = |args: &[&str], path: &str| -> (u16, String) {
        let url = format!("{base}{path}");
        let mut a = vec!["-b", jar, "-c", jar, "-w", "\n%{http_code}"];
        a.extend_from_slice(args);
        a.push(&url);
        let (code, out) = curl(&a);
        assert_eq!(code, 0);
        let text = String::from_utf8_lossy(&out).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_string())
    };
    // Not logged in: the page offers a login form, the API refuses.
    let (st, page) = req(&[], "/");
    assert_eq!(st, 200);
    assert!(page.contains("<form") && page.contains("login"), "{page}");
    assert_eq!(req(&[], "/api/todos").0, 401);
    // Log in.
    let (st, _) = req(&["-d", "user=ann"], "/login");
    assert_eq!(st, 303);
    let (st, page) = req(&[], "/");
    assert_eq!(st, 200);
    assert!(page.contains("ann"), "{page}");
    // The JSON API.
    let (st, body) = req(
        &[
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"title":"<b>milk</b>"}"#,
        ],
        "/api/todos",
    );
    assert_eq!(st, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["done"], false);
    let (st, body) = req(
        &[
            "-X",
            "PATCH",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"done":true}"#,
        ],
        &format!("/api/todos/{id}"),
    );
    assert_eq!(st, 200, "{body}");
    let (_, body) = req(&[], "/api/todos");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        list,
        json!([{"id": id, "title": "<b>milk</b>", "done": true, "owner": "ann"}])
    );
    // The page escapes what users wrote.
    let (_, page) = req(&[], "/");
    assert!(
        page.contains("&lt;b&gt;milk&lt;/b&gt;") && !page.contains("<b>milk"),
        "{page}"
    );
    // Another user sees none of ann's.
    let (_, other) = {
        let other_jar = dir.join("jar2");
        let other_jar = other_jar.to_str().unwrap().to_string();
        let url = format!("{base}/login");
        curl(&["-c", &other_jar, "-b", &other_jar, "-d", "user=bob", &url]);
        let url = format!("{base}/api/todos");
        let (c, out) = curl(&["-b", &other_jar, &url]);
        (c, String::from_utf8_lossy(&out).into_owned())
    };
    assert_eq!(other, "[]");
    assert_eq!(req(&["-X", "DELETE"], &format!("/api/todos/{id}")).0, 200);
    assert_eq!(req(&["-X", "DELETE"], &format!("/api/todos/{id}")).0, 404);
    // Log out: the API refuses again.
    assert_eq!(req(&["-X", "POST"], "/logout").0, 303);
    assert_eq!(req(&[], "/api/todos").0, 401);
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn todo_example_on_sqlite() {
    todo_example(None);
}

#[test]
fn todo_example_on_postgres() {
    let url = pg_url("flutter_todo");
    todo_example(Some(("TODO_DB", &url)));
}
