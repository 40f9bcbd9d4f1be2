//! `flutter_config`: the configuration a server starts from. Every option
//! setter ends in [`Config::set`], so a value is validated in one place for
//! all three doors, and a refused value's message names the option and the
//! value. Each option of `config::OPTIONS` has a typed setter here:
//! `flutter_config_set_<name>`, or `flutter_config_add_<name>` for the
//! repeatable ones (a test checks that none is missing).

use super::cast::{self, Opaque};
use super::error::{fail, flutter_result};
use super::handler::{flutter_handler, CHandler};
use crate::config::{Config, NativeHandlerRef};
use mlua::ffi::lua_State;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

/// A server's configuration, built up by the `flutter_config_*` calls.
/// Create it with `flutter_config_new()`, free it with `flutter_config_free()`.
/// `flutter_server_start()` copies it, so it may be changed or freed while
/// servers started from it run. Not thread-safe: use one from one thread at
/// a time.
pub struct flutter_config {
    _private: [u8; 0],
}

impl Opaque for flutter_config {
    type Target = Config;
}

/// A Lua C function (`lua_CFunction` of the Lua headers flutter installs),
/// here the `luaopen_*` function of a C module.
pub type flutter_lua_cfunction =
    Option<unsafe extern "C-unwind" fn(state: *mut lua_State) -> c_int>;

/// A new configuration with every option at its default (see the setters).
///
/// Ownership: the caller owns the result and frees it with
/// `flutter_config_free()`. NULL only if flutter failed internally.
#[no_mangle]
pub extern "C" fn flutter_config_new() -> *mut flutter_config {
    ffi_boundary! {
        cast::into_handle(Config::new())
    }
}

/// Frees a configuration. NULL does nothing.
///
/// Ownership: takes `cfg`, which must not be used afterwards. Servers started
/// from it are not affected.
#[no_mangle]
pub extern "C" fn flutter_config_free(cfg: *mut flutter_config) {
    ffi_boundary! {
        // SAFETY: `cfg` is NULL or from flutter_config_new, freed once.
        drop(unsafe { cast::take_handle(cfg) });
    }
}

fn set(cfg: *mut flutter_config, name: &str, value: &str) -> flutter_result {
    let config = try_mut!(cfg);
    match config.set(name, value) {
        Ok(()) => flutter_result::Ok,
        Err(e) => fail(flutter_result::InvalidOption, e.to_string()),
    }
}

/// `set` with a C string; `param` names it in a NULL error.
fn set_text(
    cfg: *mut flutter_config,
    name: &str,
    value: *const c_char,
    param: &str,
) -> flutter_result {
    // SAFETY: the C caller passes a NUL-terminated string (or NULL).
    match unsafe { cast::c_str(value, param) } {
        Ok(value) => set(cfg, name, value),
        Err(code) => code,
    }
}

/// Sets the option `name` from its text form, exactly as the command line's
/// `--name VALUE` does: `name` is snake_case (`max_body_bytes`) or
/// kebab-case (`max-body-bytes`); times take `0.5`, `250ms`, `30s` or `2m`;
/// flags take `true` or `false`; a repeatable option (`listen`) adds a
/// value. Each option also has a typed setter below. An unknown name or a
/// refused value gives FLUTTER_RESULT_INVALID_OPTION, with a message naming
/// the option and the value, and changes nothing.
///
/// Ownership: `name` and `value` are borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set(
    cfg: *mut flutter_config,
    name: *const c_char,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        let name = try_str!(name);
        set_text(cfg, name, value, "value")
    }
}

/// Adds an address to serve plain HTTP on (`listen`): `host:port`,
/// `[ipv6]:port`, or a bare `port` / `:port` for all IPv4 addresses. The first
/// address given (here or with `flutter_config_add_tls_listen()`) replaces
/// the default `0.0.0.0:8080`; port 0 picks a free port, which
/// `flutter_server_port()` tells. A refused address gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `address` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_add_listen(
    cfg: *mut flutter_config,
    address: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "listen", address, "address")
    }
}

/// Adds to `tls_listen`: address to serve HTTPS on, repeatable (needs tls_cert
/// and tls_key). Addresses are written as for
/// `flutter_config_add_listen()`. A refused address gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `address` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_add_tls_listen(
    cfg: *mut flutter_config,
    address: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "tls_listen", address, "address")
    }
}

/// Adds to `tls_cert`: PEM certificate chain for HTTPS, repeatable; SNI picks
/// among them, the first is the default.
/// A path that is not a file gives FLUTTER_RESULT_INVALID_OPTION and changes
/// nothing.
///
/// Ownership: `path` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_add_tls_cert(
    cfg: *mut flutter_config,
    path: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "tls_cert", path, "path")
    }
}

/// Adds to `tls_key`: PEM private key (PKCS#8, PKCS#1 or SEC1) of the tls_cert
/// at the same position.
/// A path that is not a file gives FLUTTER_RESULT_INVALID_OPTION and changes
/// nothing.
///
/// Ownership: `path` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_add_tls_key(
    cfg: *mut flutter_config,
    path: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "tls_key", path, "path")
    }
}

/// Sets `client_ca`: PEM bundle of the CAs that client certificates must chain
/// to.
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_client_ca(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "client_ca", value, "value")
    }
}

/// Sets `client_auth`: client certificates: none (default), optional or
/// required.
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_client_auth(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "client_auth", value, "value")
    }
}

/// Sets `redirect_https`: answer plain HTTP with a redirect to the first HTTPS
/// listener.
#[no_mangle]
pub extern "C" fn flutter_config_set_redirect_https(
    cfg: *mut flutter_config,
    on: bool,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "redirect_https", if on { "true" } else { "false" })
    }
}

/// Sets `root`: document root: files under it are served before the handler
/// (without a script, a plain static server).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_root(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "root", value, "value")
    }
}

/// Sets `root_symlinks`: serve files whose symlinks lead out of the root
/// (default off: refused).
#[no_mangle]
pub extern "C" fn flutter_config_set_root_symlinks(
    cfg: *mut flutter_config,
    on: bool,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "root_symlinks", if on { "true" } else { "false" })
    }
}

/// Sets `root_dotfiles`: serve files and directories whose names start with a
/// dot (default off: hidden).
#[no_mangle]
pub extern "C" fn flutter_config_set_root_dotfiles(
    cfg: *mut flutter_config,
    on: bool,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "root_dotfiles", if on { "true" } else { "false" })
    }
}

/// Sets `root_listing`: list a directory that has no index.html (default off).
#[no_mangle]
pub extern "C" fn flutter_config_set_root_listing(
    cfg: *mut flutter_config,
    on: bool,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "root_listing", if on { "true" } else { "false" })
    }
}

/// Sets `root_cache_control`: Cache-Control value sent with static files, such
/// as 'public, max-age=3600' (default: none).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_root_cache_control(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "root_cache_control", value, "value")
    }
}

/// Sets `workers`: worker threads, each with its own event loop and Lua state
/// (default: number of cores).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_workers(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "workers", &value.to_string())
    }
}

/// Sets `blocking_threads`: threads for work that cannot be non-blocking, such
/// as SQL queries (default 8).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_blocking_threads(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "blocking_threads", &value.to_string())
    }
}

/// Sets `dev`: development mode: Lua tracebacks in error pages.
#[no_mangle]
pub extern "C" fn flutter_config_set_dev(cfg: *mut flutter_config, on: bool) -> flutter_result {
    ffi_boundary! {
        set(cfg, "dev", if on { "true" } else { "false" })
    }
}

/// Sets `reload`: reload when the script or a module it requires changes
/// (default: on with --dev, else off).
#[no_mangle]
pub extern "C" fn flutter_config_set_reload(cfg: *mut flutter_config, on: bool) -> flutter_result {
    ffi_boundary! {
        set(cfg, "reload", if on { "true" } else { "false" })
    }
}

/// Sets `access_log`: access log destination: 'stdout' (default), 'off' or a
/// file path.
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_access_log(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "access_log", value, "value")
    }
}

/// Sets `max_connections`: open connections per worker; new ones wait in the
/// backlog above it (default 16384).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_max_connections(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "max_connections", &value.to_string())
    }
}

/// Sets `max_header_bytes`: largest request head (request line and headers);
/// 431 above it (default 16384).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_max_header_bytes(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "max_header_bytes", &value.to_string())
    }
}

/// Sets `max_uri_bytes`: longest request target; 414 above it (default 8192).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_max_uri_bytes(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "max_uri_bytes", &value.to_string())
    }
}

/// Sets `max_headers`: most header fields in a request, at most 100; 431 above
/// it (default 100).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_max_headers(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "max_headers", &value.to_string())
    }
}

/// Sets `max_body_bytes`: largest request body; 413 above it (default 8388608).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_max_body_bytes(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "max_body_bytes", &value.to_string())
    }
}

/// Sets `body_buffer_bytes`: request bodies up to this size are kept in memory
/// and read before the handler runs; larger ones spool to a temporary file
/// (default 65536).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_body_buffer_bytes(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "body_buffer_bytes", &value.to_string())
    }
}

/// Sets `temp_dir`: directory for spooled request bodies and uploaded files
/// (default: the system's).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_temp_dir(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "temp_dir", value, "value")
    }
}

/// Sets `header_timeout`, in seconds (fractions allowed): time allowed to send
/// a whole request head; 408 after it (default 10s).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_header_timeout(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "header_timeout", &seconds.to_string())
    }
}

/// Sets `body_timeout`, in seconds (fractions allowed): longest pause while a
/// request body arrives; 408 after it (default 30s).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_body_timeout(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "body_timeout", &seconds.to_string())
    }
}

/// Sets `idle_timeout`, in seconds (fractions allowed): how long an idle
/// keep-alive connection stays open (default 75s).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_idle_timeout(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "idle_timeout", &seconds.to_string())
    }
}

/// Sets `send_timeout`, in seconds (fractions allowed): longest pause while the
/// client takes a response; closed after it (default 30s).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_send_timeout(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "send_timeout", &seconds.to_string())
    }
}

/// Sets `shutdown_timeout`, in seconds (fractions allowed): grace period for
/// requests in flight at a graceful stop (default 10s).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_shutdown_timeout(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "shutdown_timeout", &seconds.to_string())
    }
}

/// Sets `lua_memory_limit`: bytes a worker's Lua state may use; a state over it
/// is replaced (default 268435456, 0 = none).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_lua_memory_limit(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "lua_memory_limit", &value.to_string())
    }
}

/// Sets `lua_instruction_limit`: Lua instructions a request may run, once it
/// has run 100 ms without yielding, before it is stopped with 500 (default
/// 100000000, 0 = none). The watchdog signals the worker thread with SIGURG:
/// where the program handles or blocks SIGURG, requests are counted from
/// their first instruction instead.
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_lua_instruction_limit(
    cfg: *mut flutter_config,
    value: u64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "lua_instruction_limit", &value.to_string())
    }
}

/// Sets `session_store`: where sessions live: 'cookie' (default: signed
/// cookies) or a database URL, sqlite:PATH or postgres://....
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_store(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "session_store", value, "value")
    }
}

/// Sets `session_secret`: secret that signs session cookies, at least 16
/// characters (default: $FLUTTER_SESSION_SECRET, else generated into
/// session_secret_file).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_secret(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "session_secret", value, "value")
    }
}

/// Sets `session_previous_secret`: the secret before session_secret: cookies it
/// signed are still accepted, and signed anew.
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_previous_secret(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "session_previous_secret", value, "value")
    }
}

/// Sets `session_secret_file`: file a generated session secret is kept in
/// (default: .flutter-session-secret beside the script).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_secret_file(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "session_secret_file", value, "value")
    }
}

/// Sets `session_cookie`: name of the session cookie (default flutter_session).
/// A refused value gives FLUTTER_RESULT_INVALID_OPTION and changes nothing.
///
/// Ownership: `value` is borrowed for the call.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_cookie(
    cfg: *mut flutter_config,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        set_text(cfg, "session_cookie", value, "value")
    }
}

/// Sets `session_max_age`, in seconds (fractions allowed): how long a session
/// lasts without being used (default 14 days: 20160m).
/// A refused value (0, negative, not finite) gives
/// FLUTTER_RESULT_INVALID_OPTION and changes nothing.
#[no_mangle]
pub extern "C" fn flutter_config_set_session_max_age(
    cfg: *mut flutter_config,
    seconds: f64,
) -> flutter_result {
    ffi_boundary! {
        set(cfg, "session_max_age", &seconds.to_string())
    }
}

/// Serves the Lua script in the file at `path`, which every worker loads
/// into its own Lua state when the server starts (or reloads). A script
/// that does not load makes `flutter_server_start()` fail with
/// FLUTTER_RESULT_SCRIPT_ERROR and a `file:line:` message.
///
/// Ownership: `path` is copied.
#[no_mangle]
pub extern "C" fn flutter_config_set_script_path(
    cfg: *mut flutter_config,
    path: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        let config = try_mut!(cfg);
        let path = try_str!(path);
        if path.is_empty() {
            return fail(flutter_result::InvalidArgument, "the script path must not be empty");
        }
        config.set_script_path(path);
        flutter_result::Ok
    }
}

/// Serves the Lua script given as `len` bytes of source text at `code`
/// (UTF-8, need not be NUL-terminated). `name` stands for the file in error
/// messages and tracebacks (`name:line:`).
///
/// Ownership: `name` and `code` are copied.
#[no_mangle]
pub extern "C" fn flutter_config_set_script_source(
    cfg: *mut flutter_config,
    name: *const c_char,
    code: *const c_char,
    len: usize,
) -> flutter_result {
    ffi_boundary! {
        let config = try_mut!(cfg);
        let name = try_str!(name);
        // SAFETY: C passes `len` readable bytes at `code`.
        let code = match unsafe { cast::bytes(code.cast(), len, "code") } {
            Ok(bytes) => bytes,
            Err(result) => return result,
        };
        let Ok(code) = std::str::from_utf8(code) else {
            return fail(flutter_result::InvalidArgument, "code is not valid UTF-8");
        };
        config.set_script_source(name, code);
        flutter_result::Ok
    }
}

/// Makes the Lua C module `name` available to `require` in every worker's
/// Lua state: `require(name)` calls `open` (the module's `luaopen_*`
/// function). The module must be built against the Lua headers installed
/// with flutter (`include/flutter/lua/`, on the include path of the CMake
/// target and the pkg-config flags), which match the Lua inside flutter.
/// Adding a name again replaces the earlier function.
///
/// Ownership: `name` is copied; `open` must stay callable while servers
/// started from this configuration run.
#[no_mangle]
pub extern "C" fn flutter_config_add_lua_module(
    cfg: *mut flutter_config,
    name: *const c_char,
    open: flutter_lua_cfunction,
) -> flutter_result {
    ffi_boundary! {
        let config = try_mut!(cfg);
        let name = try_str!(name);
        let Some(open) = open else {
            return super::panic::null_parameter("open");
        };
        if name.is_empty() {
            return fail(flutter_result::InvalidArgument, "the module name must not be empty");
        }
        config.lua_modules.retain(|(n, _)| n != name);
        config.lua_modules.push((name.to_string(), open));
        flutter_result::Ok
    }
}

/// Sets the C request handler, asked before the Lua script for every
/// request (see `flutter_handler`); NULL removes it. With a handler and no
/// script, the requests it declines get 404.
///
/// Ownership: `userdata` stays the caller's and is passed to every call; it
/// must stay valid (and be safe to use from several threads) while servers
/// started from this configuration run.
#[no_mangle]
pub extern "C" fn flutter_config_set_handler(
    cfg: *mut flutter_config,
    handler: flutter_handler,
    userdata: *mut c_void,
) -> flutter_result {
    ffi_boundary! {
        let config = try_mut!(cfg);
        config.native_handler = handler
            .map(|callback| NativeHandlerRef(Arc::new(CHandler::new(callback, userdata))));
        flutter_result::Ok
    }
}
