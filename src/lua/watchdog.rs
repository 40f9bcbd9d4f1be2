//! Runaway requests, on the states flutter builds (feature `vendored`).
//!
//! A count hook costs on every VM instruction whatever its count: Lua 5.4
//! then traps each one (`luaG_traceexec`, an eighth of a hello request's
//! instructions), and LuaJIT compiles almost nothing while one is set (each
//! hook call aborts the trace being recorded). So requests run without the
//! budget hook, and this thread turns it on for a request that has been
//! running for a whole [`TICK`] without yielding; from then on the hook counts
//! the request's `lua_instruction_limit`.
//!
//! How the hook is turned on depends on the Lua:
//! - LuaJIT's hook belongs to the whole state, and LuaJIT documents
//!   `lua_sethook` as callable from another thread for this (lj_record.c), so
//!   this thread sets it. The vendored LuaJIT is compiled with
//!   LUAJIT_ENABLE_CHECKHOOK (`.cargo/config.toml`): compiled loops then check
//!   for an instruction hook and fall back to the interpreter.
//! - Lua 5.4's hook belongs to each coroutine, and `lua_sethook` marks the
//!   call frames of the one it hooks, which only the thread running it may
//!   touch (Lua allows the call in a signal handler: lua.c stops a script on
//!   Ctrl-C that way). So this thread signals the worker with SIGURG (ignored
//!   by default), and the handler hooks each coroutine the worker is
//!   running: the request's, and the script's own ones resumed from it (the
//!   prelude's `coroutine.resume` and `coroutine.wrap` report those through
//!   [`track`]).
//!   Coroutines then created inherit the hook. Where SIGURG is in use or
//!   blocked (an embedding program's), [`Watch::new`] declines and the
//!   requests keep the hook from their start.

use mlua::ffi;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Duration;

/// How long a request may run before its instructions are counted.
pub const TICK: Duration = Duration::from_millis(100);

/// The registration of one Lua state; unregistered when dropped.
pub struct Watch {
    slot: Arc<Slot>,
    serial: std::cell::Cell<u64>,
}

struct Slot {
    /// Where the hook is turned on; None once the runtime is gone. Held
    /// locked while it is, so that the state (or thread) stays meanwhile.
    target: Mutex<Option<Target>>,
    /// The serial of the resume running now; 0 between resumes.
    running: AtomicU64,
    /// What the watchdog saw at its previous look.
    seen: AtomicU64,
}

/// LuaJIT: the state, whose one hook this thread sets.
#[cfg(feature = "luajit")]
struct Target {
    main: *mut ffi::lua_State,
    hook: ffi::lua_Hook,
    count: i32,
}

/// Lua 5.4: the worker thread, whose signal handler sets the hook.
#[cfg(not(feature = "luajit"))]
struct Target(libc::pthread_t);

// SAFETY: LuaJIT: the pointer is only used under the slot's lock, for
// lua_sethook, which LuaJIT allows from another thread. Lua 5.4: a thread id,
// signalled under the slot's lock while the worker owns the runtime.
unsafe impl Send for Target {}

impl Target {
    #[cfg(feature = "luajit")]
    fn arm(&self) {
        // SAFETY: the state is open while the slot holds it (see `Watch::new`).
        unsafe { ffi::lua_sethook(self.main, Some(self.hook), ffi::LUA_MASKCOUNT, self.count) };
    }

    #[cfg(not(feature = "luajit"))]
    fn arm(&self) {
        // SAFETY: the worker thread is alive while its runtime is registered:
        // the runtime unregisters when dropped, on that thread.
        unsafe { libc::pthread_kill(self.0, libc::SIGURG) };
    }
}

static WATCHED: Mutex<Vec<Weak<Slot>>> = Mutex::new(Vec::new());
static START: Once = Once::new();

impl Watch {
    /// Watches the state whose main thread is `main`: the watchdog sets
    /// `hook` to run every `count` instructions on a request that runs long.
    ///
    /// # Safety
    /// `main` must stay valid until the Watch is dropped.
    #[cfg(feature = "luajit")]
    pub unsafe fn new(main: *mut ffi::lua_State, hook: ffi::lua_Hook, count: i32) -> Option<Watch> {
        Some(Watch::with(Target { main, hook, count }))
    }

    /// Watches the calling thread's state: the watchdog has `hook` set to
    /// run every `count` instructions on a request that runs long. None when
    /// SIGURG cannot be used (see the module's comment).
    ///
    /// # Safety
    /// The Watch must be dropped on the calling thread, before it ends.
    #[cfg(not(feature = "luajit"))]
    pub unsafe fn new(hook: ffi::lua_Hook, count: i32) -> Option<Watch> {
        if !signal::ready(hook, count) {
            return None;
        }
        // SAFETY: pthread_self has no preconditions.
        Some(Watch::with(Target(unsafe { libc::pthread_self() })))
    }

    fn with(target: Target) -> Watch {
        let slot = Arc::new(Slot {
            target: Mutex::new(Some(target)),
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
            serial: std::cell::Cell::new(0),
        }
    }

    /// A resume of the request coroutine `co` begins.
    pub fn enter(&self, co: *mut ffi::lua_State) {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        self.slot.running.store(n, Ordering::Release);
        #[cfg(not(feature = "luajit"))]
        signal::run(co);
        #[cfg(feature = "luajit")]
        let _ = co;
    }

    /// The resume of `co` returned. True when the watchdog turned the hook
    /// on meanwhile, for the caller to turn it off on `co`.
    pub fn leave(&self, co: *mut ffi::lua_State) -> bool {
        self.slot.running.store(0, Ordering::Release);
        #[cfg(not(feature = "luajit"))]
        {
            let _ = co;
            signal::stop()
        }
        // SAFETY: `co` is a live coroutine of the watched state, on its
        // thread; LuaJIT's hook is the whole state's, which any coroutine reports.
        #[cfg(feature = "luajit")]
        unsafe {
            ffi::lua_gethookmask(co) != 0
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *lock(&self.slot.target) = None;
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
                // Still the same resume: count its instructions from now on.
                // (Had it ended just now, the worker turns the hook off again
                // after the next resume.) Repeated every tick while it runs,
                // which also reaches a coroutine it switched to meanwhile.
                if let Some(target) = &*lock(&slot.target) {
                    target.arm();
                }
            }
            slot.seen.store(now, Ordering::Relaxed);
        }
    }
}

/// Lua 5.4's side of the signal: which coroutine the worker thread runs.
#[cfg(not(feature = "luajit"))]
pub use signal::track;

#[cfg(not(feature = "luajit"))]
mod signal {
    use mlua::ffi;
    use std::ffi::{c_int, c_void};
    use std::ptr::null_mut;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// Lua stops nesting resumes at LUAI_MAXCCALLS (200) C calls, each
    /// resume at least one; any deeper would share the last slot.
    const NESTED: usize = 200;

    thread_local! {
        /// The coroutines this thread runs for a request, outermost first:
        /// the request's, then the script's own ones each resumed from the
        /// one before. All are hooked: one that resumes fresh coroutines in
        /// a loop must be counted too, not only the one running.
        static RUNNING: [AtomicPtr<ffi::lua_State>; NESTED] =
            const { [const { AtomicPtr::new(null_mut()) }; NESTED] };
        /// How many RUNNING holds; 0 between resumes.
        static DEPTH: AtomicUsize = const { AtomicUsize::new(0) };
        /// The handler hooked them during this resume.
        static ARMED: AtomicBool = const { AtomicBool::new(false) };
    }

    /// The hook and its count, the same for every state (mlua's global hook
    /// function, HOOK_EVERY); read by the handler.
    static HOOK: AtomicUsize = AtomicUsize::new(0);
    static COUNT: AtomicI32 = AtomicI32::new(0);

    /// Installs the handler, once; false when SIGURG is handled elsewhere or
    /// blocked on this thread (the watchdog's signal would never arrive).
    pub fn ready(hook: ffi::lua_Hook, count: i32) -> bool {
        static INSTALLED: OnceLock<bool> = OnceLock::new();
        HOOK.store(hook as usize, Ordering::Relaxed);
        COUNT.store(count, Ordering::Relaxed);
        // SAFETY: sigaction and pthread_sigmask on zeroed local structures.
        unsafe {
            let installed = *INSTALLED.get_or_init(|| {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old);
                if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
                    return false;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut()) == 0
            });
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            installed && libc::sigismember(&mask, libc::SIGURG) == 0
        }
    }

    extern "C" fn on_signal(_: c_int) {
        let hook = HOOK.load(Ordering::Relaxed);
        let depth = DEPTH.with(|d| d.load(Ordering::Relaxed)).min(NESTED);
        if hook == 0 || depth == 0 {
            return;
        }
        // SAFETY: HOOK holds a lua_Hook (stored by `ready`).
        let hook = unsafe { std::mem::transmute::<usize, ffi::lua_Hook>(hook) };
        let count = COUNT.load(Ordering::Relaxed);
        RUNNING.with(|running| {
            for co in &running[..depth] {
                // SAFETY: the coroutines in RUNNING are alive while listed (the
                // task, or the prelude's frames resuming them, hold them), and
                // lua_sethook may interrupt the running one (see the module).
                unsafe {
                    ffi::lua_sethook(
                        co.load(Ordering::Relaxed),
                        Some(hook),
                        ffi::LUA_MASKCOUNT,
                        count,
                    )
                };
            }
        });
        ARMED.with(|a| a.store(true, Ordering::Relaxed));
    }

    /// Lists `co` at `depth` (from 1), the slot first, for the handler.
    fn set(depth: usize, co: *mut ffi::lua_State) {
        if depth > 0 {
            RUNNING.with(|r| r[(depth - 1).min(NESTED - 1)].store(co, Ordering::Relaxed));
        }
        DEPTH.with(|d| d.store(depth, Ordering::Relaxed));
    }

    /// A request's coroutine begins to run.
    pub fn run(co: *mut ffi::lua_State) {
        set(1, co);
    }

    /// It stopped; true when the handler hooked it meanwhile.
    pub fn stop() -> bool {
        DEPTH.with(|d| d.store(0, Ordering::Relaxed));
        // With DEPTH at 0 the handler no longer sets ARMED: a plain load and
        // store do, without the locked exchange of a swap on every resume.
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        ARMED.with(|a| {
            let armed = a.load(Ordering::Relaxed);
            if armed {
                a.store(false, Ordering::Relaxed);
            }
            armed
        })
    }

    /// `track(co)`, for the prelude's coroutine.resume: the coroutine `co`
    /// runs from now on, resumed by the one running. Returns that one, which
    /// `track(it)` lists again as running once `co` stops.
    pub unsafe extern "C-unwind" fn track(l: *mut ffi::lua_State) -> c_int {
        let depth = DEPTH.with(|d| d.load(Ordering::Relaxed));
        let top = match depth {
            0 => null_mut(),
            d => RUNNING.with(|r| r[(d - 1).min(NESTED - 1)].load(Ordering::Relaxed)),
        };
        match ffi::lua_type(l, 1) {
            ffi::LUA_TTHREAD => set(depth + 1, ffi::lua_tothread(l, 1)),
            ffi::LUA_TLIGHTUSERDATA => {
                set(depth.saturating_sub(1), ffi::lua_touserdata(l, 1).cast())
            }
            _ => {}
        }
        ffi::lua_pushlightuserdata(l, top as *mut c_void);
        1
    }
}
