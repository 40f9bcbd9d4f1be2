//! The C ABI: `include/flutter.h`, `libflutter.so` and `libflutter.a`.
//!
//! A thin layer over [`Config`](crate::Config) and [`Server`](crate::Server):
//! one module per C type (`config`, `server`, and the `request`/`response`
//! views a C handler gets), plus private plumbing (`panic`: the panic
//! boundary and pointer checks; `error`: the result enum and the last error;
//! `cast`: opaque handles). cbindgen reads these files as they are and writes
//! the header (see `cbindgen.toml`); every doc comment here is the C user's
//! manual, so each says who owns what.
#![allow(non_camel_case_types)]
// The C caller cannot see Rust's `unsafe`; every pointer is checked for NULL
// and the rest of each contract is stated in the function's documentation.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
mod panic;
mod cast;
pub mod config;
mod error;
mod handler;
pub mod request;
pub mod response;
pub mod server;

pub use error::flutter_result;

use std::ffi::c_char;

// The header also defines FLUTTER_VERSION, "MAJOR.MINOR.PATCH" from these
// (see cbindgen.toml); a test checks them against Cargo.toml.

/// The major version of the flutter this header belongs to.
pub const FLUTTER_VERSION_MAJOR: u32 = 0;
/// The minor version of the flutter this header belongs to.
pub const FLUTTER_VERSION_MINOR: u32 = 4;
/// The patch version of the flutter this header belongs to.
pub const FLUTTER_VERSION_PATCH: u32 = 0;

/// The version of the library, like "0.4.0": compare it with
/// `FLUTTER_VERSION` to check that header and library match.
///
/// Ownership: a static string; never free it.
#[no_mangle]
pub extern "C" fn flutter_version() -> *const c_char {
    ffi_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}

#[cfg(test)]
mod tests;
