//! flutter: an HTTP server whose request handlers are Lua scripts.
//! See DESIGN.md for the layering: server -> worker -> http | lua.

pub mod body;
pub mod config;
pub mod db;
pub mod escape;
#[cfg(feature = "vendored")]
pub mod ffi;
pub mod files;
pub mod form;
pub mod http;
pub mod log;
pub mod lua;
pub mod pool;
pub mod reload;
pub mod server;
pub mod session;
pub mod tls;
pub mod worker;

pub use config::Config;
pub use server::{LocalServer, Server, StartError};
