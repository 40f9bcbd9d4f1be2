//! Magic reload: a thread watches the script and every Lua file it loaded
//! through `require`, and asks the workers to reload when one changes. Each
//! worker then builds a fresh Lua state; requests in flight finish on the old
//! one, and a change that does not load keeps the old code serving.
//!
//! inotify watches the files' directories, so editors that replace a file
//! by renaming a new one over it are seen too; where inotify is unavailable
//! the files' modification times are polled instead.

use crate::log;
use crate::server::Handle;
use std::collections::{BTreeSet, HashMap};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often the watcher looks for new files to watch and for a stop.
const TICK: Duration = Duration::from_millis(100);
/// Quiet time after the last change before reloading: editors write in steps.
const SETTLE: Duration = Duration::from_millis(50);

/// The files the scripts were loaded from, filled by the Lua states as they
/// `require` modules.
#[derive(Default)]
pub struct WatchList {
    files: Mutex<BTreeSet<PathBuf>>,
}

impl WatchList {
    pub fn add(&self, path: &Path) {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path);
    }

    fn snapshot(&self) -> BTreeSet<PathBuf> {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(list: Arc<WatchList>, handle: Handle) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // The files known now are watched before this returns, so an edit made
        // right after the server starts is not missed.
        let inotify = Inotify::new().map(|mut ino| {
            ino.watch_dirs(&list.snapshot());
            ino
        });
        let thread = std::thread::Builder::new()
            .name("flutter-reload".into())
            .spawn(move || watch(inotify, &list, &handle, &flag))
            .ok();
        Watcher { stop, thread }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(inotify: Option<Inotify>, list: &WatchList, handle: &Handle, stop: &AtomicBool) {
    match inotify {
        Some(mut ino) => {
            let mut pending: Option<Instant> = None;
            while !stop.load(Ordering::Acquire) {
                let files = list.snapshot();
                ino.watch_dirs(&files);
                if ino.wait_changes(&files, TICK) {
                    pending = Some(Instant::now());
                }
                if pending.is_some_and(|t| t.elapsed() >= SETTLE) {
                    pending = None;
                    log::info("a script file changed: reloading");
                    handle.reload();
                }
            }
        }
        None => {
            log::warn("inotify is unavailable: polling the script files for changes");
            let mut seen: HashMap<PathBuf, Option<SystemTime>> = HashMap::new();
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(TICK * 3);
                let mut changed = false;
                for f in list.snapshot() {
                    let m = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
                    if let Some(old) = seen.insert(f, m) {
                        changed |= old != m;
                    }
                }
                if changed {
                    log::info("a script file changed: reloading");
                    handle.reload();
                }
            }
        }
    }
}

struct Inotify {
    fd: libc::c_int,
    dirs: HashMap<libc::c_int, PathBuf>,
}

impl Inotify {
    fn new() -> Option<Inotify> {
        // SAFETY: plain syscall; the descriptor is owned by this struct.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        (fd >= 0).then(|| Inotify {
            fd,
            dirs: HashMap::new(),
        })
    }

    fn watch_dirs(&mut self, files: &BTreeSet<PathBuf>) {
        for dir in files.iter().filter_map(|f| f.parent()) {
            if self.dirs.values().any(|d| d == dir) {
                continue;
            }
            let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
                continue;
            };
            let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_MODIFY;
            // SAFETY: c is a valid C string; fd is our inotify descriptor.
            let wd = unsafe { libc::inotify_add_watch(self.fd, c.as_ptr(), mask) };
            if wd >= 0 {
                self.dirs.insert(wd, dir.to_path_buf());
            }
        }
    }

    /// Waits up to `timeout` for events; true if one touched a watched file.
    fn wait_changes(&mut self, files: &BTreeSet<PathBuf>, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        if n <= 0 {
            return false;
        }
        let mut buf = [0u8; 8192];
        let mut touched = false;
        loop {
            // SAFETY: reading into a local buffer of the given size.
            let len = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if len <= 0 {
                return touched;
            }
            let mut off = 0usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while off + header <= len as usize {
                // SAFETY: the kernel wrote whole events; read_unaligned copes with the byte buffer.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                let name = &buf[off + header..off + header + ev.len as usize];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if let Some(dir) = self.dirs.get(&ev.wd) {
                    if files.contains(&dir.join(OsStr::from_bytes(name))) {
                        touched = true;
                    }
                }
                off += header + ev.len as usize;
            }
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct owns.
        unsafe { libc::close(self.fd) };
    }
}
