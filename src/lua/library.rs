//! The `flutter` library every Lua state gets (`require "flutter"`): JSON,
//! logging, escaping, and the yielding functions the prelude defines.

use crate::escape;
use mlua::{Lua, Table, Value, Variadic};

pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let flutter = lua.create_table()?;
    flutter.raw_set("version", env!("CARGO_PKG_VERSION"))?;

    let array_mt = lua.create_table()?;
    array_mt.raw_set("__name", "flutter.json.array")?;
    lua.set_named_registry_value("flutter.json.array_mt", &array_mt)?;

    let json = lua.create_table()?;
    json.raw_set("null", super::json::null())?;
    json.raw_set("array_mt", array_mt)?;
    json.raw_set(
        "encode",
        lua.create_function(|_, v: Value| super::json::encode(&v).map_err(mlua::Error::runtime))?,
    )?;
    json.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            super::json::decode(lua, &text.as_bytes()).map_err(mlua::Error::runtime)
        })?,
    )?;
    flutter.raw_set("json", json)?;

    // flutter.log(message) or flutter.log(level, message...), level one of debug/info/warn/error.
    flutter.raw_set(
        "log",
        lua.create_function(|_, args: Variadic<Value>| {
            let mut parts: Vec<String> = args.iter().map(display).collect();
            let level = match parts.first().map(String::as_str) {
                Some(l @ ("debug" | "info" | "warn" | "error")) if parts.len() > 1 => {
                    let l = l.to_string();
                    parts.remove(0);
                    l
                }
                _ => "info".to_string(),
            };
            crate::log::line(&level, &format!("lua: {}", parts.join(" ")));
            Ok(())
        })?,
    )?;
    flutter.raw_set(
        "escape_html",
        lua.create_function(|lua, s: mlua::LuaString| {
            lua.create_string(escape::html_escape(&s.as_bytes()))
        })?,
    )?;
    flutter.raw_set(
        "escape_uri",
        lua.create_function(|_, s: mlua::LuaString| Ok(escape::url_encode(&s.as_bytes())))?,
    )?;
    flutter.raw_set(
        "unescape_uri",
        lua.create_function(|lua, s: mlua::LuaString| {
            lua.create_string(escape::percent_decode(&s.as_bytes(), true))
        })?,
    )?;
    Ok(flutter)
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string_lossy(),
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{}: {:?}", other.type_name(), other.to_pointer()),
    }
}
