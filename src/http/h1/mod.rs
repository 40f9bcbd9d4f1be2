//! HTTP/1.0 and 1.1 (RFC 9112): `role` parses heads, `decode` reads bodies,
//! `encode` writes responses, and `conn` ties them into a connection that
//! works on buffers only (the worker does the socket I/O).

pub mod conn;
pub mod decode;
pub mod encode;
pub mod role;
