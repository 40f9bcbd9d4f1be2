//! `flutter_server`: a running server, started from a `flutter_config`.

use super::cast::{self, Opaque};
use super::config::flutter_config;
use super::error::{fail, flutter_result};
use crate::config::{Config, Script};
use crate::server::{Handle, Server, StartError};
use std::net::SocketAddr;
use std::sync::Mutex;

/// A running server: its workers serve on background threads from
/// `flutter_server_start()` until `flutter_server_stop()`. Any thread may
/// call the functions below on it, except that `flutter_server_free()` must
/// be the last call. Servers are independent: one process may run several.
pub struct flutter_server {
    _private: [u8; 0],
}

pub(crate) struct RunningServer {
    handle: Handle,
    addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    /// Taken by the thread that waits for the workers.
    server: Mutex<Server>,
}

impl Opaque for flutter_server {
    type Target = RunningServer;
}

/// With a C handler and no script, what the handler declines gets 404.
const DECLINED_SCRIPT: &str = "return function() return { status = 404, body = \
    '<!doctype html><title>404 Not Found</title><h1>Not Found</h1>' } end";

fn start(config: &Config) -> Result<Server, flutter_result> {
    let mut config = config.clone();
    if config.script.is_none() && config.native_handler.is_some() {
        config.script = Some(Script::Source {
            name: "(no script)".into(),
            code: DECLINED_SCRIPT.into(),
        });
    }
    Server::start(config).map_err(|e| {
        let code = match e {
            StartError::NoScript => flutter_result::NoScript,
            StartError::Script(_) => flutter_result::ScriptError,
            StartError::Bind { .. } => flutter_result::CannotListen,
            // Other(_), and whatever kinds the core adds before the ABI names them.
            _ => flutter_result::StartFailed,
        };
        fail(code, e.to_string())
    })
}

/// Starts a server from `cfg`: binds every listen address, starts the
/// workers on background threads and loads the script in each, then
/// returns; `*server_out` is then serving. A script that does not load
/// gives FLUTTER_RESULT_SCRIPT_ERROR (the message starts with `file:line:`),
/// an address that cannot be bound FLUTTER_RESULT_CANNOT_LISTEN, a config
/// with neither script nor handler FLUTTER_RESULT_NO_SCRIPT. `*server_out`
/// is written only on success.
///
/// Ownership: `cfg` is copied and stays the caller's. On success the caller
/// owns `*server_out` and frees it with `flutter_server_free()`.
#[no_mangle]
pub extern "C" fn flutter_server_start(
    cfg: *const flutter_config,
    server_out: *mut *mut flutter_server,
) -> flutter_result {
    ffi_boundary! {
        let config = try_ref!(cfg);
        try_out!(server_out);
        let server = match start(config) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let running = RunningServer {
            handle: server.handle(),
            addrs: server.local_addrs().to_vec(),
            tls_addrs: server.tls_addrs().to_vec(),
            server: Mutex::new(server),
        };
        // SAFETY: checked for NULL above.
        unsafe { *server_out = cast::into_handle(running) };
        flutter_result::Ok
    }
}

/// Serves `cfg` in the calling thread until the process gets SIGINT or
/// SIGTERM, then stops gracefully and returns FLUTTER_RESULT_OK; SIGHUP
/// reloads the script meanwhile. This is the `flutter` command's loop, for
/// a program whose main job is serving. It blocks those three signals in
/// the calling thread (the workers inherit that) and restores the thread's
/// signal mask before it returns, so other threads of the program should
/// block them too (start them after this call, or block the signals
/// yourself). Fails as `flutter_server_start()` does, without blocking.
///
/// Ownership: `cfg` is copied and stays the caller's.
#[no_mangle]
pub extern "C" fn flutter_server_run(cfg: *const flutter_config) -> flutter_result {
    ffi_boundary! {
        let config = try_ref!(cfg);
        let signals = Signals::block();
        let mut server = match start(config) {
            Ok(s) => s,
            Err(code) => return code,
        };
        while signals.wait() == libc::SIGHUP {
            server.reload();
        }
        server.stop();
        server.wait();
        flutter_result::Ok
    }
}

/// SIGINT, SIGTERM and SIGHUP blocked in this thread while it lives.
struct Signals {
    set: libc::sigset_t,
    old: libc::sigset_t,
}

impl Signals {
    fn block() -> Signals {
        // SAFETY: signal set manipulation on local sets; pthread_sigmask
        // changes only the calling thread's mask (restored in Drop).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            Signals { set, old }
        }
    }

    fn wait(&self) -> libc::c_int {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised signal set; sig is a local.
        while unsafe { libc::sigwait(&self.set, &mut sig) } != 0 {}
        sig
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `block` for this same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// The port of the server's `index`th plain HTTP listen address (`listen`,
/// in the order added; 0 for the first), useful after asking for port 0.
/// Gives 0 for a NULL `server` or an index past the end.
#[no_mangle]
pub extern "C" fn flutter_server_port(server: *const flutter_server, index: usize) -> u16 {
    ffi_boundary! {
        try_ref!(server).addrs.get(index).map_or(0, |a| a.port())
    }
}

/// The port of the server's `index`th HTTPS listen address (`tls_listen`,
/// in the order added; 0 for the first). Gives 0 for a NULL `server` or an
/// index past the end.
#[no_mangle]
pub extern "C" fn flutter_server_tls_port(server: *const flutter_server, index: usize) -> u16 {
    ffi_boundary! {
        try_ref!(server).tls_addrs.get(index).map_or(0, |a| a.port())
    }
}

/// Loads the script anew in every worker (also the C modules' `require`s);
/// requests in flight finish on the old Lua state. Returns at once. A
/// worker whose new script does not load logs the error and keeps the old.
#[no_mangle]
pub extern "C" fn flutter_server_reload(server: *const flutter_server) -> flutter_result {
    ffi_boundary! {
        try_ref!(server).handle.reload();
        flutter_result::Ok
    }
}

/// Begins a graceful stop and returns at once: the listeners close, and
/// requests in flight finish within `shutdown_timeout`. Use
/// `flutter_server_wait()` to wait for the end. Stopping twice is harmless.
#[no_mangle]
pub extern "C" fn flutter_server_stop(server: *const flutter_server) -> flutter_result {
    ffi_boundary! {
        try_ref!(server).handle.stop();
        flutter_result::Ok
    }
}

/// Blocks until every worker of the server has ended, that is after
/// `flutter_server_stop()` (from another thread, or before this call).
/// Returns at once when the server has already ended.
#[no_mangle]
pub extern "C" fn flutter_server_wait(server: *const flutter_server) -> flutter_result {
    ffi_boundary! {
        let running = try_ref!(server);
        running
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .wait();
        flutter_result::Ok
    }
}

/// Stops the server if it still runs (gracefully, as `flutter_server_stop()`),
/// waits for its workers, and frees it. NULL does nothing.
///
/// Ownership: takes `server`, which must not be used afterwards, and which
/// no other thread may be using.
#[no_mangle]
pub extern "C" fn flutter_server_free(server: *mut flutter_server) {
    ffi_boundary! {
        // SAFETY: `server` is NULL or from flutter_server_start, freed once.
        if let Some(running) = unsafe { cast::take_handle(server) } {
            running.handle.stop();
            let mut server = running
                .server
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            server.wait();
        }
    }
}
