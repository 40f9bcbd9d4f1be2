//! Building tables through the Lua C API directly. mlua's safe calls protect
//! every single table store with its own `pcall`; a request's table is built
//! here inside one protected call instead, which is most of the per-request
//! cost saved (see bench/NOTES.md).
//!
//! Every function here must run inside `Lua::exec_raw` and holds only
//! borrowed data: an allocation failure raises a Lua error that unwinds
//! through these frames, so nothing here may own memory that needs dropping.

use mlua::ffi;
use std::os::raw::{c_char, c_int};

/// Runs `f` in a protected call on `l`: a Lua error inside (an allocation
/// failure, for the pushes here) returns its status, with the error value on
/// top, instead of unwinding. `trampoline` is the stack index of
/// [`trampoline`], kept by the caller (on LuaJIT and Lua 5.1 pushing a C
/// function allocates). `f` must not panic and must leave one value on top:
/// the result, on top when this returns LUA_OK.
///
/// # Safety
/// `l` has room for two values.
pub unsafe fn protected(
    l: *mut ffi::lua_State,
    trampoline: c_int,
    mut f: &mut dyn FnMut(*mut ffi::lua_State),
) -> c_int {
    ffi::lua_pushvalue(l, trampoline);
    let f: *mut &mut dyn FnMut(*mut ffi::lua_State) = &mut f;
    ffi::lua_pushlightuserdata(l, f as *mut std::ffi::c_void);
    ffi::lua_pcall(l, 1, 1, 0)
}

/// The C function [`protected`] calls: runs the closure its argument points to.
pub unsafe extern "C-unwind" fn trampoline(l: *mut ffi::lua_State) -> c_int {
    let f = &mut *(ffi::lua_touserdata(l, 1) as *mut &mut dyn FnMut(*mut ffi::lua_State));
    f(l);
    1
}

/// `t[key] = value` for the table on top of the stack.
pub unsafe fn set_bytes(l: *mut ffi::lua_State, key: &[u8], value: &[u8]) {
    push_bytes(l, key);
    push_bytes(l, value);
    ffi::lua_rawset(l, -3);
}

pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: &[u8]) {
    ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
}

/// Pushes the raw `t[key]` of each key, where `t` is at stack index 1.
pub unsafe fn push_fields(l: *mut ffi::lua_State, keys: &[&[u8]]) {
    for key in keys {
        push_bytes(l, key);
        ffi::lua_rawget(l, 1);
    }
}

/// Pushes every key and value of the table at stack index 1, raw (no
/// `__pairs`), as key, value, key, value, ...
pub unsafe fn push_pairs(l: *mut ffi::lua_State) {
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, 1) != 0 {
        // Stack: ... key value; keep both and go on from a copy of the key.
        ffi::luaL_checkstack(l, 2, c"too many response headers".as_ptr());
        ffi::lua_pushvalue(l, -2);
    }
}

/// `t[key] = value` for the table on top, where a repeated key turns the
/// value into an array of every value in order (query args, form fields).
pub unsafe fn add_multi(l: *mut ffi::lua_State, key: &[u8], value: &[u8]) {
    push_bytes(l, key);
    ffi::lua_pushvalue(l, -1);
    match ffi::lua_rawget(l, -3) {
        ffi::LUA_TNIL => {
            ffi::lua_pop(l, 1);
            push_bytes(l, value);
            ffi::lua_rawset(l, -3);
        }
        ffi::LUA_TTABLE => {
            // Already an array: append. Stack: t key list
            let n = ffi::lua_rawlen(l, -1) as ffi::lua_Integer;
            push_bytes(l, value);
            ffi::lua_rawseti(l, -2, n + 1);
            ffi::lua_pop(l, 2);
        }
        _ => {
            // A single earlier value: make {first, value}. Stack: t key first
            ffi::lua_createtable(l, 2, 0);
            ffi::lua_rotate(l, -2, 1);
            ffi::lua_rawseti(l, -2, 1);
            push_bytes(l, value);
            ffi::lua_rawseti(l, -2, 2);
            ffi::lua_rawset(l, -3);
        }
    }
}
