//! `flutter_response`: what a C handler fills in to answer a request.

use super::cast::Opaque;
use super::error::{fail, flutter_result};
use crate::http::message::{is_field_value, is_token, Response, ResponseBody};
use std::ffi::c_char;

/// The response a C handler builds: status 200, no headers and an empty body
/// until it sets them. Valid only during the handler call; flutter owns it.
/// flutter adds Content-Length, Date and Server itself (and drops the
/// framing headers Content-Length, Transfer-Encoding, Connection and
/// Keep-Alive that a handler sets); no Content-Type is added.
pub struct flutter_response {
    _private: [u8; 0],
}

#[derive(Default)]
pub(crate) struct ResponseBuilder {
    status: Option<u16>,
    headers: Vec<crate::http::message::Header>,
    body: Vec<u8>,
}

impl ResponseBuilder {
    pub(crate) fn into_response(self) -> Response {
        Response {
            status: self.status.unwrap_or(200),
            headers: self.headers.into(),
            body: ResponseBody::Full(self.body.into()),
        }
    }
}

impl Opaque for flutter_response {
    type Target = ResponseBuilder;
}

/// Sets the status code, 200 to 599 (the default is 200); any other value
/// gives FLUTTER_RESULT_INVALID_ARGUMENT and leaves the status as it was.
#[no_mangle]
pub extern "C" fn flutter_response_set_status(
    resp: *mut flutter_response,
    status: u16,
) -> flutter_result {
    ffi_boundary! {
        let builder = try_mut!(resp);
        if !(200..=599).contains(&status) {
            return fail(
                flutter_result::InvalidArgument,
                format!("invalid status {status}: must be 200 to 599"),
            );
        }
        builder.status = Some(status);
        flutter_result::Ok
    }
}

/// Adds the header field `name: value`; call it again with the same name for
/// a repeated field (Set-Cookie). A name that is not an HTTP token, or a
/// value with CR or LF, gives FLUTTER_RESULT_INVALID_ARGUMENT and adds
/// nothing.
///
/// Ownership: both strings are copied; the caller keeps them.
#[no_mangle]
pub extern "C" fn flutter_response_add_header(
    resp: *mut flutter_response,
    name: *const c_char,
    value: *const c_char,
) -> flutter_result {
    ffi_boundary! {
        let builder = try_mut!(resp);
        let name_text = try_str!(name);
        if value.is_null() {
            return super::panic::null_parameter("value");
        }
        // SAFETY: checked for NULL; C passes a NUL-terminated string.
        let value = unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes();
        if !is_token(name_text.as_bytes()) {
            return fail(
                flutter_result::InvalidArgument,
                format!("invalid header name {name_text:?}"),
            );
        }
        if !is_field_value(value) {
            return fail(
                flutter_result::InvalidArgument,
                format!("header {name_text:?} has a value with CR or LF"),
            );
        }
        builder.headers.push((name_text.to_string().into(), value.to_vec().into()));
        flutter_result::Ok
    }
}

/// Sets the body to the `len` bytes at `body` (NULL is allowed when `len`
/// is 0), replacing any body set before.
///
/// Ownership: the bytes are copied; the caller keeps its buffer.
#[no_mangle]
pub extern "C" fn flutter_response_set_body(
    resp: *mut flutter_response,
    body: *const u8,
    len: usize,
) -> flutter_result {
    ffi_boundary! {
        let builder = try_mut!(resp);
        // SAFETY: C passes `len` readable bytes at `body` (or NULL with 0).
        let bytes = match unsafe { super::cast::bytes(body, len, "body") } {
            Ok(b) => b,
            Err(code) => return code,
        };
        builder.body.clear();
        builder.body.extend_from_slice(bytes);
        flutter_result::Ok
    }
}
