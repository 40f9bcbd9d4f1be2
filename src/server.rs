//! A server: binds the listeners, starts the workers (each on its own thread
//! with its own Lua state), and stops or reloads them.

use crate::config::Config;
use crate::lua::{Runtime, Settings};
use crate::pool::Pool;
use crate::reload::{WatchList, Watcher};
use crate::worker::{Loader, Shared, Worker};
use mio::Waker;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// Why a server could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// No script was configured.
    NoScript,
    /// The script does not load: file:line and message.
    Script(String),
    /// The HTTPS setup failed: certificate or key file and reason.
    Tls(String),
    /// A listen address cannot be bound.
    Bind { addr: SocketAddr, reason: String },
    /// Anything else (threads, the event loop, the access log).
    Other(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoScript => f.write_str("no script to serve"),
            StartError::Script(m) | StartError::Tls(m) => f.write_str(m),
            StartError::Bind { addr, reason } => write!(f, "cannot listen on {addr}: {reason}"),
            StartError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StartError {}

/// Stops or reloads a running server from any thread.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    wakers: Vec<Arc<Waker>>,
}

impl Handle {
    /// Begins a graceful stop: no new connections; requests in flight finish
    /// within `shutdown_timeout`.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.wake_all();
    }

    /// Loads the script anew in every worker; requests in flight finish on the old state.
    pub fn reload(&self) {
        self.shared.reload.fetch_add(1, Ordering::AcqRel);
        self.wake_all();
    }

    fn wake_all(&self) {
        for w in &self.wakers {
            let _ = w.wake();
        }
    }
}

pub struct Server {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
    /// Plain addresses, then HTTPS ones.
    addrs: Vec<SocketAddr>,
    plain: usize,
    watcher: Option<Watcher>,
}

impl Server {
    /// Binds every listen address and starts the workers. Returns once every
    /// worker has loaded the script, so a bad script fails here.
    pub fn start(config: Config) -> Result<Server, StartError> {
        let script = match (&config.script, &config.root) {
            (Some(script), _) => script.clone(),
            // A plain static server: the workers answer 404 themselves for
            // what is not a file; their Lua state only keeps the loop uniform.
            (None, Some(_)) => crate::config::Script::Source {
                name: "(static files)".into(),
                code: "return function() return { status = 404 } end".into(),
            },
            (None, None) => return Err(StartError::NoScript),
        };
        let tls = crate::tls::server_config(&config).map_err(StartError::Tls)?;
        let config = Arc::new(config);
        let (sockets, addrs) = bind_all(&config)?;
        let shared = Arc::new(Shared::default());
        let pool = Pool::new(config.blocking_threads);
        let watch = config
            .reload_on_change()
            .then(|| Arc::new(WatchList::default()));
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for index in 0..config.workers {
            let listeners = sockets
                .iter()
                .map(|(set, is_tls)| set[index].try_clone().map(|l| (l, *is_tls)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StartError::Other(format!("cannot share a listener: {e}")))?;
            let (config, shared, tx, script, watch, tls, pool) = (
                config.clone(),
                shared.clone(),
                tx.clone(),
                script.clone(),
                watch.clone(),
                tls.clone(),
                pool.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("flutter-worker-{index}"))
                .spawn(move || {
                    let settings = Settings {
                        memory_limit: config.lua_memory_limit,
                        instruction_limit: config.lua_instruction_limit,
                        c_modules: config.lua_modules.clone(),
                        watch,
                    };
                    let loader = Box::new(move || Runtime::load(&script, &settings));
                    match Worker::new(index, config, listeners, tls, shared, pool, loader) {
                        Ok((mut worker, waker)) => {
                            let _ = tx.send(Ok(waker));
                            drop(tx);
                            worker.run();
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| StartError::Other(format!("cannot start a worker thread: {e}")))?;
            threads.push(spawned);
        }
        drop(tx);
        drop(sockets);
        let mut server = Server {
            handle: Handle {
                shared,
                wakers: Vec::new(),
            },
            threads,
            plain: config.listen.len(),
            addrs,
            watcher: None,
        };
        let mut failure = None;
        for result in rx.iter() {
            match result {
                Ok(waker) => server.handle.wakers.push(waker),
                Err(e) => failure = failure.or(Some(StartError::Script(e))),
            }
        }
        if let Some(e) = failure {
            server.stop();
            server.wait();
            return Err(e);
        }
        server.watcher = watch.map(|w| Watcher::start(w, server.handle()));
        Ok(server)
    }

    /// The bound plain HTTP addresses, in the order of `listen` (a port 0 is resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs[..self.plain]
    }

    /// The bound HTTPS addresses, in the order of `tls_listen`.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.addrs[self.plain..]
    }

    /// A handle to stop or reload the server from another thread.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// See [`Handle::stop`].
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// See [`Handle::reload`].
    pub fn reload(&self) {
        self.handle.reload();
    }

    /// Waits until every worker has stopped.
    pub fn wait(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.watcher = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
            self.wait();
        }
    }
}

/// A one-worker server living in the calling thread, driven step by step
/// (the Lua module, where handlers are functions of the caller's Lua state).
pub struct LocalServer {
    worker: Worker,
    events: mio::Events,
    addrs: Vec<SocketAddr>,
    plain: usize,
    running: bool,
}

impl LocalServer {
    /// Binds and sets up the worker; `loader` builds its Lua runtime.
    pub fn start(mut config: Config, loader: Loader) -> Result<LocalServer, StartError> {
        config.workers = 1;
        // The loader brings the handler; without a script the worker would
        // take itself for a plain static server and answer 404.
        if config.script.is_none() {
            config.set_script_source("(handler)", "");
        }
        let tls = crate::tls::server_config(&config).map_err(StartError::Tls)?;
        let config = Arc::new(config);
        let (mut sockets, addrs) = bind_all(&config)?;
        let listeners = sockets
            .iter_mut()
            .map(|(set, is_tls)| (set.remove(0), *is_tls))
            .collect();
        let shared = Arc::new(Shared::default());
        let plain = config.listen.len();
        let blocking = config.blocking_threads;
        let (worker, _waker) = Worker::new(
            0,
            config,
            listeners,
            tls,
            shared,
            Pool::new(blocking),
            loader,
        )
        .map_err(StartError::Script)?;
        Ok(LocalServer {
            worker,
            events: mio::Events::with_capacity(1024),
            addrs,
            plain,
            running: true,
        })
    }

    /// The bound plain HTTP addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs[..self.plain]
    }

    /// The bound HTTPS addresses.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.addrs[self.plain..]
    }

    /// Handles what is ready, waiting at most `timeout`. False once stopped.
    pub fn step(&mut self, timeout: std::time::Duration) -> bool {
        if self.running {
            self.running = self.worker.turn(&mut self.events, Some(timeout));
        }
        self.running
    }

    /// Serves until stopped.
    pub fn run(&mut self) {
        while self.running {
            self.running = self.worker.turn(&mut self.events, None);
        }
    }

    /// Begins a graceful stop; the next steps finish what is in flight.
    pub fn stop(&mut self) {
        self.worker.stop();
    }

    /// Builds the Lua runtime anew (see [`Handle::reload`]).
    pub fn reload(&mut self) {
        self.worker.reload();
    }
}

/// One listening socket per worker for each address (SO_REUSEPORT lets the
/// kernel spread connections across them), plain addresses first, then
/// HTTPS ones, each set flagged whether it is HTTPS. A port 0 is resolved by
/// the first bind and reused for the rest.
type Listeners = Vec<(Vec<std::net::TcpListener>, bool)>;

fn bind_all(config: &Config) -> Result<(Listeners, Vec<SocketAddr>), StartError> {
    let mut sets = Vec::new();
    let mut addrs = Vec::new();
    let all = config.listen.iter().map(|a| (*a, false));
    for (requested, is_tls) in all.chain(config.tls_listen.iter().map(|a| (*a, true))) {
        let bind_err = |addr, e: std::io::Error| StartError::Bind {
            addr,
            reason: e.to_string(),
        };
        // SO_REUSEPORT would let this bind share a port another process holds;
        // a probe bound without it finds out, and gives port 0 its number.
        let probe = bind_one(requested, Bind::Probe).map_err(|e| bind_err(requested, e))?;
        let port = probe
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();
        drop(probe);
        let requested = SocketAddr::new(requested.ip(), port);
        let first = bind_one(requested, Bind::Listener).map_err(|e| bind_err(requested, e))?;
        let actual = first
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?;
        let mut set = vec![first];
        for _ in 1..config.workers {
            set.push(bind_one(actual, Bind::Listener).map_err(|e| bind_err(actual, e))?);
        }
        sets.push((set, is_tls));
        addrs.push(actual);
    }
    Ok((sets, addrs))
}

/// How long the kernel holds a connection that has sent nothing before it
/// hands it over anyway (TCP_DEFER_ACCEPT, see `bind_one`).
const DEFER_ACCEPT_SECS: libc::c_int = 1;

#[derive(Clone, Copy, PartialEq)]
enum Bind {
    /// Only claims the address: it never listens, so a client connecting
    /// during start-up is refused (and retries) rather than queued on a
    /// socket about to close, which would reset its connection.
    Probe,
    /// One worker's listener, sharing the port with the others (SO_REUSEPORT).
    Listener,
}

fn bind_one(addr: SocketAddr, kind: Bind) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket syscalls on a descriptor this function owns; it is
    // closed by the TcpListener (or on the error paths below).
    unsafe {
        let fd = libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let listener = std::net::TcpListener::from_raw_fd(fd);
        let options: &[(libc::c_int, libc::c_int, libc::c_int)] = match kind {
            Bind::Probe => &[(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)],
            Bind::Listener => &[
                (libc::SOL_SOCKET, libc::SO_REUSEADDR, 1),
                (libc::SOL_SOCKET, libc::SO_REUSEPORT, 1),
                // A connection is handed over when its first bytes arrive
                // (as Apache httpd does, and nginx's `listen ... deferred`):
                // it is served in one turn, the request already there. One
                // that stays silent is handed over after about this many
                // seconds, and the idle timeout takes it from there.
                (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECS),
            ],
        };
        for &(level, opt, value) in options {
            if libc::setsockopt(
                fd,
                level,
                opt,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        let (storage, len) = sockaddr(addr);
        if libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if kind == Bind::Listener && libc::listen(fd, 1024) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(listener)
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, valid when zeroed, and large enough for both families.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_takes_no_connections_and_fails_on_a_port_in_use() {
        let probe = bind_one("127.0.0.1:0".parse().unwrap(), Bind::Probe).unwrap();
        let addr = probe.local_addr().unwrap();
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        drop(probe);
        let listener = bind_one(addr, Bind::Listener).unwrap();
        std::net::TcpStream::connect(addr).unwrap();
        assert!(bind_one(addr, Bind::Probe).is_err());
        drop(listener);
    }

    #[test]
    fn a_listener_hands_over_a_connection_once_it_has_sent() {
        use std::io::Write;
        let listener = bind_one("127.0.0.1:0".parse().unwrap(), Bind::Listener).unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        client.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while let Err(e) = listener.accept() {
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
            assert!(std::time::Instant::now() < deadline, "never handed over");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
