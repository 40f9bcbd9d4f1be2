//! Runaway requests on the LuaJIT build (cargo feature `luajit`).
//!
//! LuaJIT calls no hooks inside compiled code, and a count hook left on
//! keeps it from compiling much at all (each hook call aborts the trace
//! being recorded). So on this build the budget hook is off while a request
//! runs, and this thread turns it on for a request that has been running for
//! a whole [`TICK`] without yielding. The vendored LuaJIT is compiled with
//! LUAJIT_ENABLE_CHECKHOOK (`.cargo/config.toml`): compiled loops then check
//! for an instruction hook and fall back to the interpreter, where the hook
//! counts the rest of the request's `lua_instruction_limit` as on Lua 5.4.
//! LuaJIT's hooks belong to the whole state, and LuaJIT documents
//! `lua_sethook` as callable from another thread for this (lj_record.c).

use mlua::ffi;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

/// How long a request may run before its instructions are counted.
pub const TICK: Duration = Duration::from_millis(100);

/// The registration of one Lua state; unregistered when dropped.
pub struct Watch {
    slot: Arc<Slot>,
    main: *mut ffi::lua_State,
    serial: std::cell::Cell<u64>,
}

struct Slot {
    /// The state's main thread, None once its runtime is gone. Held locked
    /// while the hook is set, so the state cannot be closed meanwhile.
    state: Mutex<Option<State>>,
    hook: ffi::lua_Hook,
    count: i32,
    /// The serial of the resume running now; 0 between resumes.
    running: AtomicU64,
    /// What the watchdog saw at its previous look.
    seen: AtomicU64,
}

struct State(*mut ffi::lua_State);
// SAFETY: the pointer is only used under the slot's lock, for lua_sethook,
// which LuaJIT allows from another thread.
unsafe impl Send for State {}

static WATCHED: Mutex<Vec<Weak<Slot>>> = Mutex::new(Vec::new());
static START: Once = Once::new();

impl Watch {
    /// Watches the state whose main thread is `main`: the watchdog sets
    /// `hook` to run every `count` instructions on a request that runs long.
    ///
    /// # Safety
    /// `main` must stay valid until the Watch is dropped.
    pub unsafe fn new(main: *mut ffi::lua_State, hook: ffi::lua_Hook, count: i32) -> Watch {
        let slot = Arc::new(Slot {
            state: Mutex::new(Some(State(main))),
            hook,
            count,
            running: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        });
        lock(&WATCHED).push(Arc::downgrade(&slot));
        START.call_once(|| {
            std::thread::Builder::new()
                .name("flutter-watchdog".into())
                .spawn(watch_loop)
                .expect("cannot start the Lua watchdog thread");
        });
        Watch {
            slot,
            main,
            serial: std::cell::Cell::new(0),
        }
    }

    /// Whether the watchdog turned the budget hook on.
    pub fn armed(&self) -> bool {
        // SAFETY: the state is open (see `new`); called on the worker's thread.
        unsafe { ffi::lua_gethookmask(self.main) != 0 }
    }

    /// A resume of a request begins.
    pub fn enter(&self) {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        self.slot.running.store(n, Ordering::Release);
    }

    /// The resume returned.
    pub fn leave(&self) {
        self.slot.running.store(0, Ordering::Release);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *lock(&self.slot.state) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn watch_loop() {
    loop {
        std::thread::sleep(TICK);
        let slots: Vec<Arc<Slot>> = {
            let mut watched = lock(&WATCHED);
            watched.retain(|w| w.strong_count() > 0);
            watched.iter().filter_map(Weak::upgrade).collect()
        };
        for slot in slots {
            let now = slot.running.load(Ordering::Acquire);
            if now != 0 && now == slot.seen.load(Ordering::Relaxed) {
                let state = lock(&slot.state);
                if let Some(State(l)) = *state {
                    // Still the same resume: count its instructions from now on.
                    // (Had it ended just now, the worker turns the hook off again
                    // after the next resume.)
                    // SAFETY: the state is open while the slot holds it (see `new`).
                    unsafe { ffi::lua_sethook(l, Some(slot.hook), ffi::LUA_MASKCOUNT, slot.count) };
                }
            }
            slot.seen.store(now, Ordering::Relaxed);
        }
    }
}
