//! Opaque handles: a C `flutter_config *` is a `Box<Config>` in disguise. Each
//! handle type says which Rust value it stands for, and every conversion goes
//! through these functions, which turn NULL into `None`.

use super::error::{fail, flutter_result};
use std::ffi::{c_char, CStr};

/// Ties an opaque C type to the Rust value its pointers point at.
pub(crate) trait Opaque {
    type Target;
}

/// # Safety
/// `handle` is NULL or a pointer this library made for `H`, still alive.
pub(crate) unsafe fn as_ref<'a, H: Opaque>(handle: *const H) -> Option<&'a H::Target> {
    unsafe { handle.cast::<H::Target>().as_ref() }
}

/// # Safety
/// As [`as_ref`], and no other reference to the value is in use.
pub(crate) unsafe fn as_mut<'a, H: Opaque>(handle: *mut H) -> Option<&'a mut H::Target> {
    unsafe { handle.cast::<H::Target>().as_mut() }
}

/// Moves `value` to the heap and gives C its handle.
pub(crate) fn into_handle<H: Opaque>(value: H::Target) -> *mut H {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back what [`into_handle`] gave out.
///
/// # Safety
/// `handle` is NULL or came from [`into_handle`] and was not taken back before.
pub(crate) unsafe fn take_handle<H: Opaque>(handle: *mut H) -> Option<Box<H::Target>> {
    if handle.is_null() {
        None
    } else {
        Some(unsafe { Box::from_raw(handle.cast::<H::Target>()) })
    }
}

/// A NUL-terminated UTF-8 string parameter.
///
/// # Safety
/// `ptr` is NULL or points at a NUL-terminated string alive for `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, flutter_result> {
    if ptr.is_null() {
        return Err(super::panic::null_parameter(name));
    }
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| {
        fail(
            flutter_result::InvalidArgument,
            format!("{name} is not valid UTF-8"),
        )
    })
}

/// `len` bytes at `ptr`; NULL is allowed only for an empty buffer.
///
/// # Safety
/// `ptr` is NULL or points at `len` readable bytes alive for `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], flutter_result> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(super::panic::null_parameter(name))
        };
    }
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}
