//! Nothing unwinds across the C ABI: every `extern "C"` body runs inside
//! [`ffi_boundary!`], which turns a panic into the function's failure value
//! (`FLUTTER_RESULT_PANIC`, NULL, 0 or nothing) with a message for
//! `flutter_last_error()`. The pointer macros turn a NULL into the failure
//! value the same way, with a message naming the parameter.

use super::error::{flutter_result, set_last_error};
use std::any::Any;

/// What a C function returns when it cannot do its work.
pub(crate) trait Fallback {
    /// After a panic inside the function.
    fn on_panic() -> Self;
    /// After a NULL where a pointer was required.
    fn on_null() -> Self;
}

impl Fallback for flutter_result {
    fn on_panic() -> Self {
        flutter_result::Panic
    }
    fn on_null() -> Self {
        flutter_result::NullParameter
    }
}

impl<T> Fallback for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
    fn on_null() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> Fallback for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
    fn on_null() -> Self {
        std::ptr::null()
    }
}

impl Fallback for () {
    fn on_panic() -> Self {}
    fn on_null() -> Self {}
}

macro_rules! zero_fallback {
    ($($t:ty),*) => {$(
        impl Fallback for $t {
            fn on_panic() -> Self { 0 }
            fn on_null() -> Self { 0 }
        }
    )*};
}
zero_fallback!(u16, usize);

impl Fallback for super::request::flutter_str {
    fn on_panic() -> Self {
        Self::EMPTY
    }
    fn on_null() -> Self {
        Self::EMPTY
    }
}

/// Records a caught panic as the thread's last error and gives the fallback.
pub(crate) fn caught<T: Fallback>(payload: Box<dyn Any + Send>) -> T {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    set_last_error(format!("internal error (a panic in flutter): {what}"));
    T::on_panic()
}

/// Records a NULL parameter as the thread's last error and gives the fallback.
pub(crate) fn null_parameter<T: Fallback>(name: &str) -> T {
    set_last_error(format!("{name} must not be NULL"));
    T::on_null()
}

/// Runs a C function's body, catching any panic. Inside, `return` leaves the body.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::ffi::panic::caught(payload),
        }
    };
}

/// `&T` behind an opaque handle, or return the fallback for a NULL.
macro_rules! try_ref {
    ($handle:ident) => {
        // SAFETY: the C caller passes a handle this library created (or NULL).
        match unsafe { $crate::ffi::cast::as_ref($handle) } {
            Some(value) => value,
            None => return $crate::ffi::panic::null_parameter(stringify!($handle)),
        }
    };
}

/// `&mut T` behind an opaque handle, or return the fallback for a NULL.
macro_rules! try_mut {
    ($handle:ident) => {
        // SAFETY: the C caller passes a handle this library created (or NULL),
        // not in use by another thread.
        match unsafe { $crate::ffi::cast::as_mut($handle) } {
            Some(value) => value,
            None => return $crate::ffi::panic::null_parameter(stringify!($handle)),
        }
    };
}

/// A C string parameter as `&str`; returns NULL_PARAMETER or INVALID_ARGUMENT.
macro_rules! try_str {
    ($ptr:ident) => {
        // SAFETY: the C caller passes a NUL-terminated string (or NULL).
        match unsafe { $crate::ffi::cast::c_str($ptr, stringify!($ptr)) } {
            Ok(s) => s,
            Err(code) => return code,
        }
    };
}

/// An output parameter, checked for NULL before any work is done.
macro_rules! try_out {
    ($ptr:ident) => {
        if $ptr.is_null() {
            return $crate::ffi::panic::null_parameter(stringify!($ptr));
        }
    };
}
