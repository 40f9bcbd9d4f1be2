//! A worker: one OS thread with one mio `Poll`, one Lua [`Runtime`], its
//! connections and its timers. Workers share nothing on the request path.
//!
//! Sockets are registered once for both readiness kinds (edge-triggered);
//! each connection remembers whether it is readable or writable until an
//! operation says `WouldBlock`, so no request costs an `epoll_ctl`.

pub mod timers;
pub mod transport;

use crate::config::Config;
use crate::files::Files;
use crate::http::date::DateCache;
use crate::http::h1::conn::{self as h1, Conn, Event as H1Event, Phase};
use crate::http::message::{Method, Response};
use crate::log::{self, AccessLog, Entry};
use crate::lua::{Op, Runtime, Step, Task};
use crate::pool::{Completions, Pool};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timers::{Timer, Timers};
use transport::Transport;

const WAKER: Token = Token(usize::MAX - 1);
/// Tokens below this are listeners; connection `key` has token `FIRST_CONN + key`.
const FIRST_CONN: usize = 1024;
/// Output a streamed body may queue before its producer waits for the client.
const HIGH_WATER: usize = 256 << 10;
/// Steps one connection may take per wake-up before others get their turn.
const STEPS_PER_TURN: usize = 32;
/// How long a connection closed after an error keeps draining the client's input.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes read from a socket at a time.
const READ_SIZE: usize = 64 << 10;
/// File bytes one connection sends per step (its turn has [`STEPS_PER_TURN`]).
const FILE_BURST: usize = 1 << 20;

/// State shared between a server's handle and its workers.
#[derive(Default)]
pub struct Shared {
    pub stopping: AtomicBool,
    pub reload: AtomicU64,
}

/// Builds a worker's Lua runtime, on the worker's own thread.
pub type Loader = Box<dyn Fn() -> Result<Runtime, String>>;

/// A 308 to the same target on the HTTPS port (`redirect_https`).
fn https_redirect(req: &crate::http::message::Request, port: u16) -> Response {
    let host = req
        .header("host")
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    // Drop the port (a bracketed IPv6 address keeps its colons).
    let host = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => &host[..],
    };
    let authority = if port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let target = if req.target.as_str().starts_with('/') {
        req.target.as_str()
    } else {
        "/"
    };
    let mut r = Response::new(308, "text/html; charset=utf-8", Vec::new());
    r.headers.to_mut().push((
        "location".into(),
        format!("https://{authority}{target}").into_bytes().into(),
    ));
    r
}

/// What a request's task is doing.
enum Wait {
    /// The body is still being read before the handler starts.
    Start,
    /// Ready to run.
    Run,
    Sleep,
    Read,
    Body,
    /// The output is over the high-water mark.
    Write,
    /// A job on the blocking pool.
    Blocking(u64),
}

struct Job {
    /// What the handler did not take of the request, once it started.
    request: crate::http::message::Request,
    /// Set once the handler started.
    task: Option<Task>,
    runtime: Rc<Runtime>,
    wait: Wait,
    seq: u64,
}

/// What the access log needs of a request, kept until its response is done.
struct LogInfo {
    method: Method,
    target: String,
    version: &'static str,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
}

struct Connection {
    transport: Transport,
    peer: SocketAddr,
    h1: Conn,
    readable: bool,
    writable: bool,
    read_closed: bool,
    // Boxed: an idle connection should stay small (bench: RSS per idle connection).
    job: Option<Box<Job>>,
    log: Option<Box<LogInfo>>,
    phase: Phase,
    /// When the current phase times out.
    deadline: Option<Instant>,
    /// The earliest deadline timer pending for this connection.
    timer_at: Option<Instant>,
    /// The peer has shut its sending side (no further edge will report it).
    peer_closed: bool,
    /// Requests begun on this connection.
    requests: u32,
    /// TCP_NODELAY is set (see `Connection::no_delay`).
    nodelay: bool,
    /// Closing: input is drained until then (see `Worker::finish`).
    linger_until: Option<Instant>,
    queued: bool,
    /// In the poll. A new connection joins only if its first turn leaves it
    /// open: one served and closed at once never costs an epoll_ctl.
    registered: bool,
}

pub struct Worker {
    index: usize,
    workers: usize,
    poll: Poll,
    /// Each listener, and whether it serves HTTPS.
    listeners: Vec<(TcpListener, bool)>,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Where `redirect_https` sends plain HTTP clients: the first HTTPS port.
    https_port: Option<u16>,
    accepting: bool,
    conns: Slab<Connection>,
    timers: Timers,
    /// When the current turn's events arrived: deadlines count from it, as
    /// nginx's do from its cached time (a clock read per request cost more
    /// than its slack of one turn is worth against timeouts of seconds).
    now: Instant,
    ready: VecDeque<usize>,
    runtime: Rc<Runtime>,
    loader: Loader,
    config: Arc<Config>,
    limits: h1::Limits,
    date: DateCache,
    access: AccessLog,
    scratch: Vec<u8>,
    /// Buffers of idle connections, for the next requests.
    spare: h1::Spare,
    /// The document root and the files handlers answer with.
    files: Files,
    shared: Arc<Shared>,
    reload_seen: u64,
    pool: Arc<Pool>,
    completions: Arc<Completions>,
    sessions: Arc<crate::session::Settings>,
    /// Blocking jobs in flight: ticket -> (connection, request seq).
    tickets: HashMap<u64, (usize, u64)>,
    next_id: u64,
    next_seq: u64,
    stop_deadline: Option<Instant>,
}

impl Connection {
    /// Turns Nagle's algorithm off, as nginx does, once a connection is kept
    /// alive or streams: a response written in one piece to a new connection
    /// leaves at once anyway, and a `Connection: close` exchange saves the call.
    fn no_delay(&mut self) {
        if !self.nodelay {
            self.nodelay = true;
            let _ = self.transport.socket().set_nodelay(true);
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

impl Worker {
    /// Sets up a worker on the calling thread: its poll, its listeners and its Lua state.
    pub fn new(
        index: usize,
        config: Arc<Config>,
        listeners: Vec<(std::net::TcpListener, bool)>,
        tls: Option<Arc<rustls::ServerConfig>>,
        shared: Arc<Shared>,
        pool: Arc<Pool>,
        loader: Loader,
    ) -> Result<(Worker, Arc<Waker>), String> {
        let poll = Poll::new().map_err(|e| format!("cannot create the event loop: {e}"))?;
        let waker = Arc::new(
            Waker::new(poll.registry(), WAKER)
                .map_err(|e| format!("cannot create the event loop: {e}"))?,
        );
        let mut mio_listeners = Vec::new();
        let mut https_port = None;
        for (i, (l, is_tls)) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            if is_tls && https_port.is_none() {
                https_port = l.local_addr().ok().map(|a| a.port());
            }
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(i), Interest::READABLE)
                .map_err(|e| e.to_string())?;
            mio_listeners.push((l, is_tls));
        }
        let runtime = Rc::new(loader()?);
        let completions = Completions::new(waker.clone());
        runtime.attach_pool(pool.clone(), completions.clone());
        let sessions = Arc::new(crate::session::Settings::from_config(&config));
        runtime.attach_sessions(sessions.clone());
        let access = match &config.access_log {
            crate::config::AccessLog::Off => Ok(AccessLog::off()),
            crate::config::AccessLog::Stdout => AccessLog::stdout(),
            crate::config::AccessLog::File(p) => AccessLog::file(p),
        }
        .map_err(|e| format!("cannot open the access log: {e}"))?;
        let limits = h1::Limits {
            head: crate::http::h1::role::Limits {
                max_header_bytes: config.max_header_bytes,
                max_uri_bytes: config.max_uri_bytes,
                max_headers: config.max_headers,
            },
            max_body_bytes: config.max_body_bytes,
            body_buffer_bytes: config.body_buffer_bytes,
            temp_dir: config.temp_dir.as_path().into(),
        };
        let files = Files::new(&config);
        let worker = Worker {
            index,
            workers: config.workers,
            poll,
            listeners: mio_listeners,
            tls,
            https_port,
            accepting: true,
            conns: Slab::new(),
            timers: Timers::default(),
            now: Instant::now(),
            ready: VecDeque::new(),
            runtime,
            loader,
            config,
            limits,
            date: DateCache::new(),
            access,
            scratch: vec![0; READ_SIZE],
            spare: Default::default(),
            files,
            reload_seen: shared.reload.load(Ordering::Acquire),
            pool,
            completions,
            sessions,
            tickets: HashMap::new(),
            shared,
            next_id: 0,
            next_seq: 0,
            stop_deadline: None,
        };
        Ok((worker, waker))
    }

    /// Runs until a graceful stop completes.
    pub fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while self.turn(&mut events, None) {}
    }

    /// Handles what is ready, waiting at most `max_wait` (None: until something
    /// happens). Returns false once the worker has stopped.
    pub fn turn(&mut self, events: &mut Events, max_wait: Option<Duration>) -> bool {
        let now = Instant::now();
        let mut timeout = self.timers.timeout(now);
        if !self.ready.is_empty() {
            timeout = Some(Duration::ZERO);
        }
        if let Some(max) = max_wait {
            timeout = Some(timeout.map_or(max, |t| t.min(max)));
        }
        if let Err(e) = self.poll.poll(events, timeout) {
            if !interrupted(&e) {
                log::error(&format!("worker {}: poll failed: {e}", self.index));
                return false;
            }
        }
        self.now = Instant::now();
        self.date.refresh();
        for event in events.iter() {
            match event.token() {
                WAKER => {
                    self.check_shared();
                    self.take_completions();
                }
                Token(i) if i < FIRST_CONN => self.accept(i),
                Token(t) => {
                    let key = t - FIRST_CONN;
                    if let Some(c) = self.conns.get_mut(key) {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            c.readable = true;
                        }
                        // The peer's FIN is already queued: read until it shows.
                        c.peer_closed |= event.is_read_closed() || event.is_error();
                        if event.is_writable() || event.is_write_closed() || event.is_error() {
                            c.writable = true;
                        }
                        self.schedule(key);
                    }
                }
            }
        }
        self.fire_timers();
        let mut budget = self.ready.len();
        while budget > 0 {
            budget -= 1;
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            if let Some(c) = self.conns.get_mut(key) {
                c.queued = false;
                self.advance(key);
                self.register(key);
            }
        }
        self.access.flush();
        if let Some(deadline) = self.stop_deadline {
            if self.conns.is_empty() {
                return false;
            }
            if Instant::now() >= deadline {
                log::warn(&format!(
                    "worker {}: {} connection(s) still open after shutdown_timeout, closing them",
                    self.index,
                    self.conns.len()
                ));
                return false;
            }
        }
        true
    }

    /// Resumes the requests whose blocking jobs finished.
    fn take_completions(&mut self) {
        for (ticket, out) in self.completions.take() {
            let Some((key, seq)) = self.tickets.remove(&ticket) else {
                continue;
            };
            let job = self.conns.get_mut(key).and_then(|c| c.job.as_mut());
            match job {
                Some(job)
                    if job.seq == seq && matches!(job.wait, Wait::Blocking(t) if t == ticket) =>
                {
                    if let Some(task) = job.task.as_mut() {
                        job.runtime.finish_blocking(task, ticket, out);
                    }
                    job.wait = Wait::Run;
                    self.schedule(key);
                }
                // The request went away; its Lua state may too.
                _ => self.runtime.discard_blocking(ticket),
            }
        }
    }

    fn schedule(&mut self, key: usize) {
        if let Some(c) = self.conns.get_mut(key) {
            if !c.queued {
                c.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    fn check_shared(&mut self) {
        if self.shared.stopping.load(Ordering::Acquire) {
            self.stop();
        }
        let gen = self.shared.reload.load(Ordering::Acquire);
        if gen != self.reload_seen {
            self.reload_seen = gen;
            self.reload();
        }
    }

    /// Loads the script anew; requests in flight finish on the old state.
    pub fn reload(&mut self) {
        self.replace_runtime("reload requested");
    }

    /// Stops accepting; idle connections close now, busy ones after their
    /// response; [`Worker::turn`] returns false once all are done.
    pub fn stop(&mut self) {
        if self.stop_deadline.is_some() {
            return;
        }
        self.stop_deadline = Some(Instant::now() + self.config.shutdown_timeout);
        for (mut l, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.conns[key].h1.close_after_response();
            self.schedule(key);
        }
    }

    /// Loads a fresh Lua state; requests in flight finish on the old one.
    fn replace_runtime(&mut self, why: &str) {
        match (self.loader)() {
            Ok(rt) => {
                rt.attach_pool(self.pool.clone(), self.completions.clone());
                rt.attach_sessions(self.sessions.clone());
                self.runtime = Rc::new(rt);
                log::info(&format!("worker {}: new Lua state ({why})", self.index));
            }
            Err(e) => log::error(&format!(
                "worker {}: keeping the current Lua state ({why}), the new one failed: {e}",
                self.index
            )),
        }
    }

    fn accept(&mut self, li: usize) {
        while self.accepting && self.conns.len() < self.config.max_connections {
            let Some((listener, is_tls)) = self.listeners.get(li) else {
                return;
            };
            let is_tls = *is_tls;
            match listener.accept() {
                Ok((sock, peer)) => self.add_conn(sock, peer, is_tls),
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    // EMFILE and friends: leave the rest in the backlog until a connection closes.
                    log::error(&format!("worker {}: accept failed: {e}", self.index));
                    self.accepting = false;
                    return;
                }
            }
        }
        self.accepting = false;
    }

    fn add_conn(&mut self, sock: TcpStream, peer: SocketAddr, is_tls: bool) {
        let session = match (&self.tls, is_tls) {
            (Some(config), true) => match crate::tls::accept(config) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::error(&format!("{peer}: cannot start a TLS session: {e}"));
                    return;
                }
            },
            _ => None,
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let (transport, scheme) = match session {
            Some(s) => {
                // A TLS handshake flight goes out in several writes.
                let _ = sock.set_nodelay(true);
                (Transport::tls(sock, s), "https")
            }
            None => (Transport::Plain(sock), "http"),
        };
        entry.insert(Connection {
            transport,
            peer,
            h1: Conn::new(peer, scheme),
            readable: true,
            writable: true,
            read_closed: false,
            job: None,
            log: None,
            phase: Phase::Idle,
            deadline: None,
            timer_at: None,
            linger_until: None,
            queued: false,
            registered: false,
            requests: 0,
            peer_closed: false,
            nodelay: scheme == "https",
        });
        self.schedule(key);
    }

    /// Puts a connection that stays open into the poll. Edge-triggered, it
    /// still hears of readiness that came before: adding reports it at once.
    fn register(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key).filter(|c| !c.registered) else {
            return;
        };
        c.registered = true;
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registry = self.poll.registry();
        if let Err(e) = registry.register(c.transport.socket(), Token(FIRST_CONN + key), interest) {
            log::error(&format!(
                "worker {}: cannot register a connection: {e}",
                self.index
            ));
            self.close(key);
        }
    }

    /// Ends a connection whose last response is flushed. After an error the
    /// client may still be sending (an unread body); closing at once would
    /// reset the connection and could destroy the error response before the
    /// client reads it, so the write side is shut and input drained briefly.
    fn finish(&mut self, key: usize) {
        let c = &mut self.conns[key];
        // The FIN goes out now, with the held-back end of the response (see
        // `flush`). Closing alone would do that too, unless input had come
        // meanwhile: then it resets the connection and drops what was held.
        let _ = c.transport.socket().shutdown(std::net::Shutdown::Write);
        if c.read_closed || c.h1.status_sent < 400 {
            return self.close(key);
        }
        let until = Instant::now() + LINGER;
        c.linger_until = Some(until);
        c.deadline = Some(until);
        self.arm_deadline(key, until);
        self.linger(key);
    }

    /// Reads and drops input until the client closes, for at most [`LINGER`].
    fn linger(&mut self, key: usize) {
        let c = &mut self.conns[key];
        loop {
            match c.transport.socket().read(&mut self.scratch) {
                Ok(0) => return self.close(key),
                Ok(_) => {}
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(_) => return self.close(key),
            }
        }
    }

    /// Makes sure connection `key`'s deadline timer fires no later than `at`.
    fn arm_deadline(&mut self, key: usize, at: Instant) {
        let c = &mut self.conns[key];
        if c.timer_at.is_none_or(|t| at < t) {
            if let Some(old) = c.timer_at.replace(at) {
                self.timers.cancel(old, Timer::Deadline { key });
            }
            self.timers.add(at, Timer::Deadline { key });
        }
    }

    fn close(&mut self, key: usize) {
        let Some(c) = self.conns.try_remove(key) else {
            return;
        };
        if let Some(at) = c.timer_at {
            self.timers.cancel(at, Timer::Deadline { key });
        }
        drop(c);
        if !self.accepting && self.stop_deadline.is_none() {
            self.accepting = true;
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
    }

    fn fire_timers(&mut self) {
        while let Some(timer) = self.timers.pop_due(self.now) {
            match timer {
                Timer::Wake { key, seq } => {
                    if let Some(job) = self.conns.get_mut(key).and_then(|c| c.job.as_mut()) {
                        if job.seq == seq && matches!(job.wait, Wait::Sleep) {
                            job.wait = Wait::Run;
                            self.schedule(key);
                        }
                    }
                }
                Timer::Deadline { key } => {
                    let Some(c) = self.conns.get_mut(key) else {
                        continue;
                    };
                    c.timer_at = None;
                    match c.deadline {
                        Some(_) if c.linger_until.is_some() => self.close(key),
                        Some(d) if d <= self.now => {
                            c.deadline = None;
                            c.h1.time_out(self.date.http());
                            c.job = None;
                            if c.h1.status_sent == 408 {
                                log::info(&format!("{}: request timed out (408)", c.peer));
                                self.log_exchange(key);
                            }
                            self.schedule(key);
                        }
                        Some(d) => self.arm_deadline(key, d),
                        None => {}
                    }
                }
            }
        }
    }

    /// Moves one connection forward as far as it can go now.
    fn advance(&mut self, key: usize) {
        if self.conns[key].linger_until.is_some() {
            return self.linger(key);
        }
        for _ in 0..STEPS_PER_TURN {
            let mut progress = false;
            if !self.read(key, &mut progress) {
                return self.close(key);
            }
            while let Some(event) = self.conns[key].h1.poll(&self.limits, &mut self.spare) {
                progress = true;
                self.on_h1_event(key, event);
            }
            if self.conns[key]
                .job
                .as_ref()
                .is_some_and(|j| matches!(j.wait, Wait::Run))
            {
                progress = true;
                self.run_job(key);
            }
            // Last, so that a response made in this step leaves in it.
            if !self.flush(key, &mut progress) {
                return self.close(key);
            }
            let c = &self.conns[key];
            // Encrypted bytes still waiting for the socket are part of the response.
            let all_sent = c.h1.all_sent() && !c.transport.has_pending();
            if c.h1.is_closing() && all_sent {
                return self.finish(key);
            }
            if c.read_closed && c.job.is_none() && !c.h1.awaiting_response() && all_sent {
                return self.close(key);
            }
            if !progress {
                self.update_deadline(key);
                let c = &mut self.conns[key];
                if c.h1.phase() == Phase::Idle {
                    c.h1.shrink(&mut self.spare);
                }
                return;
            }
        }
        // Still busy: let the others have a turn first.
        self.update_deadline(key);
        self.schedule(key);
    }

    /// Writes pending output. False when the connection is broken.
    fn flush(&mut self, key: usize, progress: &mut bool) -> bool {
        let c = &mut self.conns[key];
        while c.writable && c.transport.has_pending() {
            match c.transport.flush() {
                Ok(()) => *progress = true,
                Err(e) if would_block(&e) => c.writable = false,
                Err(e) if interrupted(&e) => {}
                Err(_) => return false,
            }
        }
        while c.writable && !c.h1.output().is_empty() {
            // Held back (MSG_MORE) before a file body, and before the FIN that
            // `finish` sends at once: the end of a closing connection's
            // response then leaves with its FIN in one segment.
            let written = if c.h1.file_range_follows() || c.h1.output_is_last() {
                c.transport.write_more(c.h1.output())
            } else {
                c.transport.write(c.h1.output())
            };
            match written {
                Ok(0) => return false,
                Ok(n) => {
                    c.h1.consume_output(n);
                    *progress = true;
                    // A client taking its response slowly but steadily is not stuck.
                    if matches!(c.phase, Phase::Handler | Phase::Closing) {
                        c.deadline = None;
                    }
                    if let Some(job) = &mut c.job {
                        if matches!(job.wait, Wait::Write) && c.h1.output().len() < HIGH_WATER / 2 {
                            job.wait = Wait::Run;
                        }
                    }
                }
                Err(e) if would_block(&e) => c.writable = false,
                Err(e) if interrupted(&e) => {}
                Err(_) => return false,
            }
        }
        // A file body follows the output before it, straight from the file.
        let mut burst = 0;
        while c.writable && burst < FILE_BURST {
            let Some((file, offset, len)) = c.h1.file_range() else {
                break;
            };
            match c.transport.send_file(file, offset, len, &mut self.scratch) {
                // The file shrank under us: its length is already promised.
                Ok(0) => return false,
                Ok(n) => {
                    c.h1.file_sent(n as u64);
                    burst += n;
                    *progress = true;
                    if matches!(c.phase, Phase::Handler | Phase::Closing) {
                        c.deadline = None;
                    }
                }
                Err(e) if would_block(&e) => c.writable = false,
                Err(e) if interrupted(&e) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads input the connection wants. False when the connection is broken.
    fn read(&mut self, key: usize, progress: &mut bool) -> bool {
        let c = &mut self.conns[key];
        if !c.readable || c.read_closed {
            return true;
        }
        let wants =
            c.h1.wants_read(self.limits.head.max_header_bytes) || c.transport.is_handshaking();
        if !wants {
            return true;
        }
        match c.transport.read(&mut self.scratch) {
            Ok(0) => {
                c.read_closed = true;
                c.h1.on_eof();
                *progress = true;
                if let Some(job) = &mut c.job {
                    if matches!(job.wait, Wait::Read | Wait::Body | Wait::Start) {
                        job.wait = Wait::Run;
                    }
                }
            }
            Ok(n) => {
                if !c.h1.has_tls_info() {
                    if let Some(info) = c.transport.tls_info() {
                        c.h1.set_tls(info);
                    }
                }
                c.h1.feed(&self.scratch[..n], &mut self.spare);
                *progress = true;
                // A short read drained the socket: edge-triggered epoll reports
                // the next data, so the read that would say WouldBlock is saved.
                if n < self.scratch.len() && !c.transport.is_tls() && !c.peer_closed {
                    c.readable = false;
                }
                // Body progress pushes the body deadline on.
                if c.phase == Phase::Body {
                    c.deadline = Some(Instant::now() + self.config.body_timeout);
                }
            }
            Err(e) if would_block(&e) => c.readable = false,
            Err(e) if interrupted(&e) => {}
            Err(e) => {
                if c.transport.is_tls() && e.kind() == io::ErrorKind::InvalidData {
                    log::info(&format!("{}: {e}", c.peer));
                }
                return false;
            }
        }
        true
    }

    fn on_h1_event(&mut self, key: usize, event: H1Event) {
        let c = &mut self.conns[key];
        match event {
            H1Event::Request(mut req) => {
                c.requests += 1;
                if c.requests == 2 {
                    c.no_delay();
                }
                req.id = self.next_id * self.workers as u64 + self.index as u64;
                self.next_id += 1;
                self.next_seq += 1;
                if self.access.is_on() {
                    c.log = Some(Box::new(LogInfo {
                        method: req.method.clone(),
                        target: req.target.to_string(),
                        version: req.version,
                        referer: req.header("referer").map(<[u8]>::to_vec),
                        user_agent: req.header("user-agent").map(<[u8]>::to_vec),
                    }));
                }
                if let (Some(port), false, true) = (
                    self.https_port,
                    c.transport.is_tls(),
                    self.config.redirect_https,
                ) {
                    let response = https_redirect(&req, port);
                    c.h1.respond(response, self.date.http());
                    return self.log_exchange(key);
                }
                if let Some(response) = self.files.serve(&req) {
                    c.h1.respond(response, self.date.http());
                    return self.log_exchange(key);
                }
                c.job = Some(Box::new(Job {
                    request: req,
                    task: None,
                    runtime: self.runtime.clone(),
                    wait: Wait::Start,
                    seq: self.next_seq,
                }));
                self.maybe_start(key);
            }
            H1Event::Body => {
                if let Some(job) = &mut c.job {
                    match job.wait {
                        Wait::Read => job.wait = Wait::Run,
                        Wait::Body => job.wait = Wait::Run,
                        Wait::Start => self.maybe_start(key),
                        _ => {}
                    }
                }
            }
            H1Event::BodyError(status, reason) => {
                log::info(&format!(
                    "{}: bad request body ({status}): {reason}",
                    c.peer
                ));
                c.job = None;
                c.h1.fail_body(status, self.date.http());
                self.log_exchange(key);
            }
            H1Event::BadRequest(status, reason) => {
                log::info(&format!("{}: bad request ({status}): {reason}", c.peer));
                c.log = None;
                self.log_exchange(key);
            }
        }
    }

    /// Starts the handler once the body is complete or too large to wait for.
    fn maybe_start(&mut self, key: usize) {
        let c = &mut self.conns[key];
        let Some(job) = &mut c.job else { return };
        if job.task.is_some() {
            return;
        }
        let req = &mut job.request;
        let native = self.config.native_handler.as_ref();
        {
            let body = req.body.borrow();
            // A native handler gets the whole body at once; Lua can start earlier.
            let ready = if native.is_some() {
                body.complete || body.failed.is_some()
            } else {
                body.ready_for_handler()
            };
            if !ready {
                return;
            }
        }
        if let Some(native) = native {
            let answer = req.body.borrow_mut().to_bytes().map(|body| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    native.0.handle(req, &body)
                }))
            });
            match answer {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(response))) => {
                    c.h1.respond(response, self.date.http());
                    c.job = None;
                    return self.log_exchange(key);
                }
                Ok(Err(_)) | Err(_) => {
                    log::error(&format!(
                        "{}: {} {}: the native handler failed",
                        c.peer, req.method, req.target
                    ));
                    c.h1.respond(Response::error(500, None), self.date.http());
                    c.job = None;
                    return self.log_exchange(key);
                }
            }
        }
        if self.config.script.is_none() {
            // A plain static server (`root` without a script): no file, no page.
            c.h1.respond(Response::error(404, None), self.date.http());
            c.job = None;
            return self.log_exchange(key);
        }
        match job.runtime.start(req) {
            Ok(task) => {
                job.task = Some(task);
                job.wait = Wait::Run;
            }
            Err(f) => {
                let line = format!(
                    "{}: {} {}: {} ({})",
                    c.peer, req.method, req.target, f.message, f.status
                );
                if f.status >= 500 {
                    log::error(&line);
                } else {
                    log::info(&line);
                }
                c.h1.respond(Response::error(f.status, None), self.date.http());
                let job = c.job.take();
                self.log_exchange(key);
                self.retire_if_exhausted(job);
            }
        }
    }

    /// Resumes the request's task until it waits or ends.
    fn run_job(&mut self, key: usize) {
        let dev = self.config.dev;
        loop {
            let c = &mut self.conns[key];
            let Some(job) = c.job.as_mut() else { return };
            let Some(task) = job.task.as_mut() else {
                return;
            };
            let step = job.runtime.resume(task);
            match step {
                Step::Wait(Op::Sleep(d)) => {
                    job.wait = Wait::Sleep;
                    let seq = job.seq;
                    self.timers
                        .add(Instant::now() + d, Timer::Wake { key, seq });
                    return;
                }
                Step::Wait(Op::Read) => {
                    job.wait = Wait::Read;
                    return;
                }
                Step::Wait(Op::Blocking(ticket)) => {
                    job.wait = Wait::Blocking(ticket);
                    self.tickets.insert(ticket, (key, job.seq));
                    return;
                }
                Step::Wait(Op::Body) => {
                    job.wait = Wait::Body;
                    return;
                }
                Step::Wait(Op::Write(chunk)) => {
                    c.h1.send_chunk(&chunk);
                    if c.h1.output().len() >= HIGH_WATER {
                        job.wait = Wait::Write;
                        return;
                    }
                }
                Step::Head(response) => {
                    c.no_delay();
                    c.h1.respond(response, self.date.http())
                }
                Step::Done(response) => {
                    match response {
                        Some(r) => {
                            // A `{ file = ... }` answer depends on the request's
                            // conditional, range and Accept-Encoding fields.
                            let files = &mut self.files;
                            let r = task.with_headers(|headers| {
                                files.handler_file(r, &job.request.method, headers)
                            });
                            c.h1.respond(r, self.date.http())
                        }
                        None => c.h1.finish(),
                    }
                    return self.end_job(key);
                }
                Step::Failed(f) => {
                    let what = c
                        .log
                        .as_ref()
                        .map_or(String::new(), |l| format!("{} {}", l.method, l.target));
                    let detail = f.traceback.as_deref().unwrap_or(&f.message);
                    if f.status >= 500 {
                        log::error(&format!("{}: {what}: {detail}", c.peer));
                    } else {
                        log::info(&format!("{}: {what}: {} ({})", c.peer, f.message, f.status));
                    }
                    if c.h1.awaiting_response() {
                        let page_detail = dev.then(|| {
                            String::from_utf8_lossy(&crate::escape::html_escape(detail.as_bytes()))
                                .into_owned()
                        });
                        c.h1.respond(
                            Response::error(f.status, page_detail.as_deref()),
                            self.date.http(),
                        );
                    } else {
                        c.h1.abort();
                    }
                    return self.end_job(key);
                }
            }
        }
    }

    fn end_job(&mut self, key: usize) {
        let c = &mut self.conns[key];
        let job = c.job.take();
        self.log_exchange(key);
        self.retire_if_exhausted(job);
    }

    /// Replaces the current Lua state when the request's state ran out of memory.
    fn retire_if_exhausted(&mut self, job: Option<Box<Job>>) {
        if let Some(job) = job {
            let exhausted = job.runtime.is_exhausted() && Rc::ptr_eq(&job.runtime, &self.runtime);
            drop(job);
            if exhausted {
                self.replace_runtime("the Lua state ran out of memory (lua_memory_limit)");
            }
        }
    }

    fn log_exchange(&mut self, key: usize) {
        if !self.access.is_on() {
            return;
        }
        let c = &mut self.conns[key];
        let info = c.log.take();
        let entry = match &info {
            Some(l) => Entry {
                remote: c.peer,
                method: &l.method,
                target: &l.target,
                version: l.version,
                status: c.h1.status_sent,
                bytes: c.h1.body_bytes_sent,
                referer: l.referer.as_deref(),
                user_agent: l.user_agent.as_deref(),
            },
            None => Entry {
                remote: c.peer,
                method: "-",
                target: "-",
                version: "1.1",
                status: c.h1.status_sent,
                bytes: c.h1.body_bytes_sent,
                referer: None,
                user_agent: None,
            },
        };
        self.access.record(self.date.log(), &entry);
    }

    /// Arms the timeout of the connection's current phase.
    fn update_deadline(&mut self, key: usize) {
        let c = &mut self.conns[key];
        // A TLS handshake is timed like a request head.
        let phase = if c.transport.is_handshaking() {
            Phase::Head
        } else {
            c.h1.phase()
        };
        let now = self.now;
        let stuck_output = !c.h1.all_sent() && !c.writable;
        if phase != c.phase || c.deadline.is_none() {
            c.phase = phase;
            c.deadline = match phase {
                Phase::Idle => Some(now + self.config.idle_timeout),
                Phase::Head => Some(now + self.config.header_timeout),
                Phase::Body => Some(now + self.config.body_timeout),
                Phase::Handler | Phase::Closing => None,
            };
        }
        if stuck_output {
            let send = now + self.config.send_timeout;
            c.deadline = Some(c.deadline.map_or(send, |d| d.min(send)));
        }
        if let Some(d) = c.deadline {
            self.arm_deadline(key, d);
        }
    }
}
