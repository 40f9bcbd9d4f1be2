//! What a handler returns, turned into a [`Response`]. The forms (DESIGN.md):
//! a string; `{ status, headers, body }`; `{ json = value }`; a streamed
//! `body = function`; `{ file = "path" }` (sent by the worker, see
//! `crate::files`); and Flutter 0.3's `{ head = { mimetype, status, ... }, body }`.
//! Header names and values from Lua are checked so a handler can never break
//! the framing of what goes on the wire.

use super::coroutine::{Coroutine, Raw};
use super::raw;
use crate::http::message::{is_field_value, is_token, Bytes, Header, Response, ResponseBody};
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::borrow::Cow;
use std::os::raw::c_int;

const HTML: &[u8] = b"text/html; charset=utf-8";

/// The response, and the function producing its body when it is streamed
/// (its body is then [`ResponseBody::Stream`]).
pub fn convert(lua: &Lua, value: Value) -> Result<(Response, Option<Function>), String> {
    match value {
        Value::String(s) => Ok((html(held(&s)), None)),
        Value::Table(t) => from_table(lua, &t),
        Value::Nil => {
            Err("the handler returned nothing; return a string or a response table".into())
        }
        other => Err(format!(
            "the handler returned a {}; return a string or a response table",
            other.type_name()
        )),
    }
}

/// The answer to a handler that returned a string: 200, as HTML.
pub fn html(body: Bytes) -> Response {
    static HEADERS: [Header; 1] = [(Cow::Borrowed("content-type"), Cow::Borrowed(HTML))];
    Response {
        status: 200,
        headers: Cow::Borrowed(&HEADERS),
        body: ResponseBody::Full(body),
    }
}

/// A Lua string as a body, not copied until it goes to the connection.
fn held(s: &mlua::LuaString) -> Bytes {
    Bytes::Held(Box::new(s.as_bytes()))
}

/// The fields of a response table, read in one protected call (mlua's
/// `Table::raw_get` makes one per key on Lua 5.1 and LuaJIT).
const FIELDS: [&[u8]; 6] = [b"head", b"status", b"headers", b"json", b"file", b"body"];

/// The common answers, read where they lie on the finished coroutine's
/// stack: no protected call and no mlua value (on LuaJIT each protected call
/// allocates two C closures). Those are a string, or `{ status = n, headers =
/// { name = "value" }, body = "..." }`, with a body of at most `max_body`
/// bytes (copied). None for any other form or any invalid field: [`convert`]
/// then reads it, and words its error.
pub fn from_stack(co: &Coroutine, max_body: usize) -> Option<Response> {
    if let Some(body) = co.string(0) {
        return (body.len() <= max_body).then(|| html(Bytes::Owned(body.to_vec())));
    }
    common_table(co, co.table(0)?, max_body)
}

fn common_table(co: &Coroutine, table: c_int, max_body: usize) -> Option<Response> {
    let mut status = 200;
    let mut headers: Vec<Header> = Vec::new();
    let mut body = Vec::new();
    let common = co.each_pair(table, &mut |key, value| {
        // Keys other than strings are ignored, as `from_table` ignores them.
        let Raw::Str(key) = key else { return true };
        match (key, value) {
            (b"status", Raw::Number(n)) if n.fract() == 0.0 => {
                checked_status(n as i64).map(|s| status = s).is_ok()
            }
            (b"headers", Raw::Table(fields)) => co.each_pair(fields, &mut |name, value| {
                let (Raw::Str(name), Raw::Str(value)) = (name, value) else {
                    return false;
                };
                checked_name(name)
                    .and_then(|name| {
                        let value = checked_value(name, value.to_vec())?;
                        headers.push((header_name(name), value.into()));
                        Ok(())
                    })
                    .is_ok()
            }),
            (b"body", Raw::Str(b)) if b.len() <= max_body => {
                body = b.to_vec();
                true
            }
            (b"status" | b"headers" | b"body", _) => false,
            (k, _) => !FIELDS.contains(&k),
        }
    });
    if !common {
        return None;
    }
    set_default_type(&mut headers, HTML);
    Some(Response {
        status,
        headers: headers.into(),
        body: ResponseBody::Full(body.into()),
    })
}

/// Every key and value of a table (raw), read in one protected call.
fn pairs(lua: &Lua, t: &Table) -> Result<Vec<(Value, Value)>, String> {
    // SAFETY: inside exec_raw's protected call, with the table at index 1;
    // push_pairs checks the stack for what it pushes.
    let flat: MultiValue = unsafe {
        lua.exec_raw(t, |l| {
            raw::push_pairs(l);
            mlua::ffi::lua_remove(l, 1);
        })
    }
    .map_err(|e| e.to_string())?;
    let mut flat = flat.into_iter();
    let mut out = Vec::with_capacity(flat.len() / 2);
    while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn from_table(lua: &Lua, t: &Table) -> Result<(Response, Option<Function>), String> {
    let lua_err = |e: mlua::Error| e.to_string();
    let mut status: u16 = 200;
    let mut headers: Vec<Header> = Vec::new();
    // SAFETY: inside exec_raw's protected call, with the table at index 1 and
    // room for six values (LUA_MINSTACK).
    let (head, status_v, headers_v, json, file, body): (Value, Value, Value, Value, Value, Value) =
        unsafe {
            lua.exec_raw(t, |l| {
                raw::push_fields(l, &FIELDS);
                mlua::ffi::lua_remove(l, 1);
            })
        }
        .map_err(lua_err)?;

    // Flutter 0.3: head = { mimetype = "...", status = n, <header> = value }
    if let Value::Table(head) = head {
        for (k, v) in pairs(lua, &head)? {
            let Value::String(k) = k else {
                return Err(format!(
                    "a head field name must be a string, not a {}",
                    k.type_name()
                ));
            };
            match &*k.to_string_lossy() {
                "mimetype" => push_header(&mut headers, "content-type", &v)?,
                "status" => status = parse_status(&v)?,
                name => push_header(&mut headers, name, &v)?,
            }
        }
    }
    match status_v {
        Value::Nil => {}
        v => status = parse_status(&v)?,
    }
    match headers_v {
        Value::Nil => {}
        Value::Table(h) => {
            for (k, v) in pairs(lua, &h)? {
                let name = match &k {
                    Value::String(s) => s
                        .to_str()
                        .map_err(|_| "a header name is not text".to_string())?
                        .to_string(),
                    other => {
                        return Err(format!(
                            "a header name must be a string, not a {}",
                            other.type_name()
                        ))
                    }
                };
                push_header(&mut headers, &name, &v)?;
            }
        }
        other => {
            return Err(format!(
                "headers must be a table, not a {}",
                other.type_name()
            ))
        }
    }

    let mut produce = None;
    let body = if !file.is_nil() {
        let Value::String(path) = &file else {
            return Err(format!(
                "file must be a path string, not a {}",
                file.type_name()
            ));
        };
        if !json.is_nil() || !body.is_nil() {
            return Err("a response has one of file, json and body".into());
        }
        let path = path.as_bytes();
        if path.is_empty() || path.contains(&0) {
            return Err("file must be a non-empty path without NUL".into());
        }
        use std::os::unix::ffi::OsStrExt;
        // Its Content-Type comes from the file name unless the handler set one.
        return Ok((
            Response {
                status,
                headers: headers.into(),
                body: ResponseBody::Path(std::ffi::OsStr::from_bytes(&path).into()),
            },
            None,
        ));
    } else if !json.is_nil() {
        let text = super::json::encode(&json)?;
        set_default_type(&mut headers, b"application/json");
        ResponseBody::Full(text.into_bytes().into())
    } else {
        match body {
            Value::Nil => ResponseBody::Full(Vec::new().into()),
            Value::String(s) => ResponseBody::Full(held(&s)),
            Value::Integer(_) | Value::Number(_) => {
                let s: String = t.raw_get("body").map_err(lua_err)?;
                ResponseBody::Full(s.into_bytes().into())
            }
            Value::Function(f) => {
                produce = Some(f);
                ResponseBody::Stream
            }
            other => {
                return Err(format!(
                    "body must be a string or a function, not a {}",
                    other.type_name()
                ))
            }
        }
    };
    set_default_type(&mut headers, HTML);
    Ok((
        Response {
            status,
            headers: headers.into(),
            body,
        },
        produce,
    ))
}

fn set_default_type(headers: &mut Vec<Header>, value: &'static [u8]) {
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), value.into()));
    }
}

fn parse_status(v: &Value) -> Result<u16, String> {
    let n = match v {
        Value::Integer(i) => *i,
        Value::Number(f) if f.fract() == 0.0 => *f as i64,
        Value::Number(f) => return Err(format!("invalid status {f}: must be a whole number")),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("invalid status {:?}", s.to_string_lossy()))?,
        other => {
            return Err(format!(
                "status must be a number, not a {}",
                other.type_name()
            ))
        }
    };
    checked_status(n)
}

fn checked_status(n: i64) -> Result<u16, String> {
    if !(200..=599).contains(&n) {
        return Err(format!("invalid status {n}: must be 200 to 599"));
    }
    Ok(n as u16)
}

/// Names handlers set often, kept without an allocation when written so.
const COMMON_NAMES: [&str; 6] = [
    "content-type",
    "cache-control",
    "location",
    "set-cookie",
    "etag",
    "last-modified",
];

fn header_name(name: &str) -> Cow<'static, str> {
    match COMMON_NAMES.iter().find(|n| **n == name) {
        Some(n) => Cow::Borrowed(n),
        None => Cow::Owned(name.to_string()),
    }
}

/// Adds `name: value`, or one field per element when value is an array (Set-Cookie).
fn push_header(headers: &mut Vec<Header>, name: &str, value: &Value) -> Result<(), String> {
    checked_name(name.as_bytes())?;
    let one = |v: &Value| -> Result<Vec<u8>, String> {
        let bytes = match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(i) => i.to_string().into_bytes(),
            Value::Number(n) => n.to_string().into_bytes(),
            Value::Boolean(b) => b.to_string().into_bytes(),
            other => return Err(format!("header {name:?} has a {} value", other.type_name())),
        };
        checked_value(name, bytes)
    };
    match value {
        Value::Table(list) => {
            for v in list.sequence_values::<Value>() {
                let v = v.map_err(|e| e.to_string())?;
                headers.push((header_name(name), one(&v)?.into()));
            }
        }
        v => headers.push((header_name(name), one(v)?.into())),
    }
    Ok(())
}

/// A header name a handler gave, if it is a token (so also ASCII).
fn checked_name(name: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(name) {
        Ok(n) if is_token(name) => Ok(n),
        _ => Err(format!(
            "invalid header name {:?}",
            String::from_utf8_lossy(name)
        )),
    }
}

fn checked_value(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if !is_field_value(&bytes) {
        return Err(format!("header {name:?} has a value with CR, LF or NUL"));
    }
    Ok(bytes)
}
