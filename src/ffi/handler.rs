//! A C request handler behind the core's [`NativeHandler`]: the worker asks
//! it first, with the complete body; it answers or declines to Lua.

use super::request::{flutter_request, RequestView};
use super::response::{flutter_response, ResponseBuilder};
use crate::config::NativeHandler;
use crate::http::message::{Request, Response};
use std::ffi::c_void;

/// What a C handler did with a request.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum flutter_handler_result {
    /// The handler leaves the request to the Lua script; what it set on the
    /// response is dropped.
    Declined = 0,
    /// The response the handler built is sent.
    Answered = 1,
}

/// A C request handler, set with `flutter_config_set_handler()`.
///
/// It is called on a worker thread, before the Lua script, once the whole
/// request body has arrived; several workers may call it at the same time,
/// so it must be thread-safe. It must not block for long (the worker's other
/// connections wait), must not throw a C++ exception or `longjmp` out, and
/// must not keep `req` or `resp`: both are valid only during the call.
/// It returns `FLUTTER_HANDLER_RESULT_ANSWERED` to send the response built
/// in `resp`, or `FLUTTER_HANDLER_RESULT_DECLINED` to let the Lua script
/// answer. Any other value answers 500 and logs an error.
pub type flutter_handler = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        req: *const flutter_request,
        resp: *mut flutter_response,
    ) -> flutter_handler_result,
>;

/// The same function as the worker calls it: the result read as a plain
/// number, since C may return a value outside the enum.
type RawHandler =
    unsafe extern "C" fn(*mut c_void, *const flutter_request, *mut flutter_response) -> u32;
type TypedHandler = unsafe extern "C" fn(
    *mut c_void,
    *const flutter_request,
    *mut flutter_response,
) -> flutter_handler_result;

pub(crate) struct CHandler {
    callback: RawHandler,
    userdata: *mut c_void,
}

// SAFETY: the C contract (see `flutter_handler`) is that the callback and its
// userdata may be used from any worker thread, concurrently.
unsafe impl Send for CHandler {}
unsafe impl Sync for CHandler {}

impl CHandler {
    pub(crate) fn new(callback: TypedHandler, userdata: *mut c_void) -> CHandler {
        CHandler {
            // SAFETY: the same signature, with the repr(u32) result as the u32 it is.
            callback: unsafe { std::mem::transmute::<TypedHandler, RawHandler>(callback) },
            userdata,
        }
    }
}

impl NativeHandler for CHandler {
    fn handle(&self, req: &Request, body: &[u8]) -> Option<Response> {
        let view = RequestView { req, body };
        let mut builder = ResponseBuilder::default();
        // SAFETY: both views live until the call returns, which is all C may assume.
        let answer = unsafe {
            (self.callback)(
                self.userdata,
                std::ptr::from_ref(&view).cast(),
                std::ptr::from_mut(&mut builder).cast(),
            )
        };
        match answer {
            x if x == flutter_handler_result::Declined as u32 => None,
            x if x == flutter_handler_result::Answered as u32 => Some(builder.into_response()),
            other => {
                crate::log::error(&format!(
                    "{} {}: the C handler returned {other}, neither ANSWERED nor DECLINED",
                    req.method, req.target
                ));
                Some(Response::error(500, None))
            }
        }
    }
}
