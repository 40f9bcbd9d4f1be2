//! `flutter.json`: JSON to Lua and back.
//!
//! Rules (also in README):
//! - `null` decodes to `flutter.json.null`; `nil` and `flutter.json.null` encode to `null`.
//! - A JSON array decodes to a sequence marked with `flutter.json.array_mt`, so an
//!   empty array encodes back as `[]`.
//! - A table encodes as an array when it carries that metatable or is a
//!   non-empty sequence (keys exactly 1..n); otherwise as an object, whose keys
//!   must be strings or numbers (numbers become strings). An empty table is `{}`.
//! - Integers stay integers (up to 64 bits); NaN and infinities, functions,
//!   userdata, cycles, nesting over 128 levels and strings that are not UTF-8
//!   are refused with an error naming the problem.

use mlua::{Lua, Table, Value};
use std::fmt::Write;

const MAX_DEPTH: usize = 128;

/// The metatable marking a table as a JSON array.
pub fn array_mt(lua: &Lua) -> mlua::Result<Table> {
    lua.named_registry_value("flutter.json.array_mt")
}

/// The `flutter.json.null` sentinel.
pub fn null() -> Value {
    Value::NULL
}

pub fn encode(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut stack = Vec::new();
    write_value(&mut out, value, &mut stack)?;
    Ok(out)
}

fn write_value(
    out: &mut String,
    value: &Value,
    stack: &mut Vec<*const std::ffi::c_void>,
) -> Result<(), String> {
    match value {
        Value::Nil => out.push_str("null"),
        Value::LightUserData(p) if p.0.is_null() => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Number(n) => {
            if !n.is_finite() {
                return Err(format!("cannot encode {n} as JSON"));
            }
            if n.fract() == 0.0 && n.abs() < 1e15 {
                let _ = write!(out, "{}", *n as i64);
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => {
            let bytes = s.as_bytes();
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| "cannot encode a string that is not UTF-8 as JSON".to_string())?;
            write_string(out, text);
        }
        Value::Table(t) => write_table(out, t, stack)?,
        other => return Err(format!("cannot encode a {} as JSON", other.type_name())),
    }
    Ok(())
}

fn write_table(
    out: &mut String,
    t: &Table,
    stack: &mut Vec<*const std::ffi::c_void>,
) -> Result<(), String> {
    let ptr = t.to_pointer();
    if stack.contains(&ptr) {
        return Err("cannot encode a table that contains itself as JSON".into());
    }
    if stack.len() >= MAX_DEPTH {
        return Err(format!(
            "cannot encode tables nested over {MAX_DEPTH} levels as JSON"
        ));
    }
    stack.push(ptr);
    let lua_err = |e: mlua::Error| e.to_string();
    let marked = match t.metatable() {
        Some(mt) => t
            .weak_lua()
            .try_upgrade()
            .is_some_and(|lua| array_mt(&lua).is_ok_and(|a| a.to_pointer() == mt.to_pointer())),
        None => false,
    };
    let len = t.raw_len();
    let is_array = marked || (len > 0 && t.pairs::<Value, Value>().count() == len);
    if is_array {
        out.push('[');
        for i in 1..=len {
            if i > 1 {
                out.push(',');
            }
            let v: Value = t.raw_get(i).map_err(lua_err)?;
            write_value(out, &v, stack)?;
        }
        out.push(']');
    } else {
        out.push('{');
        let mut first = true;
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(lua_err)?;
            if !first {
                out.push(',');
            }
            first = false;
            match &k {
                Value::String(s) => {
                    let bytes = s.as_bytes();
                    let key = std::str::from_utf8(&bytes)
                        .map_err(|_| "cannot encode a key that is not UTF-8 as JSON".to_string())?;
                    write_string(out, key);
                }
                Value::Integer(i) => write_string(out, &i.to_string()),
                Value::Number(n) => write_string(out, &n.to_string()),
                other => return Err(format!("cannot encode a {} key as JSON", other.type_name())),
            }
            out.push(':');
            write_value(out, &v, stack)?;
        }
        out.push('}');
    }
    stack.pop();
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Escaped so JSON can be embedded in HTML <script> safely.
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes JSON text into a Lua value.
pub fn decode(lua: &Lua, text: &[u8]) -> Result<Value, String> {
    let parsed: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let array_mt = array_mt(lua).map_err(|e| e.to_string())?;
    to_lua(lua, &parsed, &array_mt).map_err(|e| e.to_string())
}

fn to_lua(lua: &Lua, v: &serde_json::Value, array_mt: &Table) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::NULL,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item, array_mt)?)?;
            }
            t.set_metatable(Some(array_mt.clone()))?;
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item, array_mt)?)?;
            }
            Value::Table(t)
        }
    })
}
