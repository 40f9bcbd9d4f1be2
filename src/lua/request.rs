//! The `req` table a handler receives, and the native functions behind its
//! body fields. Everything from the wire reaches Lua as byte strings, as sent;
//! nothing from the wire is ever evaluated.

use super::raw;
use crate::body::SharedBody;
use crate::escape::percent_decode;
use crate::form::{cookie, multipart, urlencoded};
use crate::http::message::{Method, Request, Target};
use mlua::{IntoLuaMulti, Lua, Table, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::os::raw::c_int;
use std::rc::Rc;

/// Largest number of parts a multipart body may have.
const MAX_PARTS: usize = 1000;
/// Largest header block of one multipart part.
const MAX_PART_HEADER_BYTES: usize = 16 << 10;
/// Default size of one `req:read()`.
const DEFAULT_READ: usize = 64 << 10;

/// One request as Lua holds it: the parts of `req` built only when a handler
/// first reads them (most handlers read few), and the body. Uploaded files
/// spooled by the multipart parser live here and are removed when the request ends.
pub struct BodyCtx {
    pub body: SharedBody,
    pub parts: RefCell<Vec<multipart::Part>>,
    method: Method,
    /// The path percent-decoded, when that changed it (see [`BodyCtx::path`]).
    decoded: Option<Vec<u8>>,
    headers: Vec<crate::http::message::RequestHeader>,
    target: Target,
    version: &'static str,
    scheme: &'static str,
    id: u64,
    remote: std::net::SocketAddr,
    tls: Option<Rc<crate::http::message::TlsInfo>>,
}

impl BodyCtx {
    /// The path, percent-decoded.
    fn path(&self) -> &[u8] {
        match &self.decoded {
            Some(d) => d,
            None => self.target.path().as_bytes(),
        }
    }

    /// Ends the request's hold on its body: uploaded files and the spooled body
    /// are removed now, though the connection still shares the body.
    pub fn release(&self) {
        self.parts.borrow_mut().clear();
        self.body.borrow_mut().release();
    }
}

/// The requests a Lua state is running, by handle. `req` holds its
/// request's handle as a plain integer: a userdata per request, with its
/// finalizer, cost about a tenth of a small request. A handle kept past its
/// request finds nothing (its slot's generation has moved on).
///
/// A handle is the slot's generation above its index in [`INDEX_BITS`] bits,
/// 53 bits in all: LuaJIT and Lua 5.1 hold every number as a double, which
/// keeps integers exact up to 2^53 only.
#[derive(Default)]
pub struct Requests {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

/// Bits of a handle that hold the slot's index: up to 2M requests at once
/// per Lua state.
const INDEX_BITS: u32 = 21;
const INDEX_MASK: i64 = (1 << INDEX_BITS) - 1;

#[derive(Default)]
struct Slot {
    generation: u32,
    ctx: Option<Rc<BodyCtx>>,
}

impl Requests {
    /// Registers a request; the handle is what `req` keeps. Fails when the
    /// state already runs as many requests as a handle can tell apart.
    pub fn insert(&self, ctx: Rc<BodyCtx>) -> Option<i64> {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None if slots.len() <= INDEX_MASK as usize => {
                slots.push(Slot::default());
                (slots.len() - 1) as u32
            }
            None => return None,
        };
        let slot = &mut slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.ctx = Some(ctx);
        Some(i64::from(slot.generation) << INDEX_BITS | i64::from(index))
    }

    /// Ends a request: its uploads and spooled body are removed, and its
    /// handle finds nothing from now on.
    pub fn remove(&self, handle: i64) {
        let index = (handle & INDEX_MASK) as u32;
        let ctx = self
            .slots
            .borrow_mut()
            .get_mut(index as usize)
            .and_then(|slot| slot.ctx.take());
        if let Some(ctx) = ctx {
            ctx.release();
            self.free.borrow_mut().push(index);
        }
    }

    /// `f` of a running request's headers (none once it ended).
    pub fn with_headers<T>(
        &self,
        handle: i64,
        f: impl FnOnce(&[crate::http::message::RequestHeader]) -> T,
    ) -> T {
        let ctx = self.find(handle, Rc::clone);
        f(ctx.as_ref().map_or(&[], |c| &c.headers))
    }

    fn get(&self, handle: i64) -> mlua::Result<Rc<BodyCtx>> {
        self.find(handle, Rc::clone)
            .ok_or_else(|| mlua::Error::runtime(ENDED.to_string_lossy()))
    }

    /// `f` of the request a handle names, if it still runs.
    fn find<T>(&self, handle: i64, f: impl FnOnce(&Rc<BodyCtx>) -> T) -> Option<T> {
        let index = (handle & INDEX_MASK) as usize;
        let generation = (handle >> INDEX_BITS) as u32;
        self.slots
            .borrow()
            .get(index)
            .filter(|s| s.generation == generation)
            .and_then(|s| s.ctx.as_ref())
            .map(f)
    }
}

const ENDED: &std::ffi::CStr = c"req was used after its request ended";

/// A request failure answered with a status other than 500 (a malformed body).
pub struct BadBody {
    pub status: u16,
    pub message: String,
}

impl BadBody {
    fn new(status: u16, message: impl Into<String>) -> BadBody {
        BadBody {
            status,
            message: message.into(),
        }
    }
}

impl From<mlua::Error> for BadBody {
    fn from(e: mlua::Error) -> BadBody {
        BadBody::new(500, e.to_string())
    }
}

impl From<std::io::Error> for BadBody {
    fn from(e: std::io::Error) -> BadBody {
        BadBody::new(500, format!("cannot read the spooled request body: {e}"))
    }
}

/// Sets `t[k] = v`, turning repeated keys into arrays of values in order.
fn add_multi(lua: &Lua, t: &Table, k: &[u8], v: Value) -> mlua::Result<()> {
    let key = lua.create_string(k)?;
    match t.raw_get::<Value>(&key)? {
        Value::Nil => t.raw_set(key, v),
        // Already a list of values (a file's table has no [1]).
        Value::Table(list) if list.raw_len() > 0 => list.raw_push(v),
        first => {
            let arr = lua.create_sequence_from([first, v])?;
            t.raw_set(key, arr)
        }
    }
}

/// Request headers as `req.headers` shows them: repeated fields combined as
/// RFC 9110 §5.3 allows (cookies with "; "), first appearance order.
fn combined_headers(headers: &[crate::http::message::RequestHeader]) -> Vec<Pair<'_>> {
    let mut out: Vec<Pair> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match out.iter_mut().find(|(n, _)| **n == *name.as_bytes()) {
            None => out.push((Cow::Borrowed(name.as_bytes()), Cow::Borrowed(value))),
            Some((_, prev)) => {
                let sep: &[u8] = if name == "cookie" { b"; " } else { b", " };
                let joined = [&prev[..], sep, value].concat();
                *prev = Cow::Owned(joined);
            }
        }
    }
    out
}

/// The fields `build` sets, in order: those nearly every handler reads.
/// Each costs a table insertion per request (~300 instructions); the other
/// scalar fields are built on first use like `headers` (see [`Lazy`]).
const KEYS: [&[u8]; 2] = [b"method", b"path"];
/// Values those fields often have, by group (the group indexes below).
const GROUPS: [&[&[u8]]; 2] = [&[b"GET", b"POST", b"HEAD"], &[b"/"]];
const METHODS: usize = 0;
const PATHS: usize = 1;

/// What the prelude keeps private to `req`, after the strings in the
/// interned table: the handle's key, the key saying the body fields are set,
/// and `req`'s metatable.
const PRIVATE: usize = 3;
const HANDLE_KEY: usize = 0;
const FILLED_KEY: usize = 1;
const REQ_MT: usize = 2;

/// The place in the interned table (from 0) of the first value of group
/// `g`; of the first private value for `g` = GROUPS.len().
const fn group_start(g: usize) -> usize {
    let mut at = KEYS.len();
    let mut i = 0;
    while i < g {
        at += GROUPS[i].len();
        i += 1;
    }
    at
}

/// The place of private value `i` in the interned table.
fn private_at(i: usize) -> usize {
    group_start(GROUPS.len()) + i + 1
}

/// The strings above, interned once per state in one table (KEYS, then the
/// groups in order): a string pushed from there is a table read, where
/// pushing its text hashes it again, which was about a third of building
/// `req`. The prelude's private values follow (see [`add_private`]).
pub fn interned(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for s in KEYS.iter().chain(GROUPS.iter().flat_map(|g| g.iter())) {
        t.raw_push(lua.create_string(s)?)?;
    }
    Ok(t)
}

/// Appends the prelude's `private` values (PRIVATE of them) to the interned table.
pub fn add_private(interned: &Table, private: &Table) -> mlua::Result<()> {
    for i in 1..=PRIVATE {
        interned.raw_push(private.raw_get::<Value>(i)?)?;
    }
    Ok(())
}

/// Marks `req`'s body fields as set (the body was read before the handler).
pub fn mark_filled(interned: &Table, req: &Table) -> mlua::Result<()> {
    req.raw_set(interned.raw_get::<Value>(private_at(FILLED_KEY))?, true)
}

/// Where the interned values are for [`push_req`]: a table on the stack, or
/// `new_req`'s upvalues (a copy of the table, pushed for half the cost of
/// a table read).
#[derive(Clone, Copy)]
enum Interned {
    Table(c_int),
    Upvalues,
}

/// `new_req`'s upvalues: the state's [`Requests`], then the interned table's values.
const UP_REQUESTS: c_int = 1;
const UP_INTERNED: c_int = 2;

impl Interned {
    /// Pushes interned value `i` (from 1).
    unsafe fn push(self, l: *mut mlua::ffi::lua_State, i: usize) {
        match self {
            Interned::Table(t) => {
                mlua::ffi::lua_rawgeti(l, t, i as mlua::ffi::lua_Integer);
            }
            Interned::Upvalues => {
                let up = mlua::ffi::lua_upvalueindex(UP_INTERNED - 1 + i as c_int);
                mlua::ffi::lua_pushvalue(l, up);
            }
        }
    }
}

/// Pushes `value`: interned when it is in group `g`, else as new text.
unsafe fn push_value(l: *mut mlua::ffi::lua_State, interned: Interned, value: &[u8], g: usize) {
    match GROUPS[g].iter().position(|s| *s == value) {
        Some(i) => interned.push(l, group_start(g) + i + 1),
        None => raw::push_bytes(l, value),
    }
}

/// What Lua keeps of a request: what `req` is built from. Takes the
/// request's fields instead of copying them (but the method, which the
/// worker keeps too and which is static when standard).
pub fn context(req: &mut Request) -> Rc<BodyCtx> {
    let path = req.target.path().as_bytes();
    Rc::new(BodyCtx {
        body: req.body.clone(),
        parts: RefCell::new(Vec::new()),
        // A standard method is static: the clone costs nothing.
        method: req.method.clone(),
        decoded: path.contains(&b'%').then(|| percent_decode(path, false)),
        headers: std::mem::take(&mut req.headers),
        target: std::mem::take(&mut req.target),
        version: req.version,
        scheme: req.scheme,
        id: req.id,
        remote: req.remote,
        tls: req.tls.clone(),
    })
}

/// Returns to `req` what [`context`] took, for a request that did not start
/// (its error is logged with the method and target).
pub fn give_back(ctx: Rc<BodyCtx>, req: &mut Request) {
    if let Ok(ctx) = Rc::try_unwrap(ctx) {
        req.headers = ctx.headers;
        req.target = ctx.target;
    }
}

/// Builds `req` for a request: `method` and `path` now, the other fields on
/// first use (see [`Lazy`] and the prelude), the body fields once the
/// body is complete. `handle` is the request's in [`Requests`]; `req` gets
/// its metatable here too. Pushes `req`.
///
/// # Safety
/// Inside a protected call, with the interned values at `interned`; the
/// request data is borrowed (an allocation failure unwinds through here).
unsafe fn push_req(l: *mut mlua::ffi::lua_State, interned: Interned, ctx: &BodyCtx, handle: i64) {
    use mlua::ffi;
    ffi::lua_createtable(l, 0, 4);
    // In KEYS order; the interned values start with KEYS.
    let strings: [(&[u8], usize); 2] = [(ctx.method.as_bytes(), METHODS), (ctx.path(), PATHS)];
    for (key, &(value, group)) in strings.iter().enumerate() {
        interned.push(l, key + 1);
        push_value(l, interned, value, group);
        ffi::lua_rawset(l, -3);
    }
    interned.push(l, private_at(HANDLE_KEY));
    ffi::lua_pushinteger(l, handle);
    ffi::lua_rawset(l, -3);
    interned.push(l, private_at(REQ_MT));
    ffi::lua_setmetatable(l, -2);
}

/// `req` for a request whose body is here already, built before the handler
/// runs so that its body fields can be filled in first.
pub fn build(lua: &Lua, interned: &Table, ctx: &BodyCtx, handle: i64) -> mlua::Result<Table> {
    // SAFETY: inside mlua's protected call with the interned table at index 1
    // and room for push_req's pushes; leaves exactly `req` on the stack.
    unsafe {
        lua.exec_raw(interned, |l| {
            push_req(l, Interned::Table(1), ctx, handle);
            mlua::ffi::lua_remove(l, 1);
        })
    }
}

/// `new_req(handle)`: `req` for a request that has no body to fill in, built
/// inside the request's coroutine when the handler starts. That saves the
/// protected call `build` needs, which cost about as much as the table.
/// Upvalues: see [`UP_REQUESTS`] and [`UP_INTERNED`].
unsafe extern "C-unwind" fn new_req(l: *mut mlua::ffi::lua_State) -> c_int {
    use mlua::ffi;
    // SAFETY: the upvalue is the Requests of the state's `Installed`, which
    // lives as long as the state (see new_req_function).
    let requests =
        &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(UP_REQUESTS)) as *const Requests);
    let handle = ffi::lua_tointeger(l, 1);
    // The slot keeps the context alive while the request runs, and nothing
    // here ends it; no borrow may be held across Lua calls (they can unwind).
    match requests.find(handle, Rc::as_ptr) {
        Some(ctx) => {
            push_req(l, Interned::Upvalues, &*ctx, handle);
            1
        }
        None => ffi::luaL_error(l, c"%s".as_ptr(), ENDED.as_ptr()),
    }
}

/// The `new_req` native function of a state, made once the interned table
/// is complete (its private values added).
pub fn new_req_function(
    lua: &Lua,
    interned: &Table,
    requests: &Rc<Requests>,
) -> mlua::Result<mlua::Function> {
    let requests = Rc::as_ptr(requests) as *mut std::ffi::c_void;
    let count = private_at(PRIVATE - 1) as c_int;
    // SAFETY: a protected call with the interned table at index 1 and room
    // for the pushes (checked); the closure takes the pointer and the
    // table's values as upvalues and is left alone on the stack.
    unsafe {
        lua.exec_raw(interned, |l| {
            mlua::ffi::luaL_checkstack(l, count + 1, std::ptr::null());
            mlua::ffi::lua_pushlightuserdata(l, requests);
            for i in 1..=count {
                mlua::ffi::lua_rawgeti(l, 1, mlua::ffi::lua_Integer::from(i));
            }
            mlua::ffi::lua_pushcclosure(l, new_req, UP_INTERNED - 1 + count);
            mlua::ffi::lua_remove(l, 1);
        })
    }
}

/// A key and value for a table of `req`, borrowed from the request or made for it.
type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A lazily built field of `req`, made before the protected call that
/// pushes it (the push holds borrowed data only, see [`raw`]).
enum Lazy<'a> {
    /// A table of one value per key.
    Pairs(Vec<Pair<'a>>),
    /// A table where a repeated key gives an array of values (query args).
    Multi(Vec<(Vec<u8>, Vec<u8>)>),
    Text(Cow<'a, [u8]>),
    Integer(i64),
    Tls(&'a crate::http::message::TlsInfo),
    Nil,
}

impl<'a> Lazy<'a> {
    /// Field `name` of the request (nil for any other name).
    fn of(ctx: &'a BodyCtx, name: &[u8]) -> Lazy<'a> {
        match name {
            b"headers" => Lazy::Pairs(combined_headers(&ctx.headers)),
            b"args" => Lazy::Multi(urlencoded::parse(ctx.target.query().as_bytes())),
            b"cookies" => {
                let mut cookies: Vec<Pair> = Vec::new();
                for (_, value) in ctx.headers.iter().filter(|(n, _)| n == "cookie") {
                    for (k, v) in cookie::parse(value) {
                        // The first of several cookies with one name wins (RFC 6265 orders them most specific first).
                        if !cookies.iter().any(|(seen, _)| **seen == k) {
                            cookies.push((k.into(), v.into()));
                        }
                    }
                }
                Lazy::Pairs(cookies)
            }
            b"query" => Lazy::Text(ctx.target.query().as_bytes().into()),
            b"uri" => Lazy::Text(ctx.target.as_str().as_bytes().into()),
            b"version" => Lazy::Text(ctx.version.as_bytes().into()),
            b"scheme" => Lazy::Text(ctx.scheme.as_bytes().into()),
            b"remote_port" => Lazy::Integer(ctx.remote.port().into()),
            b"id" => Lazy::Integer(ctx.id as i64),
            b"remote_addr" => Lazy::Text(ctx.remote.ip().to_string().into_bytes().into()),
            b"tls" => ctx.tls.as_deref().map_or(Lazy::Nil, Lazy::Tls),
            _ => Lazy::Nil,
        }
    }

    /// Pushes the field.
    ///
    /// # Safety
    /// Inside a protected call, with room for five values.
    unsafe fn push(&self, l: *mut mlua::ffi::lua_State) {
        use mlua::ffi;
        let table = |n: usize| ffi::lua_createtable(l, 0, n.min(64) as c_int);
        match self {
            Lazy::Pairs(pairs) => {
                table(pairs.len());
                for (k, v) in pairs {
                    raw::set_bytes(l, k, v);
                }
            }
            Lazy::Multi(pairs) => {
                table(pairs.len());
                for (k, v) in pairs {
                    raw::add_multi(l, k, v);
                }
            }
            Lazy::Text(text) => raw::push_bytes(l, text),
            Lazy::Integer(i) => ffi::lua_pushinteger(l, *i),
            Lazy::Tls(tls) => push_tls(l, tls),
            Lazy::Nil => ffi::lua_pushnil(l),
        }
    }
}

/// `req.tls`: the session and, when one was sent, the client's certificate.
///
/// # Safety
/// As [`Lazy::push`].
unsafe fn push_tls(l: *mut mlua::ffi::lua_State, tls: &crate::http::message::TlsInfo) {
    use mlua::ffi;
    ffi::lua_createtable(l, 0, 5);
    raw::set_bytes(l, b"version", tls.version.as_bytes());
    raw::set_bytes(l, b"cipher", tls.cipher.as_bytes());
    // A missing alpn or sni stays nil.
    if let Some(alpn) = &tls.alpn {
        raw::set_bytes(l, b"alpn", alpn.as_bytes());
    }
    if let Some(sni) = &tls.sni {
        raw::set_bytes(l, b"sni", sni.as_bytes());
    }
    if let Some(c) = &tls.client {
        raw::push_bytes(l, b"client");
        ffi::lua_createtable(l, 0, 8);
        raw::push_bytes(l, b"verified");
        ffi::lua_pushboolean(l, c_int::from(c.verified));
        ffi::lua_rawset(l, -3);
        raw::set_bytes(l, b"subject", c.subject.as_bytes());
        raw::set_bytes(l, b"issuer", c.issuer.as_bytes());
        raw::set_bytes(l, b"serial", c.serial.as_bytes());
        for (key, time) in [
            (&b"not_before"[..], c.not_before),
            (b"not_after", c.not_after),
        ] {
            raw::push_bytes(l, key);
            ffi::lua_pushinteger(l, time);
            ffi::lua_rawset(l, -3);
        }
        raw::set_bytes(l, b"fingerprint_sha256", c.fingerprint_sha256.as_bytes());
        raw::set_bytes(l, b"pem", c.pem.as_bytes());
        ffi::lua_rawset(l, -3);
    }
}

/// `req_field(handle, name)`: a lazily built field of `req` (see [`Lazy`]).
/// A C function: mlua's callback and protected call cost more than most
/// fields do. Upvalues: the state's [`Requests`] and [`raw::trampoline`].
unsafe extern "C-unwind" fn req_field(l: *mut mlua::ffi::lua_State) -> c_int {
    use mlua::ffi;
    // SAFETY: as in new_req.
    let requests = &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const Requests);
    let handle = ffi::lua_tointeger(l, 1);
    let Some(ctx) = requests.find(handle, Rc::as_ptr) else {
        return ffi::luaL_error(l, c"%s".as_ptr(), ENDED.as_ptr());
    };
    let mut len = 0;
    let name = ffi::luaL_checklstring(l, 2, &mut len);
    let field = Lazy::of(&*ctx, std::slice::from_raw_parts(name as *const u8, len));
    let status = raw::protected(l, ffi::lua_upvalueindex(2), &mut |l| field.push(l));
    // Nothing owned may be left when the error is raised again.
    drop(field);
    if status != ffi::LUA_OK {
        ffi::lua_error(l);
    }
    1
}

fn content_type(ctx: &BodyCtx) -> &[u8] {
    crate::http::message::header_values(&ctx.headers, "content-type")
        .next()
        .unwrap_or_default()
}

fn media_type_is(ct: &[u8], want: &str) -> bool {
    let main = ct.split(|&b| b == b';').next().unwrap_or_default();
    main.trim_ascii().eq_ignore_ascii_case(want.as_bytes())
}

fn is_json(ct: &[u8]) -> bool {
    let main = ct
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    main.eq_ignore_ascii_case(b"application/json")
        || (main.len() > 5 && main[main.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// Sets `body`, `body_path`, `form`, `files` and `json` on `req` from a complete body.
/// A malformed form or JSON body raises an error answered with 400.
pub fn fill(lua: &Lua, req: &Table, ctx: &BodyCtx) -> Result<(), BadBody> {
    let ct = content_type(ctx);
    let mut body = ctx.body.borrow_mut();
    if let Some(path) = body.spool_path() {
        req.raw_set("body_path", path.to_string_lossy().as_ref())?;
    }
    let form = lua.create_table()?;
    if media_type_is(ct, "multipart/form-data") {
        let boundary = multipart::boundary(ct)
            .ok_or_else(|| BadBody::new(400, "multipart body without a valid boundary"))?;
        let mut parser = multipart::MultipartParser::new(
            &boundary,
            multipart::Limits {
                max_parts: MAX_PARTS,
                max_part_header_bytes: MAX_PART_HEADER_BYTES,
                spool_threshold: 64 << 10,
                spool_dir: body.temp_dir().to_path_buf(),
            },
        );
        let mut failure = None;
        body.for_each_chunk(|chunk| match parser.feed(chunk) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e.reason);
                false
            }
        })?;
        if let Some(reason) = failure {
            return Err(BadBody::new(
                400,
                format!("malformed multipart body: {reason}"),
            ));
        }
        let parts = parser
            .finish()
            .map_err(|e| BadBody::new(400, format!("malformed multipart body: {}", e.reason)))?;
        let files = lua.create_table()?;
        for part in &parts {
            let value = match (&part.filename, &part.data) {
                (None, multipart::PartData::Memory(data)) => {
                    Value::String(lua.create_string(data)?)
                }
                (filename, data) => {
                    let f = lua.create_table()?;
                    if let Some(name) = filename {
                        f.raw_set("name", lua.create_string(name)?)?;
                    }
                    if let Some(t) = &part.content_type {
                        f.raw_set("type", lua.create_string(t)?)?;
                    }
                    match data {
                        multipart::PartData::Memory(d) => {
                            f.raw_set("size", d.len())?;
                            f.raw_set("data", lua.create_string(d)?)?;
                        }
                        multipart::PartData::File { path, size } => {
                            f.raw_set("size", *size)?;
                            f.raw_set("path", path.to_string_lossy().as_ref())?;
                        }
                    }
                    add_multi(lua, &files, &part.name, Value::Table(f.clone()))?;
                    Value::Table(f)
                }
            };
            add_multi(lua, &form, &part.name, value)?;
        }
        req.raw_set("files", files)?;
        ctx.parts.borrow_mut().extend(parts);
    } else if media_type_is(ct, "application/x-www-form-urlencoded") {
        let bytes = body.to_bytes()?;
        for (k, v) in urlencoded::parse(&bytes) {
            add_multi(lua, &form, &k, Value::String(lua.create_string(&v)?))?;
        }
    }
    req.raw_set("form", form)?;
    if body.in_memory().is_some() || body.received <= 64 << 20 {
        let bytes = match body.in_memory() {
            Some(b) => lua.create_string(b)?,
            None => lua.create_string(body.to_bytes()?)?,
        };
        if is_json(ct) && !bytes.as_bytes().is_empty() {
            let v = super::json::decode(lua, &bytes.as_bytes())
                .map_err(|e| BadBody::new(400, format!("malformed JSON body: {e}")))?;
            req.raw_set("json", v)?;
        }
        req.raw_set("body", bytes)?;
    }
    Ok(())
}

/// The native functions the prelude's `req` metatable calls. A failed body
/// comes back as `nil, status, message` for the prelude to raise.
pub fn natives(lua: &Lua, t: &Table, requests: &Rc<Requests>) -> mlua::Result<()> {
    // body_read(handle, n) -> string | false (nothing yet) | nil (end)
    let r = requests.clone();
    t.raw_set(
        "body_read",
        lua.create_function(move |lua, (h, n): (i64, Option<usize>)| {
            let ctx = r.get(h)?;
            let mut body = ctx.body.borrow_mut();
            if let Some(why) = &body.failed {
                return (Value::Nil, 400, why.as_str()).into_lua_multi(lua);
            }
            body.streaming = true;
            let chunk = body
                .read(n.unwrap_or(DEFAULT_READ).max(1))
                .map_err(mlua::Error::external)?;
            if !chunk.is_empty() {
                return lua.create_string(chunk)?.into_lua_multi(lua);
            }
            (if body.complete {
                Value::Nil
            } else {
                Value::Boolean(false)
            })
            .into_lua_multi(lua)
        })?,
    )?;
    // req_field(handle, name) -> the lazily built field
    let slots = Rc::as_ptr(requests) as *mut std::ffi::c_void;
    // SAFETY: a protected call with room for the pushes; the Requests live
    // as long as the state (see new_req_function).
    let field_fn: mlua::Function = unsafe {
        lua.exec_raw((), |l| {
            mlua::ffi::lua_pushlightuserdata(l, slots);
            mlua::ffi::lua_pushcfunction(l, raw::trampoline);
            mlua::ffi::lua_pushcclosure(l, req_field, 2);
        })?
    };
    t.raw_set("req_field", field_fn)?;
    // body_complete(handle) -> bool | nil, status, message
    let r = requests.clone();
    t.raw_set(
        "body_complete",
        lua.create_function(move |lua, h: i64| {
            let ctx = r.get(h)?;
            let body = ctx.body.borrow();
            match &body.failed {
                Some(why) => (Value::Nil, 400, why.as_str()).into_lua_multi(lua),
                None => body.complete.into_lua_multi(lua),
            }
        })?,
    )?;
    // body_fill(req, handle) -> true | nil, status, message
    let r = requests.clone();
    t.raw_set(
        "body_fill",
        lua.create_function(move |lua, (req, h): (Table, i64)| {
            match fill(lua, &req, &*r.get(h)?) {
                Ok(()) => true.into_lua_multi(lua),
                Err(e) => (Value::Nil, e.status, e.message).into_lua_multi(lua),
            }
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Rc<BodyCtx> {
        let temp: std::sync::Arc<std::path::Path> = std::env::temp_dir().into();
        context(&mut Request {
            method: "GET".into(),
            target: Target::new("/".into(), 0..1, 1..1),
            version: "1.1",
            headers: Vec::new(),
            remote: ([127, 0, 0, 1], 1).into(),
            scheme: "http",
            tls: None,
            id: 1,
            body: crate::body::Body::new(Some(0), 0, &temp).shared(),
        })
    }

    #[test]
    fn a_handle_survives_lua_numbers_after_many_requests() {
        // On LuaJIT and Lua 5.1 a handle is a double in Lua: one of a slot
        // reused for the 2^32nd time, at the highest index, must come back whole.
        let lua = Lua::new();
        let requests = Requests::default();
        requests
            .slots
            .borrow_mut()
            .resize_with(INDEX_MASK as usize, Slot::default);
        requests.slots.borrow_mut()[0].generation = u32::MAX - 1;
        requests.free.borrow_mut().push(0);
        for _ in 0..2 {
            let h = requests.insert(ctx()).unwrap();
            let back: f64 = lua.load("return ... + 0.0").call(h).unwrap();
            assert_eq!(back as i64, h);
            assert!(requests.get(h).is_ok());
            requests.remove(h);
            assert!(
                requests.get(h).is_err(),
                "a handle finds nothing after its request"
            );
        }
        requests.insert(ctx()).unwrap(); // slot 0 again, from the free list
        let last = requests.insert(ctx()).unwrap();
        assert_eq!(last & INDEX_MASK, INDEX_MASK);
        assert!(
            requests.insert(ctx()).is_none(),
            "no index is left to tell requests apart"
        );
        let back: f64 = lua.load("return ... + 0.0").call(last).unwrap();
        assert_eq!(back as i64, last);
    }

    #[test]
    fn the_interned_table_holds_what_its_readers_expect() {
        let lua = Lua::new();
        let t = interned(&lua).unwrap();
        add_private(&t, &lua.create_sequence_from([1, 2, 3]).unwrap()).unwrap();
        for (g, group) in GROUPS.iter().enumerate() {
            for value in group.iter().copied().chain([&b"other"[..]]) {
                // SAFETY: the table is at index 1; one value is left on the stack.
                let got: mlua::LuaString = unsafe {
                    lua.exec_raw(&t, |l| {
                        push_value(l, Interned::Table(1), value, g);
                        mlua::ffi::lua_remove(l, 1);
                    })
                }
                .unwrap();
                assert_eq!(&got.as_bytes()[..], value, "group {g}");
            }
        }
        for i in 0..PRIVATE {
            let got: usize = t.raw_get(private_at(i)).unwrap();
            assert_eq!(got, i + 1, "private value {i}");
        }
        assert_eq!(t.raw_len(), private_at(PRIVATE - 1));
    }
}
