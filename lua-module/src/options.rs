//! The options table of `flutter.serve{}` / `flutter.start{}`: `handler` or
//! `script`, and every core option by its snake_case name. Values reach
//! `Config::set` as text, so the validation and its messages are the core's.

use flutter::config::{Kind, OPTIONS};
use flutter::Config;
use mlua::prelude::*;
use std::path::PathBuf;

/// What answers the requests.
pub enum Source {
    /// A function of the calling state, run by one worker in this thread.
    Handler(LuaFunction),
    /// A script file (in the config), loaded by every worker into its own state.
    Script,
}

pub struct Options {
    pub config: Config,
    pub source: Source,
}

/// A programmer's mistake in the options (raised by the caller, see lib.rs).
fn mistake(caller: &str, message: impl std::fmt::Display) -> LuaError {
    LuaError::runtime(format!("{caller}: {message}"))
}

/// The type name Lua's `type()` gives.
fn type_name(value: &LuaValue) -> &'static str {
    match value {
        LuaValue::Integer(_) | LuaValue::Number(_) => "number",
        other => other.type_name(),
    }
}

/// The text `Config::set` reads for a Lua value.
fn text_of(caller: &str, name: &str, value: &LuaValue) -> LuaResult<String> {
    Ok(match value {
        LuaValue::String(s) => match s.to_str() {
            Ok(s) => s.to_string(),
            Err(_) => {
                return Err(mistake(
                    caller,
                    format!("invalid value for option {name}: not UTF-8 text"),
                ))
            }
        },
        LuaValue::Integer(i) => i.to_string(),
        // Lua 5.1 and LuaJIT have only floats: 8 is 8.0 there.
        LuaValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => (*n as i64).to_string(),
        LuaValue::Number(n) => n.to_string(),
        LuaValue::Boolean(b) => b.to_string(),
        other => {
            return Err(mistake(
                caller,
                format!(
                    "invalid value for option {name}: expected a string, number or boolean, got {}",
                    type_name(other)
                ),
            ))
        }
    })
}

/// Reads an options table; `caller` names the function in error messages.
pub fn parse(caller: &str, table: LuaTable) -> LuaResult<Options> {
    let mut config = Config::new();
    let mut handler = None;
    let mut script = None;
    let mut given = Vec::new();
    for pair in table.pairs::<LuaValue, LuaValue>() {
        let (key, value) = pair?;
        let name = match &key {
            LuaValue::String(s) => s.to_string_lossy().replace('-', "_"),
            other => {
                return Err(mistake(
                    caller,
                    format!("option names are strings, got {}", type_name(other)),
                ))
            }
        };
        match (name.as_str(), value) {
            ("handler", LuaValue::Function(f)) => handler = Some(f),
            ("handler", other) => {
                return Err(mistake(
                    caller,
                    format!(
                        "option handler: expected a function, got {}",
                        type_name(&other)
                    ),
                ))
            }
            ("script", LuaValue::String(s)) => script = Some(PathBuf::from(s.to_str()?.as_ref())),
            ("script", other) => {
                return Err(mistake(
                    caller,
                    format!(
                        "option script: expected a file path, got {}",
                        type_name(&other)
                    ),
                ))
            }
            (_, value) => {
                let repeatable = OPTIONS
                    .iter()
                    .any(|o| o.name == name && o.kind == Kind::Address);
                let values = match value {
                    // `listen = { "127.0.0.1:8080", "[::1]:8080" }`
                    LuaValue::Table(list) if repeatable => list
                        .sequence_values::<LuaValue>()
                        .collect::<LuaResult<Vec<_>>>()?,
                    value => vec![value],
                };
                for value in values {
                    let text = text_of(caller, &name, &value)?;
                    config.set(&name, &text).map_err(|e| mistake(caller, e))?;
                }
                given.push(name);
            }
        }
    }
    let source = match (handler, script) {
        (Some(_), Some(_)) => {
            return Err(mistake(
                caller,
                "give option handler (a function) or option script (a file), not both",
            ))
        }
        (None, None) => {
            return Err(mistake(
                caller,
                "option handler: expected a function (or script = \"path/to/app.lua\")",
            ))
        }
        (None, Some(path)) => {
            config.set_script_path(path);
            Source::Script
        }
        (Some(f), None) => {
            // The handler lives in this state, and a state is one thread's.
            if given.iter().any(|n| n == "workers") && config.workers > 1 {
                return Err(mistake(
                    caller,
                    format!(
                        "invalid value \"{}\" for option workers: a handler function runs on one worker, \
                         in this Lua state; for more workers give script = \"path\" (each worker loads \
                         it into its own state)",
                        config.workers
                    ),
                ));
            }
            if given.iter().any(|n| n == "lua_memory_limit") {
                return Err(mistake(
                    caller,
                    "option lua_memory_limit: the interpreter owns this Lua state and its memory; \
                     the limit applies to script = \"path\" workers",
                ));
            }
            config.workers = 1;
            Source::Handler(f)
        }
    };
    Ok(Options { config, source })
}
