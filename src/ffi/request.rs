//! `flutter_request`: the read-only view of a request that a C handler gets.

use super::cast::Opaque;
use super::error::{fail, flutter_result};
use crate::http::message::Request;
use std::ffi::c_char;

/// A request as a C handler sees it: valid only during the handler call.
/// flutter owns it; the handler never frees it.
pub struct flutter_request {
    _private: [u8; 0],
}

pub(crate) struct RequestView<'a> {
    pub req: &'a Request,
    pub body: &'a [u8],
}

impl Opaque for flutter_request {
    type Target = RequestView<'static>;
}

/// Bytes that are not NUL-terminated: `len` bytes at `data`. `data` is never
/// NULL (an empty string points at a NUL byte). Print one with
/// `printf("%.*s", (int)s.len, s.data)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct flutter_str {
    pub data: *const c_char,
    pub len: usize,
}

impl flutter_str {
    pub(crate) const EMPTY: flutter_str = flutter_str {
        data: c"".as_ptr(),
        len: 0,
    };

    fn of(bytes: &[u8]) -> flutter_str {
        if bytes.is_empty() {
            return Self::EMPTY;
        }
        flutter_str {
            data: bytes.as_ptr().cast(),
            len: bytes.len(),
        }
    }
}

/// The request method, like "GET".
///
/// Ownership: the bytes belong to the request and are valid during the
/// handler call. A NULL `req` gives an empty string.
#[no_mangle]
pub extern "C" fn flutter_request_method(req: *const flutter_request) -> flutter_str {
    ffi_boundary! {
        flutter_str::of(try_ref!(req).req.method.as_bytes())
    }
}

/// The request path as sent (still percent-encoded), without the query.
///
/// Ownership: the bytes belong to the request and are valid during the
/// handler call. A NULL `req` gives an empty string.
#[no_mangle]
pub extern "C" fn flutter_request_path(req: *const flutter_request) -> flutter_str {
    ffi_boundary! {
        flutter_str::of(try_ref!(req).req.target.path().as_bytes())
    }
}

/// The query string without the `?` (empty when there is none).
///
/// Ownership: the bytes belong to the request and are valid during the
/// handler call. A NULL `req` gives an empty string.
#[no_mangle]
pub extern "C" fn flutter_request_query(req: *const flutter_request) -> flutter_str {
    ffi_boundary! {
        flutter_str::of(try_ref!(req).req.target.query().as_bytes())
    }
}

/// The HTTP version: "1.0", "1.1" or "2".
///
/// Ownership: a static string. A NULL `req` gives an empty string.
#[no_mangle]
pub extern "C" fn flutter_request_version(req: *const flutter_request) -> flutter_str {
    ffi_boundary! {
        flutter_str::of(try_ref!(req).req.version.as_bytes())
    }
}

/// How many header fields the request has (a repeated field counts each
/// time). A NULL `req` gives 0.
#[no_mangle]
pub extern "C" fn flutter_request_header_count(req: *const flutter_request) -> usize {
    ffi_boundary! {
        try_ref!(req).req.headers.len()
    }
}

/// The header field at `index` (0 to count - 1, in the order received):
/// its name (lower case) in `*name_out` and its value in `*value_out`.
/// Gives FLUTTER_RESULT_NOT_FOUND past the end; the outputs are written only
/// on success.
///
/// Ownership: the bytes belong to the request and are valid during the
/// handler call.
#[no_mangle]
pub extern "C" fn flutter_request_header_at(
    req: *const flutter_request,
    index: usize,
    name_out: *mut flutter_str,
    value_out: *mut flutter_str,
) -> flutter_result {
    ffi_boundary! {
        let view = try_ref!(req);
        try_out!(name_out);
        try_out!(value_out);
        let Some((name, value)) = view.req.headers.get(index) else {
            return fail(
                flutter_result::NotFound,
                format!("no header at index {index}: the request has {}", view.req.headers.len()),
            );
        };
        // SAFETY: both checked for NULL above; C passes pointers it can write.
        unsafe {
            *name_out = flutter_str::of(name.as_bytes());
            *value_out = flutter_str::of(value);
        }
        flutter_result::Ok
    }
}

/// The value of the first header field named `name` (any case), in
/// `*value_out`. Gives FLUTTER_RESULT_NOT_FOUND when there is none; the
/// output is written only on success.
///
/// Ownership: `name` is borrowed for the call; the value's bytes belong to
/// the request and are valid during the handler call.
#[no_mangle]
pub extern "C" fn flutter_request_header(
    req: *const flutter_request,
    name: *const c_char,
    value_out: *mut flutter_str,
) -> flutter_result {
    ffi_boundary! {
        let view = try_ref!(req);
        let name = try_str!(name);
        try_out!(value_out);
        let found = view
            .req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        match found {
            Some((_, value)) => {
                // SAFETY: checked for NULL above.
                unsafe { *value_out = flutter_str::of(value) };
                flutter_result::Ok
            }
            None => fail(flutter_result::NotFound, format!("no header {name:?} in the request")),
        }
    }
}

/// The complete request body: `*body_out` points at `*len_out` bytes (an
/// empty body gives a non-NULL pointer and 0). The outputs are written only
/// on success.
///
/// Ownership: the bytes belong to the request and are valid during the
/// handler call.
#[no_mangle]
pub extern "C" fn flutter_request_body(
    req: *const flutter_request,
    body_out: *mut *const u8,
    len_out: *mut usize,
) -> flutter_result {
    ffi_boundary! {
        let view = try_ref!(req);
        try_out!(body_out);
        try_out!(len_out);
        let body = flutter_str::of(view.body);
        // SAFETY: checked for NULL above.
        unsafe {
            *body_out = body.data.cast();
            *len_out = body.len;
        }
        flutter_result::Ok
    }
}
