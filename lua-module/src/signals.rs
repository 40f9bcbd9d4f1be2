//! SIGINT and SIGTERM while `serve` or `server:run()` blocks: they begin a
//! graceful stop, as they do for the `flutter` command. The interpreter's own
//! handlers (lua.c's "interrupted!") are put back when the call returns, so
//! `step`, which a host event loop drives, leaves signals to that host.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Our handlers, installed while it lives.
pub struct Guard {
    old: [libc::sigaction; SIGNALS.len()],
}

impl Guard {
    pub fn install() -> Guard {
        STOP.store(false, Ordering::Relaxed);
        // SAFETY: sigaction on zeroed (valid) structs; the handler only stores
        // an atomic, which is async-signal-safe. No SA_RESTART: a signal
        // interrupts the worker's poll, which then returns early.
        unsafe {
            let mut guard = Guard {
                old: std::mem::zeroed(),
            };
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            for (sig, old) in SIGNALS.iter().zip(guard.old.iter_mut()) {
                libc::sigaction(*sig, &action, old);
            }
            guard
        }
    }

    /// Whether a stop signal arrived since the last call.
    pub fn take(&self) -> bool {
        STOP.swap(false, Ordering::Relaxed)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (sig, old) in SIGNALS.iter().zip(self.old.iter()) {
            // SAFETY: restores the action saved by `install`.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}
