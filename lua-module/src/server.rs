//! `flutter.start{}`, `flutter.serve{}` and the server object they make.
//!
//! With `handler = function`, the core's `LocalServer` runs one worker in the
//! calling thread on the calling Lua state: each request is a coroutine of
//! that state, and nothing happens between calls to `step`/`run`. With
//! `script = "path"`, the core's threaded `Server` runs `workers` threads, each
//! with its own state; `step` then only waits, and `run` waits for a stop.

use crate::options::{self, Source};
use crate::signals;
use flutter::lua::{Runtime, Settings};
use flutter::{LocalServer, Server};
use mlua::prelude::*;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

/// How long `run` waits at most before it looks for a stop signal (a signal
/// that reaches another thread does not interrupt this thread's poll).
const SIGNAL_CHECK: Duration = Duration::from_millis(250);
/// The longest `step` timeout taken: a day.
const MAX_STEP: f64 = 86400.0;

enum Running {
    /// One worker in this thread, on this state.
    Local(Box<LocalServer>),
    /// Worker threads, each with its own state.
    Threads(Server),
}

pub struct LuaServer {
    /// None once stopped.
    running: RefCell<Option<Running>>,
    addrs: Vec<SocketAddr>,
    /// `stop`/`reload` called while the server steps (by one of its own
    /// handlers): done as soon as that step returns.
    stop_asked: Cell<bool>,
    reload_asked: Cell<bool>,
}

/// Why `start` gave no server.
pub enum Refusal {
    /// A mistake in the options: the caller raises it as an error.
    Mistake(String),
    /// A runtime failure (an address in use, a script that does not load).
    Failure(String),
}

fn start_server(lua: &Lua, caller: &str, table: LuaValue) -> LuaResult<Result<LuaServer, Refusal>> {
    let table = match table {
        LuaValue::Table(t) => t,
        other => {
            return Ok(Err(Refusal::Mistake(format!(
                "{caller}: expected a table of options, got {}",
                other.type_name()
            ))))
        }
    };
    let opts = match options::parse(caller, table) {
        Ok(opts) => opts,
        Err(LuaError::RuntimeError(message)) => return Ok(Err(Refusal::Mistake(message))),
        Err(e) => return Err(e),
    };
    let started = match opts.source {
        Source::Handler(handler) => {
            let settings = Settings {
                instruction_limit: opts.config.lua_instruction_limit,
                ..Settings::default()
            };
            let lua = lua.clone();
            let loader = Box::new(move || {
                Runtime::with_handler(lua.clone(), handler.clone(), &settings)
                    .map_err(|e| e.to_string())
            });
            LocalServer::start(opts.config, loader)
                .map(|s| (s.local_addrs().to_vec(), Running::Local(Box::new(s))))
        }
        Source::Script => {
            Server::start(opts.config).map(|s| (s.local_addrs().to_vec(), Running::Threads(s)))
        }
    };
    Ok(match started {
        Ok((addrs, running)) => Ok(LuaServer {
            running: RefCell::new(Some(running)),
            addrs,
            stop_asked: Cell::new(false),
            reload_asked: Cell::new(false),
        }),
        Err(e) => Err(Refusal::Failure(format!("{caller}: {e}"))),
    })
}

/// The raw `flutter.start`: the server object, or nil, a message and
/// whether the message is a mistake to raise (see the wrapper in lib.rs).
pub fn start(lua: &Lua, table: LuaValue) -> LuaResult<(LuaValue, Option<String>, bool)> {
    Ok(match start_server(lua, "flutter.start", table)? {
        Ok(server) => (
            LuaValue::UserData(lua.create_userdata(server)?),
            None,
            false,
        ),
        Err(Refusal::Failure(message)) => (LuaValue::Nil, Some(message), false),
        Err(Refusal::Mistake(message)) => (LuaValue::Nil, Some(message), true),
    })
}

/// The raw `flutter.serve`: true after serving until SIGINT or SIGTERM, or
/// nil and the message to raise.
pub fn serve(lua: &Lua, table: LuaValue) -> LuaResult<(bool, Option<String>)> {
    match start_server(lua, "flutter.serve", table)? {
        Ok(server) => Ok((server.run()?, None)),
        Err(Refusal::Failure(message) | Refusal::Mistake(message)) => Ok((false, Some(message))),
    }
}

impl LuaServer {
    /// Handles what is ready, waiting at most `timeout`; false once stopped.
    fn step(&self, timeout: Duration) -> LuaResult<bool> {
        let mut running = self.running.try_borrow_mut().map_err(|_| {
            LuaError::runtime("server:step/run: called by a request handler of the same server")
        })?;
        let alive = match running.as_mut() {
            None => false,
            Some(Running::Local(s)) => {
                self.apply_asked(s);
                let alive = s.step(timeout);
                self.apply_asked(s);
                alive
            }
            Some(Running::Threads(s)) => {
                if self.stop_asked.take() {
                    s.stop();
                    s.wait();
                    false
                } else {
                    std::thread::sleep(timeout);
                    true
                }
            }
        };
        if !alive {
            *running = None;
        }
        Ok(alive)
    }

    fn apply_asked(&self, s: &mut LocalServer) {
        if self.reload_asked.take() {
            s.reload();
        }
        if self.stop_asked.take() {
            s.stop();
        }
    }

    /// Serves until stopped: by `stop` from a handler, or by SIGINT/SIGTERM.
    fn run(&self) -> LuaResult<bool> {
        let signals = signals::Guard::install();
        loop {
            if signals.take() {
                self.stop_asked.set(true);
            }
            if !self.step(SIGNAL_CHECK)? {
                return Ok(true);
            }
        }
    }

    /// A graceful stop: returns when the requests in flight are answered (at
    /// most `shutdown_timeout`). From a handler, the stop begins after it.
    fn stop(&self) {
        let Ok(mut running) = self.running.try_borrow_mut() else {
            self.stop_asked.set(true);
            return;
        };
        match running.take() {
            None => {}
            Some(Running::Local(mut s)) => {
                s.stop();
                let mut wait = Duration::ZERO;
                while s.step(wait) {
                    wait = Duration::from_millis(100);
                }
            }
            Some(Running::Threads(mut s)) => {
                s.stop();
                s.wait();
            }
        }
    }

    fn reload(&self) {
        match self.running.try_borrow_mut().as_deref_mut() {
            Ok(Some(Running::Local(s))) => s.reload(),
            Ok(Some(Running::Threads(s))) => s.reload(),
            Ok(None) => {}
            Err(_) => self.reload_asked.set(true),
        }
    }
}

fn seconds(what: &str, value: Option<f64>) -> LuaResult<Duration> {
    match value {
        None => Ok(Duration::ZERO),
        Some(s) if (0.0..=MAX_STEP).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) if s > MAX_STEP => Ok(Duration::from_secs_f64(MAX_STEP)),
        Some(s) => Err(LuaError::runtime(format!(
            "{what}: expected a timeout in seconds >= 0, got {s}"
        ))),
    }
}

impl LuaUserData for LuaServer {
    fn add_methods<M: LuaUserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("port", |_, this, ()| {
            Ok(this.addrs.first().map(|a| a.port()))
        });
        methods.add_method("run", |_, this, ()| this.run());
        methods.add_method("step", |_, this, timeout: Option<f64>| {
            this.step(seconds("server:step", timeout)?)
        });
        methods.add_method("stop", |_, this, ()| {
            this.stop();
            Ok(())
        });
        methods.add_method("reload", |_, this, ()| {
            this.reload();
            Ok(())
        });
        // `local server <close> = assert(flutter.start{...})`
        #[cfg(feature = "lua54")]
        methods.add_meta_method(LuaMetaMethod::Close, |_, this, _: LuaMultiValue| {
            this.stop();
            Ok(())
        });
        methods.add_meta_method(LuaMetaMethod::ToString, |_, this, ()| {
            let state = if this.running.try_borrow().is_ok_and(|r| r.is_none()) {
                "stopped".to_string()
            } else {
                this.addrs
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Ok(format!("flutter.server ({state})"))
        });
    }
}
