//! The HTTP protocols, below the handler layer and unaware of Lua.

pub mod date;
pub mod h1;
pub mod message;
pub mod status;
