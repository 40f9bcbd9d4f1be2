//! A request's coroutine, resumed through the C API directly. mlua's
//! `Thread::resume` moves every argument and result through its reference
//! thread, makes a [`Value`] (and a reference) of each, and turns an error
//! into a string, so the prelude had to catch errors itself with an `xpcall`.
//! Here what a hello request needs (a handle in; a string, a flutter
//! operation or an error out) is read where it lies, on the coroutine's own
//! stack; only other values go through mlua, in one protected call.
//!
//! Nothing here raises a Lua error outside a protected call: the pushes and
//! reads used directly neither allocate nor grow the stack beyond the room
//! Lua guarantees a C function (LUA_MINSTACK).

use mlua::{ffi, Function, IntoLuaMulti, Lua, RegistryKey, Thread, Value};
use std::ffi::{c_int, c_void};

/// A function coroutines run from their start: mlua's reset wants the
/// [`Function`], a clean coroutine takes it from the registry.
pub struct Entry {
    function: Function,
    key: RegistryKey,
}

impl Entry {
    pub fn new(lua: &Lua, function: Function) -> mlua::Result<Entry> {
        Ok(Entry {
            key: lua.create_registry_value(&function)?,
            function,
        })
    }
}

pub struct Coroutine {
    /// Keeps the coroutine alive while `state` is used.
    thread: Thread,
    state: *mut ffi::lua_State,
    /// It ended normally and its stack is empty: it can run an entry again
    /// without a reset.
    clean: bool,
    /// How many values the last resume left on its stack (results or yielded
    /// values), read by position with [`Coroutine::string`] and friends.
    left: c_int,
}

/// How a resume ended.
pub enum Resumed {
    Yielded,
    Finished,
    /// A Lua error status (see [`Coroutine::take_error`]).
    Failed(c_int),
}

/// A key or value seen by [`Coroutine::each_pair`].
pub enum Raw<'a> {
    Str(&'a [u8]),
    Number(f64),
    /// A table, by its stack index.
    Table(c_int),
    Other,
}

/// What a failed coroutine left: the error value and, for anything but a
/// memory error, its traceback.
pub struct Raised {
    pub value: Value,
    pub traceback: Option<String>,
}

impl Coroutine {
    /// A new coroutine set to run `entry`.
    pub fn new(lua: &Lua, entry: &Entry) -> mlua::Result<Coroutine> {
        let thread = lua.create_thread(entry.function.clone())?;
        let mut state = std::ptr::null_mut();
        // SAFETY: reads the thread passed in, at index 1.
        unsafe { lua.exec_raw::<()>(&thread, |l| state = ffi::lua_tothread(l, 1))? };
        Ok(Coroutine {
            thread,
            state,
            clean: false,
            left: 0,
        })
    }

    /// Sets a used coroutine to run `entry` from its start. False when it
    /// cannot be reused (a failed one, on Lua 5.1 and LuaJIT).
    pub fn restart(&mut self, entry: &Entry) -> bool {
        if !std::mem::take(&mut self.clean) {
            return self.thread.reset(entry.function.clone()).is_ok();
        }
        // SAFETY: an empty stack has room for one value; reading the registry
        // by an integer key does not allocate.
        unsafe {
            ffi::lua_rawgeti(
                self.state,
                ffi::LUA_REGISTRYINDEX,
                entry.key.id() as ffi::lua_Integer,
            )
        };
        true
    }

    /// The coroutine's own Lua thread.
    pub fn state(&self) -> *mut ffi::lua_State {
        self.state
    }

    /// Takes the budget hook off it (on LuaJIT: off the whole state).
    pub fn remove_hook(&self) {
        // SAFETY: the thread is alive (held by `thread`); clearing a hook
        // neither allocates nor raises.
        unsafe { ffi::lua_sethook(self.state, None, 0, 0) };
    }

    pub fn push_integer(&mut self, i: i64) {
        // SAFETY: a coroutine about to be resumed has room for a few values
        // (it started, or popped what it yielded); integers are not allocated.
        unsafe { ffi::lua_pushinteger(self.state, i) };
    }

    /// Moves `values` onto the coroutine's stack; returns how many.
    pub fn push(&mut self, lua: &Lua, values: impl IntoLuaMulti) -> mlua::Result<c_int> {
        let co = self.state;
        let mut n = 0;
        // SAFETY: inside a protected call holding exactly `values`; the
        // coroutine's stack grows first (lua_checkstack reports, not raises,
        // a failure on Lua 5.4; mlua's own resume does the same).
        unsafe {
            lua.exec_raw::<()>(values, |l| {
                n = ffi::lua_gettop(l);
                if ffi::lua_checkstack(co, n) == 0 {
                    ffi::luaL_error(l, c"a request coroutine's stack overflowed".as_ptr());
                }
                ffi::lua_xmove(l, co, n);
            })?
        };
        Ok(n)
    }

    /// Runs it with the `nargs` values on top of its stack as arguments (or as
    /// the results of the yield it stopped at).
    pub fn resume(&mut self, nargs: c_int) -> Resumed {
        let mut n = 0;
        // SAFETY: lua_resume runs the coroutine in protected mode; no other
        // coroutine is resuming it (that would be `from`, which may be null).
        let status = unsafe { ffi::lua_resume(self.state, std::ptr::null_mut(), nargs, &mut n) };
        self.left = n;
        match status {
            ffi::LUA_YIELD => Resumed::Yielded,
            ffi::LUA_OK => Resumed::Finished,
            status => Resumed::Failed(status),
        }
    }

    /// The stack index of value `i` (from 0) of those the last resume left.
    fn at(&self, i: c_int) -> Option<c_int> {
        // SAFETY: reads the stack's size only.
        (0..self.left)
            .contains(&i)
            .then(|| unsafe { ffi::lua_gettop(self.state) } - self.left + 1 + i)
    }

    pub fn light_userdata(&self, i: c_int) -> *mut c_void {
        match self.at(i) {
            // SAFETY: reads the value; anything else than a userdata is null.
            Some(idx) => unsafe { ffi::lua_touserdata(self.state, idx) },
            None => std::ptr::null_mut(),
        }
    }

    /// Result `i` if it is a number with an exact integer value.
    pub fn integer(&self, i: c_int) -> Option<i64> {
        let idx = self.at(i)?;
        let mut is_num = 0;
        // SAFETY: lua_tointegerx converts nothing in place.
        let v = unsafe { ffi::lua_tointegerx(self.state, idx, &mut is_num) };
        (is_num != 0).then_some(v)
    }

    pub fn number(&self, i: c_int) -> Option<f64> {
        let idx = self.at(i)?;
        let mut is_num = 0;
        // SAFETY: as for `integer`.
        let v = unsafe { ffi::lua_tonumberx(self.state, idx, &mut is_num) };
        (is_num != 0).then_some(v)
    }

    /// Result `i` if it is a string (not a number: converting one would allocate).
    pub fn string(&self, i: c_int) -> Option<&[u8]> {
        let idx = self.at(i)?;
        // SAFETY: lua_tolstring on a string neither converts nor allocates;
        // the bytes live until the value is popped, which takes `&mut self`.
        unsafe {
            if ffi::lua_type(self.state, idx) != ffi::LUA_TSTRING {
                return None;
            }
            let mut len = 0;
            let p = ffi::lua_tolstring(self.state, idx, &mut len);
            Some(std::slice::from_raw_parts(p as *const u8, len))
        }
    }

    /// The stack index of result `i` if it is a table (see [`Coroutine::each_pair`]).
    pub fn table(&self, i: c_int) -> Option<c_int> {
        let idx = self.at(i)?;
        // SAFETY: reads the type only.
        (unsafe { ffi::lua_type(self.state, idx) } == ffi::LUA_TTABLE).then_some(idx)
    }

    /// Calls `f` with each raw key and value (no metamethods) of the table at
    /// stack index `table`, while `f` returns true. False when `f` stopped it
    /// or the stack had no room. `f` may walk a [`Raw::Table`] value in turn.
    pub fn each_pair(&self, table: c_int, f: &mut dyn FnMut(Raw, Raw) -> bool) -> bool {
        let l = self.state;
        // SAFETY: lua_checkstack reports a failure (LuaJIT grows the stack in
        // a protected call); lua_next on a table being walked neither
        // allocates nor raises, and the key is only read as a string when it
        // is one (reading a number key as a string would convert it in place).
        unsafe {
            if ffi::lua_checkstack(l, 2) == 0 {
                return false;
            }
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, table) != 0 {
                let top = ffi::lua_gettop(l);
                let go = f(self.raw(top - 1), self.raw(top));
                ffi::lua_pop(l, 1);
                if !go {
                    ffi::lua_pop(l, 1);
                    return false;
                }
            }
        }
        true
    }

    /// The value at stack index `idx`, as far as it reads without converting.
    /// A string's bytes live while it stays on the stack.
    unsafe fn raw(&self, idx: c_int) -> Raw<'_> {
        let l = self.state;
        match ffi::lua_type(l, idx) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, idx, &mut len);
                Raw::Str(std::slice::from_raw_parts(p as *const u8, len))
            }
            ffi::LUA_TNUMBER => Raw::Number(ffi::lua_tonumberx(l, idx, std::ptr::null_mut())),
            ffi::LUA_TTABLE => Raw::Table(idx),
            _ => Raw::Other,
        }
    }

    pub fn type_name(&self, i: c_int) -> &'static str {
        let Some(idx) = self.at(i) else {
            return "nil";
        };
        // SAFETY: lua_typename gives a static string.
        unsafe {
            let name = ffi::lua_typename(self.state, ffi::lua_type(self.state, idx));
            std::ffi::CStr::from_ptr(name).to_str().unwrap_or("value")
        }
    }

    /// Pops the values a yield left.
    pub fn pop(&mut self) {
        // SAFETY: they are there; results are never to-be-closed variables.
        unsafe { ffi::lua_pop(self.state, self.left) };
        self.left = 0;
    }

    /// Pops what a finished coroutine returned: it is clean then.
    pub fn pop_finished(&mut self) {
        self.pop();
        self.clean = true;
    }

    /// Takes what a finished coroutine returned, as an mlua value (the first
    /// of its results, nil for none); the coroutine is then clean.
    pub fn take_result(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let (co, n) = (self.state, self.left);
        // SAFETY: inside a protected call, with room made for the results.
        let first = unsafe {
            lua.exec_raw::<Value>((), |l| {
                ffi::luaL_checkstack(l, n, std::ptr::null());
                ffi::lua_xmove(co, l, n);
                ffi::lua_settop(l, 1);
            })?
        };
        self.left = 0;
        self.clean = true;
        Ok(first)
    }

    /// The error a failed resume left, with the coroutine's traceback (its
    /// stack stays as it was when the error was raised).
    pub fn take_error(&mut self, lua: &Lua, status: c_int) -> mlua::Result<Raised> {
        let co = self.state;
        let memory = status == ffi::LUA_ERRMEM;
        // SAFETY: inside a protected call; the error value is on top of the
        // coroutine's stack; room is checked before the traceback is built.
        let (value, traceback) = unsafe {
            lua.exec_raw::<(Value, Option<String>)>((), |l| {
                ffi::lua_xmove(co, l, 1);
                if memory {
                    return;
                }
                ffi::luaL_checkstack(l, ffi::LUA_MINSTACK, std::ptr::null());
                let message = ffi::luaL_tolstring(l, 1, std::ptr::null_mut());
                ffi::luaL_traceback(l, co, message, 0);
                ffi::lua_remove(l, 2);
            })?
        };
        Ok(Raised { value, traceback })
    }
}
