//! `req.session`, `flutter.session` and `flutter.cookie`: the natives that
//! session.lua calls. Signing and checking cookies is quick and happens on the
//! worker thread; the database store's work goes to the blocking pool.

use super::blocking;
use crate::db::Database;
use crate::pool::Output;
use crate::session::{self, CookieAttrs, Expires, Settings};
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};
use std::sync::{Arc, OnceLock};

const SOURCE: &str = include_str!("session.lua");

/// The settings a state's sessions follow.
struct Attached(Arc<Settings>);

/// Gives a Lua state the server's session settings.
pub fn attach(lua: &Lua, settings: Arc<Settings>) {
    lua.set_app_data(Attached(settings));
}

fn settings(lua: &Lua) -> Arc<Settings> {
    if let Some(a) = lua.app_data_ref::<Attached>() {
        return a.0.clone();
    }
    // A state no server attached settings to: the defaults.
    static DEFAULT: OnceLock<Arc<Settings>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Arc::new(Settings::from_config(&crate::config::Config::default())))
        .clone()
}

fn now() -> u64 {
    crate::http::date::unix_now()
}

fn log(level: &str, remote: &str, message: &str) {
    crate::log::line(level, &format!("{remote}: {message}"));
}

fn store(settings: &Settings) -> Result<Arc<Database>, String> {
    let url = settings.store.as_deref().ok_or("no session store")?;
    Database::open(url)
}

/// Queues a store job; its result reaches Lua as `finish` makes it.
fn submit<T: Send + 'static>(
    lua: &Lua,
    job: impl FnOnce() -> T + Send + 'static,
    finish: impl FnOnce(&Lua, T) -> mlua::Result<MultiValue> + 'static,
) -> mlua::Result<MultiValue> {
    let ticket = blocking::submit(
        lua,
        Box::new(move || Box::new(job()) as Output),
        Box::new(move |lua, out: Output| match out.downcast::<T>() {
            Ok(v) => finish(lua, *v),
            Err(_) => Err(mlua::Error::runtime("a session job returned nothing")),
        }),
    )?;
    ticket.into_lua_multi(lua)
}

fn cookie_attrs(opts: Option<Table>) -> Result<CookieAttrs, String> {
    let mut a = CookieAttrs::default();
    let Some(t) = opts else { return Ok(a) };
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => {
                return Err(format!(
                    "option names are strings, not {}",
                    other.type_name()
                ))
            }
        };
        let text = |v: &Value| match v {
            Value::String(s) => Ok(s.to_string_lossy()),
            other => Err(format!(
                "option {key}: expected a string, got {}",
                other.type_name()
            )),
        };
        let flag = |v: &Value| match v {
            Value::Boolean(b) => Ok(*b),
            other => Err(format!(
                "option {key}: expected a boolean, got {}",
                other.type_name()
            )),
        };
        let number = |v: &Value| match v {
            Value::Integer(i) => Ok(*i),
            Value::Number(n) if n.is_finite() => Ok(n.floor() as i64),
            other => Err(format!(
                "option {key}: expected a number, got {}",
                other.type_name()
            )),
        };
        match key.as_str() {
            "path" => a.path = Some(text(&v)?),
            "domain" => a.domain = Some(text(&v)?),
            "max_age" => a.max_age = Some(number(&v)?),
            "expires" => {
                a.expires = Some(match &v {
                    Value::String(_) => Expires::Text(text(&v)?),
                    _ => Expires::At(number(&v).map_err(|_| {
                        format!("option expires: expected a Unix time or a date string, got {}", v.type_name())
                    })?),
                })
            }
            "http_only" | "httponly" => a.http_only = flag(&v)?,
            "secure" => a.secure = flag(&v)?,
            "same_site" | "samesite" => a.same_site = Some(text(&v)?),
            "partitioned" => a.partitioned = flag(&v)?,
            other => {
                return Err(format!(
                    "unknown option {other:?} (expected path, domain, max_age, expires, http_only, secure, same_site or partitioned)"
                ))
            }
        }
    }
    Ok(a)
}

/// Adds `flutter.session`, `flutter.cookie` and the prelude's session hooks.
pub fn install(
    lua: &Lua,
    library: &Table,
    natives: &Table,
    await_fn: Function,
) -> mlua::Result<()> {
    let n = lua.create_table()?;
    n.raw_set(
        "kind",
        lua.create_function(|lua, ()| {
            Ok(if settings(lua).store.is_some() {
                "db"
            } else {
                "cookie"
            })
        })?,
    )?;
    n.raw_set(
        "cookie_name",
        lua.create_function(|lua, ()| Ok(settings(lua).cookie.clone()))?,
    )?;
    n.raw_set(
        "max_age",
        lua.create_function(|lua, ()| Ok(settings(lua).max_age))?,
    )?;
    n.raw_set("now", lua.create_function(|_, ()| Ok(now()))?)?;
    n.raw_set(
        "log",
        lua.create_function(|_, (level, remote, msg): (String, String, String)| {
            log(&level, &remote, &msg);
            Ok(())
        })?,
    )?;
    n.raw_set(
        "new_id",
        lua.create_function(|_, ()| session::new_id().map_err(mlua::Error::runtime))?,
    )?;
    // cookie(name, value, options) -> Set-Cookie text | nil, message
    n.raw_set(
        "cookie",
        lua.create_function(|lua, (name, value, opts): (Value, Value, Option<Table>)| {
            let name = match &name {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return (
                        Value::Nil,
                        format!(
                            "bad argument #1 (name): expected a string, got {}",
                            other.type_name()
                        ),
                    )
                        .into_lua_multi(lua)
                }
            };
            let value = match &value {
                Value::String(s) => s.as_bytes().to_vec(),
                other => {
                    return (
                        Value::Nil,
                        format!(
                            "bad argument #2 (value): expected a string, got {}",
                            other.type_name()
                        ),
                    )
                        .into_lua_multi(lua)
                }
            };
            match cookie_attrs(opts).and_then(|a| session::set_cookie(&name, &value, &a)) {
                Ok(text) => text.into_lua_multi(lua),
                Err(e) => (Value::Nil, e).into_lua_multi(lua),
            }
        })?,
    )?;
    // verify(value, remote) -> json, needs_refresh | nil (logged)
    n.raw_set(
        "verify",
        lua.create_function(|lua, (value, remote): (mlua::LuaString, String)| {
            let s = settings(lua);
            let keys = match s.keys() {
                Ok(k) => k,
                Err(e) => {
                    log("error", &remote, &format!("session: {e}"));
                    return Value::Nil.into_lua_multi(lua);
                }
            };
            let now = now();
            match session::verify(keys, &s.cookie, &value.as_bytes(), now) {
                Ok(v) => {
                    let refresh = v.old_key || v.expires.saturating_sub(now) < s.max_age / 2;
                    (v.json, refresh).into_lua_multi(lua)
                }
                Err(why) => {
                    let level = if why == "expired" { "info" } else { "warn" };
                    log(
                        level,
                        &remote,
                        &format!("session cookie refused ({why}); a new session starts"),
                    );
                    Value::Nil.into_lua_multi(lua)
                }
            }
        })?,
    )?;
    // sign(json) -> cookie value | nil, message
    n.raw_set(
        "sign",
        lua.create_function(|lua, json: String| {
            let s = settings(lua);
            let keys = match s.keys() {
                Ok(k) => k,
                Err(e) => return (Value::Nil, e).into_lua_multi(lua),
            };
            let value = session::sign(keys, &s.cookie, now() + s.max_age, &json);
            if value.len() > session::MAX_COOKIE_VALUE {
                return (
                    Value::Nil,
                    format!(
                        "the session takes {} bytes as a cookie, over the {} a browser keeps; keep less in it, or set session_store to a database",
                        value.len(),
                        session::MAX_COOKIE_VALUE
                    ),
                )
                    .into_lua_multi(lua);
            }
            value.into_lua_multi(lua)
        })?,
    )?;
    // fetch(id, remote) -> ticket (-> json, needs_refresh | false) | false when no id (logged)
    n.raw_set(
        "fetch",
        lua.create_function(|lua, (id, remote): (mlua::LuaString, String)| {
            let s = settings(lua);
            let id = id.as_bytes().to_vec();
            if !session::plausible_id(&id) {
                log(
                    "warn",
                    &remote,
                    "session cookie refused (malformed id); a new session starts",
                );
                return false.into_lua_multi(lua);
            }
            let id = String::from_utf8_lossy(&id).into_owned();
            let db = match store(&s) {
                Ok(db) => db,
                Err(e) => {
                    log("error", &remote, &format!("session store: {e}"));
                    return false.into_lua_multi(lua);
                }
            };
            let max_age = s.max_age;
            submit(
                lua,
                move || session::fetch(&db, &id, now()),
                move |lua, r| match r {
                    Ok(Some((json, expires))) => {
                        let refresh = expires.saturating_sub(now()) < max_age / 2;
                        (json, refresh).into_lua_multi(lua)
                    }
                    Ok(None) => {
                        log(
                            "info",
                            &remote,
                            "session id unknown or expired; a new session starts",
                        );
                        false.into_lua_multi(lua)
                    }
                    Err(e) => {
                        log(
                            "error",
                            &remote,
                            &format!("session store: {e}; a new session starts"),
                        );
                        false.into_lua_multi(lua)
                    }
                },
            )
        })?,
    )?;
    // put(id, old_id, json) -> ticket (-> true | nil, message)
    n.raw_set(
        "put",
        lua.create_function(|lua, (id, old, json): (String, Option<String>, String)| {
            let s = settings(lua);
            let db = store(&s).map_err(mlua::Error::runtime)?;
            let expires = now() + s.max_age;
            submit(
                lua,
                move || session::put(&db, &id, old.as_deref(), &json, expires, now()),
                |lua, r| match r {
                    Ok(()) => true.into_lua_multi(lua),
                    Err(e) => (Value::Nil, e.message).into_lua_multi(lua),
                },
            )
        })?,
    )?;
    // remove(id) -> ticket (-> true | nil, message)
    n.raw_set(
        "remove",
        lua.create_function(|lua, id: String| {
            let db = store(&settings(lua)).map_err(mlua::Error::runtime)?;
            submit(
                lua,
                move || session::remove(&db, &id),
                |lua, r| match r {
                    Ok(()) => true.into_lua_multi(lua),
                    Err(e) => (Value::Nil, e.message).into_lua_multi(lua),
                },
            )
        })?,
    )?;
    let (hooks, api, cookie): (Table, Table, Function) =
        lua.load(SOURCE).set_name("=flutter.session").call((
            n,
            await_fn,
            library
                .raw_get::<Table>("json")?
                .raw_get::<Function>("encode")?,
            library
                .raw_get::<Table>("json")?
                .raw_get::<Function>("decode")?,
        ))?;
    natives
        .raw_get::<Function>("use_session")?
        .call::<()>(hooks)?;
    library.raw_set("session", api)?;
    library.raw_set("cookie", cookie)
}
