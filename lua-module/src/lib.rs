//! `require "flutter"` in a plain Lua interpreter: the flutter server with
//! handlers that are functions of the interpreter's own Lua state.
//!
//! The module table is the core's `flutter` library (the one every embedded
//! server preloads: `json`, `sleep`, `log`, the escapes) plus `serve` and
//! `start`. Nothing is set globally. Options are the core `Config`'s, under
//! the command line's names, and every value goes through `Config::set`.
//!
//! A module links no Lua: the interpreter that loads it provides the C API,
//! so this library is built with mlua's `module` feature for one Lua version.

mod options;
mod server;
mod signals;

use mlua::prelude::*;

/// `start` and `serve` around the Rust functions: a mistake in the options
/// is raised from here at level 2, as a plain string naming the caller's
/// line, the way Lua's own functions report a bad argument.
const WRAPPERS: &str = r#"
local start_raw, serve_raw = ...
local error = error
local function start(options)
  local server, message, mistake = start_raw(options)
  if mistake then error(message, 2) end
  return server, message
end
local function serve(options)
  local ok, message = serve_raw(options)
  if not ok then error(message, 2) end
  return ok
end
return start, serve
"#;

#[mlua::lua_module(name = "flutter")]
fn open(lua: &Lua) -> LuaResult<LuaTable> {
    let flutter = flutter::lua::library(lua)?;
    let (start, serve): (LuaFunction, LuaFunction) =
        lua.load(WRAPPERS).set_name("=flutter").call((
            lua.create_function(server::start)?,
            lua.create_function(server::serve)?,
        ))?;
    flutter.raw_set("start", start)?;
    flutter.raw_set("serve", serve)?;
    Ok(flutter)
}
