//! The Lua side: one [`Runtime`] (a Lua state with the script loaded) per
//! worker, and one [`Task`] (a coroutine) per request. A task runs until it
//! finishes or yields an operation the worker must wait for ([`Op`]); the
//! worker resumes it when that operation can go on. Lua never touches sockets.

pub mod blocking;
mod coroutine;
pub mod db;
pub mod json;
pub mod library;
mod raw;
pub mod request;
pub mod response;
pub mod session;
#[cfg(feature = "vendored")]
mod watchdog;

use crate::config::Script;
use crate::http::message::{Request, Response};
use coroutine::{Coroutine, Entry, Resumed};
use mlua::{
    Function, HookTriggers, LightUserData, Lua, LuaOptions, MultiValue, StdLib, Table, Value,
    VmState,
};
use request::{BodyCtx, Requests};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

const PRELUDE: &str = include_str!("prelude.lua");
#[cfg(feature = "lua51")]
const COMPAT51: &str = include_str!("compat51.lua");
/// The CPU budget is checked every this many Lua instructions.
const HOOK_EVERY: u32 = 1000;

/// Its address identifies the prelude's yields.
static YIELD_TOKEN: u8 = 0;

fn yield_token() -> LightUserData {
    LightUserData(&YIELD_TOKEN as *const u8 as *mut std::ffi::c_void)
}

/// A string answer up to this size is copied off the coroutine's stack;
/// a longer one stays in Lua until it goes to the connection.
const COPIED_BODY: usize = 4096;

/// A Lua C module's open function (`luaopen_*`).
pub type CModule = mlua::ffi::lua_CFunction;

#[derive(Default)]
pub struct Settings {
    pub memory_limit: usize,
    /// Instructions per request; 0 for no limit.
    pub instruction_limit: u64,
    /// C modules every state can `require`, by name.
    pub c_modules: Vec<(String, CModule)>,
    /// Where to record the files a script loads, when reloading on change.
    pub watch: Option<std::sync::Arc<crate::reload::WatchList>>,
}

/// What a task waits for before it can go on.
pub enum Op {
    Sleep(Duration),
    /// More body bytes (`req:read`).
    Read,
    /// The complete body.
    Body,
    /// Room in the output for this chunk of a streamed body.
    Write(Vec<u8>),
    /// A job on the blocking pool; resume with its finish values.
    Blocking(u64),
}

pub enum Step {
    Wait(Op),
    /// A streamed response: send this head, then resume for the chunks.
    Head(Response),
    /// Finished: the response, or None after a streamed body ended.
    Done(Option<Response>),
    Failed(Failure),
}

pub struct Failure {
    pub status: u16,
    /// One line for the error log.
    pub message: String,
    /// The traceback, for the log and (in dev mode) the error page.
    pub traceback: Option<String>,
}

pub struct Task {
    /// Taken by `drop`, to be kept for the next request.
    co: std::mem::ManuallyDrop<Coroutine>,
    /// Not resumed yet.
    fresh: bool,
    /// Its head went out and its body is streamed (the coroutine ends with it).
    streaming: bool,
    /// `req`, when it was built before the first resume.
    req: Option<Table>,
    budget: i64,
    /// The request's handle in `requests` (what `req` holds).
    handle: i64,
    requests: Rc<Requests>,
    /// Values the next resume passes in (a blocking job's results).
    resume_args: Option<MultiValue>,
    spare: Rc<RefCell<Vec<Coroutine>>>,
}

impl Task {
    /// `f` of the request's headers, which Lua took over (a `{ file = ... }`
    /// answer depends on some).
    pub fn with_headers<T>(
        &self,
        f: impl FnOnce(&[crate::http::message::RequestHeader]) -> T,
    ) -> T {
        self.requests.with_headers(self.handle, f)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // Uploaded files and the spooled body of the request are removed with it.
        self.requests.remove(self.handle);
        // The coroutine is kept for the next request (restarted when taken again).
        // SAFETY: `co` is not used after this.
        let co = unsafe { std::mem::ManuallyDrop::take(&mut self.co) };
        let mut spare = self.spare.borrow_mut();
        if spare.len() < SPARE_THREADS {
            spare.push(co);
        }
    }
}

/// Finished coroutines kept per state for reuse; creating one per request
/// costs an allocation and garbage-collector work.
const SPARE_THREADS: usize = 64;

pub struct Runtime {
    /// First, so that it is dropped (and the state unwatched) before the state closes.
    #[cfg(feature = "vendored")]
    watch: Option<watchdog::Watch>,
    lua: Lua,
    /// The body of its requests' coroutines: the prelude's `runner` of the handler.
    run: Entry,
    /// The prelude's `stream`: runs a streamed body's function.
    stream: Entry,
    http_error_mt: Table,
    /// Strings every `req` uses (request::interned).
    interned: Table,
    requests: Rc<Requests>,
    budget: Rc<Budget>,
    /// Request coroutines carry the budget hook from their start: where no
    /// watchdog turns it on late (the Lua module's states, or SIGURG taken by
    /// the embedding program) and a limit is set.
    counted: bool,
    instruction_limit: u64,
    memory_limit: usize,
    /// Set when the state ran out of memory; the worker replaces it.
    exhausted: Cell<bool>,
    spare: Rc<RefCell<Vec<Coroutine>>>,
}

/// What the prelude gives a Lua state; installed once per state and shared
/// by every runtime on it.
struct Installed {
    /// `runner(handler)`: the body of that handler's request coroutines.
    runner: Function,
    stream: Function,
    library: Table,
    http_error_mt: Table,
    interned: Table,
    requests: Rc<Requests>,
    /// `pcall`, `xpcall` and `coroutine.resume` that do not let a request go on
    /// past the memory limit (installed as globals in states flutter owns).
    guards: Table,
    budget: Rc<Budget>,
}

/// The CPU budget of the request coroutine running on a Lua state; one runs
/// at a time, so every runtime on the state shares it.
struct Budget {
    /// Instructions the running request may still execute.
    left: Cell<i64>,
    /// Checks since the last resume that found the budget spent.
    exceeded: Cell<u32>,
    /// Instructions between checks: HOOK_EVERY, or 1 once a budget was spent.
    every: Cell<u32>,
    /// A request coroutine is running.
    running: Cell<bool>,
    /// The running request hit the memory limit and caught the error.
    out_of_memory: Cell<bool>,
    /// The C function behind the budget hook, for the watchdog to set.
    #[cfg(feature = "vendored")]
    hook: Cell<Option<mlua::ffi::lua_Hook>>,
}

fn installed(lua: &Lua) -> mlua::Result<Rc<Installed>> {
    if let Some(i) = lua.app_data_ref::<Rc<Installed>>() {
        return Ok(i.clone());
    }
    let library = library::create(lua)?;
    let natives = lua.create_table()?;
    let requests = Rc::new(Requests::default());
    request::natives(lua, &natives, &requests)?;
    // SAFETY: track only reads its argument and pushes one value.
    #[cfg(all(feature = "vendored", not(feature = "luajit")))]
    natives.raw_set("track", unsafe { lua.create_c_function(watchdog::track)? })?;
    let interned = request::interned(lua)?;
    let budget = Rc::new(Budget {
        left: Cell::new(i64::MAX),
        exceeded: Cell::new(0),
        every: Cell::new(HOOK_EVERY),
        running: Cell::new(false),
        out_of_memory: Cell::new(false),
        #[cfg(feature = "vendored")]
        hook: Cell::new(None),
    });
    // out_of_memory() -> whether a request is running; if so it is stopped.
    let b = budget.clone();
    natives.raw_set(
        "out_of_memory",
        lua.create_function(move |_, ()| {
            if !b.running.get() {
                return Ok(false);
            }
            b.out_of_memory.set(true);
            // The budget hook ends the request at its next check, whatever catches errors.
            b.left.set(0);
            Ok(true)
        })?,
    )?;
    let prelude = lua.load(PRELUDE).set_name("=flutter");
    // Lua 5.1 cannot yield across pcall/xpcall: the prelude gets stand-ins that can.
    #[cfg(feature = "lua51")]
    let prelude = prelude.set_environment(
        lua.load(COMPAT51)
            .set_name("=flutter.compat51")
            .call::<Table>(())?,
    );
    let (runner, stream, additions, http_error_mt, guards, private): (
        Function,
        Function,
        Table,
        Table,
        Table,
        Table,
    ) = prelude.call((yield_token(), &natives))?;
    request::add_private(&interned, &private)?;
    natives.raw_set(
        "new_req",
        request::new_req_function(lua, &interned, &requests)?,
    )?;
    lua.set_named_registry_value("flutter.await", natives.raw_get::<Function>("await")?)?;
    for pair in additions.pairs::<Value, Value>() {
        let (k, v) = pair?;
        library.raw_set(k, v)?;
    }
    let await_fn = natives.raw_get::<Function>("await")?;
    db::install(lua, &library, await_fn.clone())?;
    session::install(lua, &library, &natives, await_fn)?;
    arm_budget_hook(lua, &budget)?;
    let i = Rc::new(Installed {
        runner,
        stream,
        library,
        http_error_mt,
        interned,
        requests,
        guards,
        budget,
    });
    lua.set_app_data(i.clone());
    Ok(i)
}

/// The `flutter` library table of a Lua state (what `require "flutter"` gives).
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    Ok(installed(lua)?.library.clone())
}

type Hook = Box<dyn Fn(&Lua, &mlua::debug::Debug) -> mlua::Result<VmState>>;

/// The hook that stops a coroutine past its instruction budget.
fn budget_hook(b: Rc<Budget>) -> Hook {
    Box::new(move |lua, _| {
        let left = b.left.get().saturating_sub(i64::from(b.every.get()));
        b.left.set(left);
        if left > 0 {
            return Ok(VmState::Continue);
        }
        let n = b.exceeded.get() + 1;
        b.exceeded.set(n);
        // From now on check every instruction, in this coroutine and in those it
        // creates: a loop that catches the error below gets no room to go on.
        b.every.set(1);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(1),
            budget_hook(b.clone()),
        )?;
        // A yield cannot be caught by the script's pcall; where a yield is
        // impossible (inside a C call: mlua then just goes on) the next check
        // raises an error, which unwinds to a point where the yield works.
        if n % 2 == 1 {
            Ok(VmState::Yield)
        } else {
            Err(mlua::Error::runtime(
                "request exceeded lua_instruction_limit",
            ))
        }
    })
}

/// The instructions one request may run, for `lua_instruction_limit` (0: no limit).
fn task_budget(instruction_limit: u64) -> i64 {
    match instruction_limit {
        0 => i64::MAX,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    }
}

/// Makes the budget hook the state's global hook, checked every HOOK_EVERY
/// instructions. mlua gives it to request coroutines when it creates them,
/// and Lua copies a coroutine's hook into the coroutines it creates, so none
/// escapes the budget. (A watched runtime takes it off its coroutines, for
/// the watchdog to turn on; see watchdog.rs.)
fn arm_budget_hook(lua: &Lua, b: &Rc<Budget>) -> mlua::Result<()> {
    b.every.set(HOOK_EVERY);
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        budget_hook(b.clone()),
    )?;
    #[cfg(feature = "vendored")]
    {
        let mut hook = None;
        // SAFETY: only reads the hook just set.
        unsafe { lua.exec_raw::<()>((), |l| hook = mlua::ffi::lua_gethook(l))? };
        b.hook.set(hook);
    }
    // That also hooked the calling thread; only request coroutines are budgeted.
    lua.remove_hook();
    Ok(())
}

impl Runtime {
    /// Creates a Lua state, loads the library and the script, and finds the handler.
    /// The error names the file and line for a script that does not load.
    pub fn load(script: &Script, settings: &Settings) -> Result<Runtime, String> {
        // The scripts are the operator's own code, so they get the whole standard
        // library, `debug` included (the prelude needs debug.traceback).
        // SAFETY: mlua calls the debug library unsafe because debug functions can
        // break its userdata invariants; the script is trusted like any handler code.
        let lua =
            unsafe { Lua::unsafe_new_with(StdLib::ALL_SAFE | StdLib::DEBUG, LuaOptions::new()) };
        let (name, code) = match script {
            Script::Path(path) => {
                let code = std::fs::read(path)
                    .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
                (format!("@{}", path.display()), code)
            }
            Script::Source { name, code } => (format!("@{name}"), code.clone().into_bytes()),
        };
        let setup = || -> mlua::Result<()> {
            let flutter = library(&lua)?;
            let package: Table = lua.globals().get("package")?;
            package
                .get::<Table>("loaded")?
                .raw_set("flutter", &flutter)?;
            lua.globals().raw_set("flutter", &flutter)?;
            let preload: Table = package.get("preload")?;
            for (name, open) in &settings.c_modules {
                // SAFETY: the embedder vouches that `open` is a lua_CFunction built
                // against the Lua headers flutter ships (see include/).
                let f = unsafe { lua.create_c_function(*open)? };
                preload.raw_set(name.as_str(), f)?;
            }
            if let Script::Path(path) = script {
                // Modules beside the script are found first.
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                let dir = dir.map_or_else(|| ".".into(), |d| d.to_string_lossy().into_owned());
                let old: String = package.get("path")?;
                package.set("path", format!("{dir}/?.lua;{dir}/?/init.lua;{old}"))?;
                if let Some(watch) = &settings.watch {
                    watch.add(path);
                    record_required_files(&lua, watch.clone())?;
                }
            }
            let guards = installed(&lua)?.guards.clone();
            let coroutine: Table = lua.globals().get("coroutine")?;
            for (table, name) in [
                (lua.globals(), "pcall"),
                (lua.globals(), "xpcall"),
                (coroutine.clone(), "resume"),
                (coroutine, "wrap"),
            ] {
                table.raw_set(name, guards.raw_get::<Function>(name)?)?;
            }
            if settings.memory_limit > 0 {
                lua.set_memory_limit(settings.memory_limit)?;
            }
            // Almost everything a request allocates dies with it: the young
            // generation is cheap to collect.
            #[cfg(feature = "lua54")]
            lua.gc_set_mode(mlua::state::GcMode::Generational(
                mlua::state::GcGenParams::default(),
            ));
            Ok(())
        };
        setup().map_err(|e| format!("cannot set up Lua: {e}"))?;
        let budget = installed(&lua)
            .map_err(|e| format!("cannot set up Lua: {e}"))?
            .budget
            .clone();
        // The script's top level runs under the same budget as a request.
        if settings.instruction_limit > 0 {
            budget.left.set(task_budget(settings.instruction_limit));
            budget.exceeded.set(0);
            lua.set_global_hook(
                HookTriggers::new().every_nth_instruction(HOOK_EVERY),
                budget_hook(budget.clone()),
            )
            .map_err(|e| format!("cannot set up Lua: {e}"))?;
        }
        let loaded = lua.load(&code).set_name(name.clone()).eval::<Value>();
        arm_budget_hook(&lua, &budget).map_err(|e| format!("cannot set up Lua: {e}"))?;
        let handler = match loaded.map_err(|e| script_error(&e))? {
            Value::Function(f) => f,
            _ => match lua.globals().get::<Value>("onRequest") {
                Ok(Value::Function(f)) => f,
                _ => {
                    return Err(format!(
                        "{}: the script must return a handler function or define onRequest(req)",
                        name.trim_start_matches('@')
                    ))
                }
            },
        };
        Runtime::new(lua, handler, settings).map_err(|e| format!("cannot set up Lua: {e}"))
    }

    /// A runtime serving `handler` on an existing Lua state (the Lua module,
    /// where the interpreter owns the state: no globals, no memory limit).
    pub fn with_handler(lua: Lua, handler: Function, settings: &Settings) -> mlua::Result<Runtime> {
        Runtime::new(lua, handler, settings)
    }

    fn new(lua: Lua, handler: Function, settings: &Settings) -> mlua::Result<Runtime> {
        let i = installed(&lua)?;
        #[cfg(feature = "vendored")]
        let watch = watch(&lua, &i.budget, settings.instruction_limit)?;
        #[cfg(feature = "vendored")]
        let counted = settings.instruction_limit > 0 && watch.is_none();
        #[cfg(not(feature = "vendored"))]
        let counted = true;
        Ok(Runtime {
            #[cfg(feature = "vendored")]
            watch,
            counted,
            run: Entry::new(&lua, i.runner.call(handler)?)?,
            stream: Entry::new(&lua, i.stream.clone())?,
            http_error_mt: i.http_error_mt.clone(),
            interned: i.interned.clone(),
            requests: i.requests.clone(),
            budget: i.budget.clone(),
            lua,
            instruction_limit: settings.instruction_limit,
            memory_limit: settings.memory_limit,
            exhausted: Cell::new(false),
            spare: Rc::default(),
        })
    }

    /// Whether the state ran out of memory and must be replaced.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// Starts the handler for a request (it runs at the first [`Runtime::resume`]).
    /// Takes the request's headers, query and target (they move into Lua's
    /// handle of it); a request that does not start gets them back.
    pub fn start(&self, req: &mut Request) -> Result<Task, Failure> {
        let ctx = request::context(req);
        let Some(handle) = self.requests.insert(ctx.clone()) else {
            request::give_back(ctx, req);
            return Err(self.failure(
                503,
                "too many requests at once on one Lua state".into(),
                None,
            ));
        };
        let (req, co) = match self.prepare(&ctx, handle) {
            Ok(started) => started,
            Err(f) => {
                self.requests.remove(handle);
                request::give_back(ctx, req);
                return Err(f);
            }
        };
        Ok(Task {
            co: std::mem::ManuallyDrop::new(co),
            handle,
            requests: self.requests.clone(),
            fresh: true,
            streaming: false,
            req,
            resume_args: None,
            budget: task_budget(self.instruction_limit),
            spare: self.spare.clone(),
        })
    }

    /// The coroutine to run the handler on, and `req` with its body fields
    /// when the body is here already (else the coroutine builds `req`).
    fn prepare(&self, ctx: &BodyCtx, handle: i64) -> Result<(Option<Table>, Coroutine), Failure> {
        let internal = |e: mlua::Error| self.failure(500, e.to_string(), None);
        // An empty body is left to the lazy path: most requests never look.
        let eager = {
            let b = ctx.body.borrow();
            b.complete && b.received > 0
        };
        let table = if eager {
            let table = request::build(&self.lua, &self.interned, ctx, handle).map_err(internal)?;
            if let Err(e) = request::fill(&self.lua, &table, ctx) {
                return Err(self.failure(e.status, e.message, None));
            }
            request::mark_filled(&self.interned, &table).map_err(internal)?;
            Some(table)
        } else {
            None
        };
        let spare = self.spare.borrow_mut().pop();
        let co = match spare.and_then(|mut co| co.restart(&self.run).then_some(co)) {
            Some(co) => co,
            None => {
                let co = Coroutine::new(&self.lua, &self.run).map_err(internal)?;
                // mlua gave the new coroutine the budget hook (see arm_budget_hook).
                if !self.counted {
                    co.remove_hook();
                }
                co
            }
        };
        Ok((table, co))
    }

    pub fn resume(&self, task: &mut Task) -> Step {
        let pushed = match (std::mem::take(&mut task.fresh), task.req.take()) {
            (true, None) => {
                task.co.push_integer(task.handle);
                Ok(1)
            }
            (true, Some(req)) => task.co.push(&self.lua, (task.handle, req)),
            (false, _) => match task.resume_args.take() {
                Some(values) => task.co.push(&self.lua, values),
                None => Ok(0),
            },
        };
        let nargs = match pushed {
            Ok(n) => n,
            Err(e) => return Step::Failed(self.failure(500, e.to_string(), None)),
        };
        let b = &self.budget;
        b.left.set(task.budget);
        b.exceeded.set(0);
        b.out_of_memory.set(false);
        b.running.set(true);
        #[cfg(feature = "vendored")]
        if let Some(w) = &self.watch {
            w.enter(task.co.state());
        }
        let resumed = task.co.resume(nargs);
        b.running.set(false);
        task.budget = b.left.get();
        #[cfg(feature = "vendored")]
        if let Some(w) = &self.watch {
            if w.leave(task.co.state()) {
                // The watchdog counted this request; the next ones run free again.
                task.co.remove_hook();
            }
        }
        if b.every.get() != HOOK_EVERY {
            // The request ran out of budget; the others go on at the usual interval.
            // (Setting a hook cannot fail once the state exists.)
            let _ = arm_budget_hook(&self.lua, b);
        }
        if b.out_of_memory.get() {
            return Step::Failed(self.failure(
                500,
                "not enough memory (the request reached lua_memory_limit)".into(),
                None,
            ));
        }
        if b.exceeded.get() > 0 {
            return Step::Failed(self.failure(
                500,
                "request exceeded lua_instruction_limit".into(),
                None,
            ));
        }
        match resumed {
            Resumed::Yielded => {
                let step = self.yielded(&task.co);
                task.co.pop();
                step
            }
            Resumed::Finished => self.finished(task),
            Resumed::Failed(status) => Step::Failed(match task.co.take_error(&self.lua, status) {
                Ok(e) => self.error_failure(e),
                Err(e) => self.failure(500, e.to_string(), None),
            }),
        }
    }

    /// The response of a coroutine that finished.
    fn finished(&self, task: &mut Task) -> Step {
        if task.streaming {
            task.co.pop_finished();
            return Step::Done(None);
        }
        if let Some(r) = response::from_stack(&task.co, COPIED_BODY) {
            task.co.pop_finished();
            return Step::Done(Some(r));
        }
        let value = match task.co.take_result(&self.lua) {
            Ok(v) => v,
            Err(e) => return Step::Failed(self.failure(500, e.to_string(), None)),
        };
        match response::convert(&self.lua, value) {
            Ok((r, None)) => Step::Done(Some(r)),
            // The head goes out now; the finished coroutine then runs the
            // body's function (the next resume).
            Ok((r, Some(produce))) if task.co.restart(&self.stream) => {
                task.streaming = true;
                task.resume_args = Some(MultiValue::from_vec(vec![Value::Function(produce)]));
                Step::Head(r)
            }
            Ok(_) => Step::Failed(self.failure(500, "cannot start the streamed body".into(), None)),
            Err(e) => Step::Failed(self.failure(500, format!("bad response: {e}"), None)),
        }
    }

    /// What a yield of the prelude asks for: the values it left are the
    /// token, the operation and its argument.
    fn yielded(&self, co: &Coroutine) -> Step {
        if co.light_userdata(0) != yield_token().0 {
            return Step::Failed(self.failure(
                500,
                "the handler yielded outside a flutter operation (coroutine.yield at its top level)".into(),
                None,
            ));
        }
        match co.integer(1).unwrap_or(0) {
            1 => {
                let secs = co.number(2).unwrap_or(0.0);
                Step::Wait(Op::Sleep(Duration::from_secs_f64(secs.clamp(0.0, 1e9))))
            }
            2 => Step::Wait(Op::Read),
            3 => Step::Wait(Op::Body),
            5 => match co.string(2) {
                Some(chunk) => Step::Wait(Op::Write(chunk.to_vec())),
                None => Step::Failed(self.failure(
                    500,
                    format!(
                        "a streamed body function returned a {}; return strings, then nil",
                        co.type_name(2)
                    ),
                    None,
                )),
            },
            6 => match co.integer(2) {
                Some(ticket) => Step::Wait(Op::Blocking(ticket as u64)),
                None => Step::Failed(self.failure(500, "bad await".into(), None)),
            },
            _ => Step::Failed(self.failure(500, "unknown operation yielded".into(), None)),
        }
    }

    /// The failure for an error raised in a request's coroutine.
    fn error_failure(&self, e: coroutine::Raised) -> Failure {
        match (e.value, e.traceback) {
            (Value::Table(t), _)
                if t.metatable()
                    .is_some_and(|m| m.to_pointer() == self.http_error_mt.to_pointer()) =>
            {
                let status = t.raw_get::<u16>("status").unwrap_or(500);
                let message = t.raw_get::<String>("message").unwrap_or_default();
                self.failure(status, message, None)
            }
            (_, Some(text)) => {
                let first = text.lines().next().unwrap_or_default().to_string();
                self.failure(500, first, Some(text))
            }
            // Only a memory error comes without a traceback (take_error).
            (_, None) => self.failure(500, "not enough memory".into(), None),
        }
    }

    fn failure(&self, status: u16, message: String, traceback: Option<String>) -> Failure {
        if message.contains("not enough memory") && self.memory_limit > 0 {
            self.exhausted.set(true);
        }
        Failure {
            status,
            message,
            traceback,
        }
    }

    /// Connects this state to the blocking pool and the worker's completions.
    pub fn attach_pool(
        &self,
        pool: std::sync::Arc<crate::pool::Pool>,
        done: std::sync::Arc<crate::pool::Completions>,
    ) {
        blocking::attach(&self.lua, pool, done);
    }

    /// Hands a finished blocking job's output to the task that waits for it.
    pub fn finish_blocking(&self, task: &mut Task, ticket: u64, out: crate::pool::Output) {
        let values = blocking::finish(&self.lua, ticket, out).unwrap_or_else(|e| {
            let msg = self
                .lua
                .create_string(e.to_string())
                .map(Value::String)
                .unwrap_or(Value::Nil);
            MultiValue::from_vec(vec![Value::Nil, msg])
        });
        task.resume_args = Some(values);
    }

    /// Gives this state the server's session settings (`session_*` options).
    pub fn attach_sessions(&self, settings: std::sync::Arc<crate::session::Settings>) {
        session::attach(&self.lua, settings);
    }

    /// Forgets a blocking job whose request is gone.
    pub fn discard_blocking(&self, ticket: u64) {
        blocking::discard(&self.lua, ticket);
    }

    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// The watchdog's registration for a state whose requests have a budget;
/// None where the requests keep the hook from their start instead.
#[cfg(feature = "vendored")]
fn watch(lua: &Lua, b: &Budget, limit: u64) -> mlua::Result<Option<watchdog::Watch>> {
    let Some(hook) = b.hook.get().filter(|_| limit > 0) else {
        return Ok(None);
    };
    #[cfg(feature = "luajit")]
    {
        let mut main = None;
        // SAFETY: lua_pushthread tells whether the current thread is the main one.
        unsafe {
            lua.exec_raw::<()>((), |l| {
                if mlua::ffi::lua_pushthread(l) == 1 {
                    main = Some(l);
                }
                mlua::ffi::lua_pop(l, 1);
            })?
        };
        let main = main
            .ok_or_else(|| mlua::Error::runtime("a runtime must start on the main Lua thread"))?;
        // SAFETY: the Runtime holding the Watch keeps the state open (field order).
        Ok(unsafe { watchdog::Watch::new(main, hook, HOOK_EVERY as i32) })
    }
    // SAFETY: a Runtime (holding the Watch) is not Send: it is dropped on
    // the thread that made it, the one that runs its requests.
    #[cfg(not(feature = "luajit"))]
    {
        let _ = lua;
        Ok(unsafe { watchdog::Watch::new(hook, HOOK_EVERY as i32) })
    }
}

/// Adds every Lua file `require` loads to the reload watch list.
fn record_required_files(
    lua: &Lua,
    watch: std::sync::Arc<crate::reload::WatchList>,
) -> mlua::Result<()> {
    let record = lua.create_function(move |_, path: String| {
        watch.add(std::path::Path::new(&path));
        Ok(())
    })?;
    lua.load(
        r#"local record = ...
        local searchers = package.searchers or package.loaders -- 5.1, LuaJIT
        local find = searchers[2]
        searchers[2] = function(name)
          local loader, path = find(name)
          if type(loader) == "function" then
            -- The 5.1 searcher does not say which file it found.
            if path == nil and package.searchpath then path = package.searchpath(name, package.path) end
            if type(path) == "string" then record(path) end
          end
          return loader, path
        end"#,
    )
    .set_name("=flutter.reload")
    .call(record)
}

/// The Lua function that waits for a blocking job's ticket (for native libraries).
pub fn await_fn(lua: &Lua) -> mlua::Result<Function> {
    installed(lua)?;
    lua.named_registry_value("flutter.await")
}

/// A script's load error as `file:line: message`.
fn script_error(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, traceback } => format!("{cause}\n{traceback}"),
        other => other.to_string(),
    }
}
