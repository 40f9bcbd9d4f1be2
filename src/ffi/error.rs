//! The result of every fallible call, and the thread's last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

/// What a fallible call did. `FLUTTER_RESULT_OK` is 0; every other value is
/// a failure whose message `flutter_last_error()` gives. Numbers are never
/// reused: a value that goes away leaves a gap.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum flutter_result {
    /// Success.
    Ok = 0,
    /// A required pointer parameter was NULL.
    NullParameter = 1,
    /// flutter had an internal error (a caught Rust panic); please report it.
    Panic = 2,
    /// An option name is unknown, or its value is refused; the message names both.
    InvalidOption = 3,
    /// Another argument is refused: a string that is not UTF-8, a status
    /// outside 200..599, a header name or value that cannot be sent.
    InvalidArgument = 4,
    /// The server has neither a script nor a C handler.
    NoScript = 5,
    /// The Lua script does not load; the message starts with `file:line:`.
    ScriptError = 6,
    /// A listen address cannot be bound (in use, not local, no permission).
    CannotListen = 7,
    /// What was asked for is not there (a header, an index past the end).
    NotFound = 8,
    /// The server could not start for another reason (threads, event loop, logs).
    StartFailed = 9,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: impl Into<String>) {
    let mut bytes = message.into().into_bytes();
    bytes.retain(|&b| b != 0);
    let text = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Records `message` and returns `code`, for `return fail(...)`.
pub(crate) fn fail(code: flutter_result, message: impl Into<String>) -> flutter_result {
    set_last_error(message);
    code
}

/// The message of the most recent failed call on this thread: what went wrong
/// and, for options, the option's name and the refused value.
///
/// Ownership: the string belongs to flutter. It stays valid until the next
/// failing flutter call on the same thread; copy it to keep it. Calls that
/// succeed leave it as it was, so read it only after a call failed. Never
/// NULL: an empty string when nothing has failed yet.
#[no_mangle]
pub extern "C" fn flutter_last_error() -> *const c_char {
    ffi_boundary! {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }
}
