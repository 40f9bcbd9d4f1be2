//! Parsers for what clients send in queries, cookies and form bodies.

pub mod cookie;
pub mod multipart;
pub mod urlencoded;
