//! The `flutter` command: `flutter [OPTIONS] SCRIPT`, or `flutter --root DIR`
//! alone for a static server. A thin layer over `Config` and `Server`; every
//! option comes from `config::OPTIONS`.

use clap::{Arg, ArgAction, Command};
use flutter::config::{Kind, OPTIONS};
use flutter::{Config, Server};
use std::process::ExitCode;

// mimalloc: a Lua state allocates and frees many small objects per request,
// and glibc's malloc was 10-19 % of a request's instructions (bench/NOTES.md).
// Without transparent huge pages (`no_thp`), its resident memory at rest
// stays that of glibc's. The C library and the Lua module keep the
// embedder's allocator.
#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// mimalloc as the global allocator, through its plain `malloc` wherever that
/// aligns enough. The mimalloc crate calls `mi_malloc_aligned` for every
/// allocation, whose checks cost twice a small `mi_malloc` (a request makes
/// about a dozen); Rust's own `System` allocator makes the same choice.
struct Allocator;

/// What `malloc` aligns any block to (C11 7.22.3): `max_align_t`.
const MALLOC_ALIGN: usize = std::mem::align_of::<libc::max_align_t>();

/// Whether `malloc(size)` returns a block aligned as `layout` asks: blocks of
/// at least MALLOC_ALIGN bytes are aligned to it, smaller ones to their size.
fn malloc_aligns(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

extern "C" {
    fn mi_malloc(size: usize) -> *mut std::ffi::c_void;
    fn mi_zalloc(size: usize) -> *mut std::ffi::c_void;
    fn mi_realloc(p: *mut std::ffi::c_void, size: usize) -> *mut std::ffi::c_void;
}

// SAFETY: every block comes from mimalloc, aligned as asked (see
// malloc_aligns), and is freed or reallocated by mimalloc.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi_malloc(layout.size()).cast()
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        mimalloc::MiMalloc.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        if malloc_aligns(layout.align(), size) {
            mi_realloc(ptr.cast(), size).cast()
        } else {
            mimalloc::MiMalloc.realloc(ptr, layout, size)
        }
    }
}

/// `mi_option_purge_delay`: its place in mimalloc.h's `mi_option_e` (v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
/// mimalloc's default for it, in milliseconds.
const MI_DEFAULT_PURGE_DELAY: std::ffi::c_long = 1000;

extern "C" {
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Has mimalloc give freed pages back to the system at once. With its
/// default delay it looks again only when it next allocates, so an idle
/// server kept what its connections had freed (10,000 idle connections:
/// ~1,000 bytes each instead of ~450). Giving back at once costs a few
/// madvise calls per tens of thousands of requests. A delay set with
/// MIMALLOC_PURGE_DELAY, or an option numbered differently in another
/// mimalloc, is left as it is.
fn purge_freed_memory_at_once() {
    // SAFETY: reading and setting a mimalloc option, before any other thread runs.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == MI_DEFAULT_PURGE_DELAY {
            mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn command() -> Command {
    let mut cmd = Command::new("flutter")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Serve HTTP with request handlers written in Lua")
        .args_override_self(true)
        .arg(
            Arg::new("script")
                .value_name("SCRIPT")
                .required_unless_present("root")
                .help("the Lua script: it returns a handler function or defines onRequest(req); optional with --root"),
        );
    for spec in OPTIONS {
        let long: &'static str = Box::leak(spec.name.replace('_', "-").into_boxed_str());
        let mut arg = Arg::new(spec.name).long(long).help(spec.help);
        arg = match spec.kind {
            Kind::Flag => arg
                .num_args(0..=1)
                .default_missing_value("true")
                .require_equals(true)
                .value_name("BOOL"),
            Kind::Address => arg.action(ArgAction::Append).value_name("ADDR"),
            Kind::Paths => arg.action(ArgAction::Append).value_name("FILE"),
            Kind::Count => arg.value_name("N"),
            Kind::Seconds => arg.value_name("SECONDS"),
            Kind::Text => arg.value_name("VALUE"),
        };
        // A value may begin with '-': a generated secret is base64url, and
        // `--workers -1` should reach the check that names the bad value.
        if spec.kind != Kind::Flag {
            arg = arg.allow_hyphen_values(true);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

fn config_from_args() -> Result<Config, String> {
    let matches = command().get_matches();
    let mut config = Config::new();
    for spec in OPTIONS {
        if let Some(values) = matches.get_many::<String>(spec.name) {
            for v in values {
                config.set(spec.name, v).map_err(|e| {
                    e.to_string().replace(
                        &format!("option {}", spec.name),
                        &format!("option --{}", spec.name.replace('_', "-")),
                    )
                })?;
            }
        }
    }
    let Some(script) = matches.get_one::<String>("script") else {
        return Ok(config); // --root alone: a plain static server
    };
    let path = std::path::Path::new(script);
    if let Err(e) = std::fs::File::open(path) {
        return Err(format!("cannot read script {script}: {e}"));
    }
    config.set_script_path(path);
    Ok(config)
}

/// Blocks the stop and reload signals in every thread; a dedicated thread takes them with sigwait.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask affects this thread
    // and, since it runs before any other thread starts, every worker.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    let mut sig: libc::c_int = 0;
    // SAFETY: set is a valid, initialised signal set.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// Lets a worker keep as many connections as the hard limit on open files allows.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let config = match config_from_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flutter: {e}");
            return ExitCode::from(2);
        }
    };
    raise_fd_limit();
    let signals = block_signals();
    let mut server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flutter: {e}");
            return ExitCode::from(1);
        }
    };
    let plain = server.local_addrs().iter().map(|a| ("http", a));
    for (scheme, addr) in plain.chain(server.tls_addrs().iter().map(|a| ("https", a))) {
        let shown = if addr.ip().is_unspecified() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        println!("flutter: serving {scheme}://{shown}/");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let handle = server.handle();
    std::thread::spawn(move || {
        let mut stopping = false;
        loop {
            match wait_signal(&signals) {
                libc::SIGHUP => {
                    flutter::log::info("SIGHUP: reloading the script");
                    handle.reload();
                }
                _ if stopping => {
                    flutter::log::warn("second stop signal: exiting now");
                    std::process::exit(1);
                }
                sig => {
                    let name = if sig == libc::SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    flutter::log::info(&format!("{name}: stopping gracefully"));
                    stopping = true;
                    handle.stop();
                }
            }
        }
    });
    server.wait();
    ExitCode::SUCCESS
}
