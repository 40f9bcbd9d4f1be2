//! The one configuration of a server. Every option has one name, one default
//! and one validation, and is reached under that name from all three doors:
//! `--max-body-bytes` on the command line, `max_body_bytes = ...` in Lua and
//! `flutter_config_set("max_body_bytes", ...)` in C all end in [`Config::set`].

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Where the Lua handler comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Script {
    /// A file, loaded by every worker into its own Lua state.
    Path(PathBuf),
    /// Source text with a name used in error messages (`chunkname`).
    Source { name: String, code: String },
}

/// Where the access log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLog {
    Stdout,
    File(PathBuf),
    Off,
}

/// A refused option value: names the option and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub option: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value {:?} for option {}: {}",
            self.value, self.option, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// How an option's text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Count,
    /// Seconds, fractions allowed (`0.5`), or with a unit: `250ms`, `30s`, `2m`.
    Seconds,
    /// `true`/`false` (also `on`/`off`, `yes`/`no`, `1`/`0`).
    Flag,
    /// A file or directory path, or another free-form text.
    Text,
    /// An address; the option may be given more than once.
    Address,
    /// A file path; the option may be given more than once.
    Paths,
}

/// Whether HTTPS clients must present a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Optional,
    Required,
}

/// One option as the doors present it.
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// Every option, in the order `--help` lists them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec { name: "listen", kind: Kind::Address, help: "address to serve plain HTTP on, repeatable (default 0.0.0.0:8080)" },
    OptionSpec { name: "tls_listen", kind: Kind::Address, help: "address to serve HTTPS on, repeatable (needs --tls-cert and --tls-key)" },
    OptionSpec { name: "tls_cert", kind: Kind::Paths, help: "PEM certificate chain for HTTPS, repeatable; SNI picks among them, the first is the default" },
    OptionSpec { name: "tls_key", kind: Kind::Paths, help: "PEM private key (PKCS#8, PKCS#1 or SEC1) of the --tls-cert at the same position" },
    OptionSpec { name: "client_ca", kind: Kind::Text, help: "PEM bundle of the CAs that client certificates must chain to" },
    OptionSpec { name: "client_auth", kind: Kind::Text, help: "client certificates: none (default), optional or required" },
    OptionSpec { name: "redirect_https", kind: Kind::Flag, help: "answer plain HTTP with a redirect to the first HTTPS listener" },
    OptionSpec { name: "root", kind: Kind::Text, help: "document root: files under it are served before the handler (without a script, a plain static server)" },
    OptionSpec { name: "root_symlinks", kind: Kind::Flag, help: "serve files whose symlinks lead out of the root (default off: refused)" },
    OptionSpec { name: "root_dotfiles", kind: Kind::Flag, help: "serve files and directories whose names start with a dot (default off: hidden)" },
    OptionSpec { name: "root_listing", kind: Kind::Flag, help: "list a directory that has no index.html (default off)" },
    OptionSpec { name: "root_cache_control", kind: Kind::Text, help: "Cache-Control value sent with static files, such as 'public, max-age=3600' (default: none)" },
    OptionSpec { name: "workers", kind: Kind::Count, help: "worker threads, each with its own event loop and Lua state (default: number of cores)" },
    OptionSpec { name: "blocking_threads", kind: Kind::Count, help: "threads for work that cannot be non-blocking, such as SQL queries (default 8)" },
    OptionSpec { name: "dev", kind: Kind::Flag, help: "development mode: Lua tracebacks in error pages" },
    OptionSpec { name: "reload", kind: Kind::Flag, help: "reload when the script or a module it requires changes (default: on with --dev, else off)" },
    OptionSpec { name: "access_log", kind: Kind::Text, help: "access log destination: 'stdout' (default), 'off' or a file path" },
    OptionSpec { name: "max_connections", kind: Kind::Count, help: "open connections per worker; new ones wait in the backlog above it (default 16384)" },
    OptionSpec { name: "max_header_bytes", kind: Kind::Count, help: "largest request head (request line and headers); 431 above it (default 16384)" },
    OptionSpec { name: "max_uri_bytes", kind: Kind::Count, help: "longest request target; 414 above it (default 8192)" },
    OptionSpec { name: "max_headers", kind: Kind::Count, help: "most header fields in a request, at most 100; 431 above it (default 100)" },
    OptionSpec { name: "max_body_bytes", kind: Kind::Count, help: "largest request body; 413 above it (default 8388608)" },
    OptionSpec { name: "body_buffer_bytes", kind: Kind::Count, help: "request bodies up to this size are kept in memory and read before the handler runs; larger ones spool to a temporary file (default 65536)" },
    OptionSpec { name: "temp_dir", kind: Kind::Text, help: "directory for spooled request bodies and uploaded files (default: the system's)" },
    OptionSpec { name: "header_timeout", kind: Kind::Seconds, help: "time allowed to send a whole request head; 408 after it (default 10s)" },
    OptionSpec { name: "body_timeout", kind: Kind::Seconds, help: "longest pause while a request body arrives; 408 after it (default 30s)" },
    OptionSpec { name: "idle_timeout", kind: Kind::Seconds, help: "how long an idle keep-alive connection stays open (default 75s)" },
    OptionSpec { name: "send_timeout", kind: Kind::Seconds, help: "longest pause while the client takes a response; closed after it (default 30s)" },
    OptionSpec { name: "shutdown_timeout", kind: Kind::Seconds, help: "grace period for requests in flight at a graceful stop (default 10s)" },
    OptionSpec { name: "lua_memory_limit", kind: Kind::Count, help: "bytes a worker's Lua state may use; a state over it is replaced (default 268435456, 0 = none)" },
    OptionSpec { name: "lua_instruction_limit", kind: Kind::Count, help: "Lua instructions a request may run, once it has run 100 ms without yielding, before it is stopped with 500 (default 100000000, 0 = none)" },
    OptionSpec { name: "session_store", kind: Kind::Text, help: "where sessions live: 'cookie' (default: signed cookies) or a database URL, sqlite:PATH or postgres://..." },
    OptionSpec { name: "session_secret", kind: Kind::Text, help: "secret that signs session cookies, at least 16 characters (default: $FLUTTER_SESSION_SECRET, else generated into session_secret_file)" },
    OptionSpec { name: "session_previous_secret", kind: Kind::Text, help: "the secret before session_secret: cookies it signed are still accepted, and signed anew" },
    OptionSpec { name: "session_secret_file", kind: Kind::Text, help: "file a generated session secret is kept in (default: .flutter-session-secret beside the script)" },
    OptionSpec { name: "session_cookie", kind: Kind::Text, help: "name of the session cookie (default flutter_session)" },
    OptionSpec { name: "session_max_age", kind: Kind::Seconds, help: "how long a session lasts without being used (default 14 days: 20160m)" },
];

/// A request handler of the embedding program (the C ABI's), asked before
/// the Lua script. It runs on the worker thread, so it must not block long.
pub trait NativeHandler: Send + Sync {
    /// Answers the request (its body complete in `body`), or None to let Lua answer.
    fn handle(
        &self,
        req: &crate::http::message::Request,
        body: &[u8],
    ) -> Option<crate::http::message::Response>;
}

#[derive(Clone)]
pub struct NativeHandlerRef(pub std::sync::Arc<dyn NativeHandler>);

impl fmt::Debug for NativeHandlerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NativeHandler")
    }
}

/// The configuration of one server.
#[derive(Clone, Debug)]
pub struct Config {
    pub script: Option<Script>,
    /// Asked before the script, when set.
    pub native_handler: Option<NativeHandlerRef>,
    /// Lua C modules every worker's state can `require`, by name.
    pub lua_modules: Vec<(String, crate::lua::CModule)>,
    pub listen: Vec<SocketAddr>,
    listen_given: bool,
    pub tls_listen: Vec<SocketAddr>,
    pub tls_certs: Vec<PathBuf>,
    pub tls_keys: Vec<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
    pub redirect_https: bool,
    /// The document root, canonical (`root`).
    pub root: Option<PathBuf>,
    pub root_symlinks: bool,
    pub root_dotfiles: bool,
    pub root_listing: bool,
    pub root_cache_control: Option<String>,
    pub workers: usize,
    pub blocking_threads: usize,
    pub dev: bool,
    /// Reload on change; None follows `dev`.
    pub reload: Option<bool>,
    pub access_log: AccessLog,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: u64,
    pub body_buffer_bytes: usize,
    pub temp_dir: PathBuf,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub lua_memory_limit: usize,
    pub lua_instruction_limit: u64,
    /// Database URL of the session store; None: signed cookies.
    pub session_store: Option<String>,
    pub session_secret: Option<Secret>,
    pub session_previous_secret: Option<Secret>,
    pub session_secret_file: Option<PathBuf>,
    pub session_cookie: String,
    pub session_max_age: Duration,
}

/// A secret option's value; its Debug form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            script: None,
            native_handler: None,
            lua_modules: Vec::new(),
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 8080))],
            listen_given: false,
            tls_listen: Vec::new(),
            tls_certs: Vec::new(),
            tls_keys: Vec::new(),
            client_ca: None,
            client_auth: ClientAuth::None,
            redirect_https: false,
            root: None,
            root_symlinks: false,
            root_dotfiles: false,
            root_listing: false,
            root_cache_control: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            blocking_threads: 8,
            dev: false,
            reload: None,
            access_log: AccessLog::Stdout,
            max_connections: 16384,
            max_header_bytes: 16384,
            max_uri_bytes: 8192,
            max_headers: 100,
            max_body_bytes: 8 << 20,
            body_buffer_bytes: 64 << 10,
            temp_dir: std::env::temp_dir(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            send_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            lua_memory_limit: 256 << 20,
            lua_instruction_limit: 100_000_000,
            session_store: None,
            session_secret: None,
            session_previous_secret: None,
            session_secret_file: None,
            session_cookie: crate::session::DEFAULT_COOKIE.to_string(),
            session_max_age: Duration::from_secs(crate::session::DEFAULT_MAX_AGE),
        }
    }
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets option `name` (snake_case, or kebab-case as on the command line)
    /// from its text form. This is the one validation of every option.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let name = name.replace('-', "_");
        let bad = |reason: &str| ConfigError {
            option: name.clone(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let spec = OPTIONS
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| bad("no such option"))?;
        match spec.kind {
            Kind::Count => {
                let n = parse_count(value).map_err(|r| bad(&r))?;
                self.set_count(&name, n).map_err(|r| bad(&r))
            }
            Kind::Seconds => {
                let d = parse_seconds(value).map_err(|r| bad(&r))?;
                if d.is_zero() {
                    return Err(bad("must be more than zero"));
                }
                *self.duration_mut(&name) = d;
                Ok(())
            }
            Kind::Flag => {
                let on = parse_flag(value).map_err(|r| bad(&r))?;
                match name.as_str() {
                    "dev" => self.dev = on,
                    "reload" => self.reload = Some(on),
                    "redirect_https" => self.redirect_https = on,
                    "root_symlinks" => self.root_symlinks = on,
                    "root_dotfiles" => self.root_dotfiles = on,
                    "root_listing" => self.root_listing = on,
                    _ => unreachable!("flag option {name} has no field"),
                }
                Ok(())
            }
            Kind::Text => self.set_text(&name, value).map_err(|r| bad(&r)),
            Kind::Address => {
                let addr = parse_address(value).map_err(|r| bad(&r))?;
                // The default plain listener goes once any address is given.
                if !self.listen_given {
                    self.listen.clear();
                    self.listen_given = true;
                }
                match name.as_str() {
                    "listen" => self.listen.push(addr),
                    _ => self.tls_listen.push(addr),
                }
                Ok(())
            }
            Kind::Paths => {
                let path = PathBuf::from(value);
                if !path.is_file() {
                    return Err(bad("no such file"));
                }
                match name.as_str() {
                    "tls_cert" => self.tls_certs.push(path),
                    _ => self.tls_keys.push(path),
                }
                Ok(())
            }
        }
    }

    fn set_count(&mut self, name: &str, n: u64) -> Result<(), String> {
        let usize_of = |n: u64| usize::try_from(n).map_err(|_| "too large".to_string());
        let at_least = |n: u64, min: u64| {
            if n < min {
                Err(format!("must be at least {min}"))
            } else {
                Ok(n)
            }
        };
        match name {
            "workers" => {
                let n = at_least(n, 1)?;
                if n > 1024 {
                    return Err("must be at most 1024".into());
                }
                self.workers = n as usize;
            }
            "blocking_threads" => {
                let n = at_least(n, 1)?;
                if n > 256 {
                    return Err("must be at most 256".into());
                }
                self.blocking_threads = n as usize;
            }
            "max_connections" => self.max_connections = usize_of(at_least(n, 1)?)?,
            "max_header_bytes" => self.max_header_bytes = usize_of(at_least(n, 64)?)?,
            "max_uri_bytes" => self.max_uri_bytes = usize_of(at_least(n, 16)?)?,
            "max_headers" => {
                let n = at_least(n, 1)?;
                if n > 100 {
                    return Err("must be at most 100".into());
                }
                self.max_headers = n as usize;
            }
            "max_body_bytes" => self.max_body_bytes = n,
            "body_buffer_bytes" => self.body_buffer_bytes = usize_of(at_least(n, 1024)?)?,
            "lua_memory_limit" => {
                if n != 0 && n < (1 << 20) {
                    return Err("must be 0 (no limit) or at least 1048576".into());
                }
                self.lua_memory_limit = usize_of(n)?;
            }
            "lua_instruction_limit" => self.lua_instruction_limit = n,
            _ => unreachable!("count option {name} has no field"),
        }
        Ok(())
    }

    fn duration_mut(&mut self, name: &str) -> &mut Duration {
        match name {
            "header_timeout" => &mut self.header_timeout,
            "body_timeout" => &mut self.body_timeout,
            "idle_timeout" => &mut self.idle_timeout,
            "send_timeout" => &mut self.send_timeout,
            "shutdown_timeout" => &mut self.shutdown_timeout,
            "session_max_age" => &mut self.session_max_age,
            _ => unreachable!("duration option {name} has no field"),
        }
    }

    fn set_text(&mut self, name: &str, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        match name {
            "access_log" => {
                self.access_log = match value {
                    "stdout" | "-" => AccessLog::Stdout,
                    "off" => AccessLog::Off,
                    path => AccessLog::File(PathBuf::from(path)),
                }
            }
            "client_ca" => {
                let path = PathBuf::from(value);
                if !path.is_file() {
                    return Err("no such file".into());
                }
                self.client_ca = Some(path);
            }
            "client_auth" => {
                self.client_auth = match value {
                    "none" => ClientAuth::None,
                    "optional" => ClientAuth::Optional,
                    "required" => ClientAuth::Required,
                    _ => return Err("expected none, optional or required".into()),
                }
            }
            "root" => {
                let dir = PathBuf::from(value);
                if !dir.is_dir() {
                    return Err("not a directory".into());
                }
                // Canonical, so the real path of every file served can be
                // checked against it.
                let dir = dir.canonicalize().map_err(|e| e.to_string())?;
                self.root = Some(dir);
            }
            "root_cache_control" => {
                if !crate::http::message::is_field_value(value.as_bytes()) || value.trim() != value
                {
                    return Err("not a valid header value".into());
                }
                self.root_cache_control = Some(value.to_string());
            }
            "temp_dir" => {
                let dir = PathBuf::from(value);
                if !dir.is_dir() {
                    return Err("not a directory".into());
                }
                self.temp_dir = dir;
            }
            "session_store" => {
                self.session_store = match value {
                    "cookie" => None,
                    url => {
                        crate::db::Target::parse(url)?;
                        Some(url.to_string())
                    }
                }
            }
            "session_secret" | "session_previous_secret" => {
                if value.len() < crate::session::MIN_SECRET {
                    return Err(format!(
                        "must be at least {} characters",
                        crate::session::MIN_SECRET
                    ));
                }
                let secret = Some(Secret(value.to_string()));
                if name == "session_secret" {
                    self.session_secret = secret;
                } else {
                    self.session_previous_secret = secret;
                }
            }
            "session_secret_file" => {
                let path = PathBuf::from(value);
                if path.is_dir() {
                    return Err("is a directory".into());
                }
                let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                if parent.is_some_and(|p| !p.is_dir()) {
                    return Err("its directory does not exist".into());
                }
                self.session_secret_file = Some(path);
            }
            "session_cookie" => {
                if !value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
                {
                    return Err("not a valid cookie name".into());
                }
                self.session_cookie = value.to_string();
            }
            _ => unreachable!("text option {name} has no field"),
        }
        Ok(())
    }

    /// Whether to reload when a script file changes.
    pub fn reload_on_change(&self) -> bool {
        self.reload.unwrap_or(self.dev)
    }

    /// Forgets the listen addresses given so far (defaults included).
    pub fn clear_listen(&mut self) {
        self.listen.clear();
        self.listen_given = true;
    }

    /// The script to serve, as a file every worker loads.
    pub fn set_script_path(&mut self, path: impl Into<PathBuf>) {
        self.script = Some(Script::Path(path.into()));
    }

    /// The script to serve, given as source text.
    pub fn set_script_source(&mut self, name: &str, code: &str) {
        self.script = Some(Script::Source {
            name: name.to_string(),
            code: code.to_string(),
        });
    }
}

fn parse_count(value: &str) -> Result<u64, String> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number".into());
    }
    v.parse::<u64>().map_err(|_| "number too large".into())
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    let secs: f64 = num
        .trim()
        .parse()
        .map_err(|_| "expected seconds, like 30, 0.5, 250ms or 2m".to_string())?;
    let secs = secs * scale;
    if !secs.is_finite() || !(0.0..=86400.0 * 365.0).contains(&secs) {
        return Err("out of range".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// `host:port`, `[v6]:port`, or a bare `:port` / `port` meaning all IPv4 addresses.
fn parse_address(value: &str) -> Result<SocketAddr, String> {
    let v = value.trim();
    let v = v.strip_prefix("http://").unwrap_or(v);
    if let Ok(port) = v.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = v.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match v.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "the name resolves to no address".to_string()),
        Err(_) => Err("expected host:port, [ipv6]:port or a port".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_can_be_set_by_its_name() {
        for spec in OPTIONS {
            let candidates: &[&str] = match spec.kind {
                Kind::Count => &["100", "2000000"],
                Kind::Seconds => &["1.5"],
                Kind::Flag => &["true"],
                Kind::Text => &[
                    "/tmp",
                    "/etc/hostname",
                    "optional",
                    "cookie",
                    "a secret of 16+ chars",
                ],
                Kind::Paths => &["/etc/hostname"],
                Kind::Address => &["127.0.0.1:0"],
            };
            let mut c = Config::new();
            assert!(
                candidates.iter().any(|v| c.set(spec.name, v).is_ok()),
                "{} accepts none of {candidates:?}",
                spec.name
            );
        }
    }

    #[test]
    fn bad_values_name_option_and_value() {
        let mut c = Config::new();
        let e = c.set("max-body-bytes", "12x").unwrap_err();
        assert_eq!(e.option, "max_body_bytes");
        assert!(e.to_string().contains("\"12x\""), "{e}");
        assert!(c.set("workers", "0").is_err());
        assert!(c.set("header_timeout", "0").is_err());
        assert!(c.set("header_timeout", "-1").is_err());
        assert!(c.set("listen", "nonsense:port").is_err());
        assert!(c.set("no_such", "1").is_err());
        assert!(c.set("dev", "maybe").is_err());
        assert!(c.set("session_secret", "short").is_err());
        assert!(c.set("session_store", "mysql://x").is_err());
        assert!(c.set("session_cookie", "a b").is_err());
        assert!(c.set("session_secret_file", "/no/such/dir/secret").is_err());
        assert!(c.set("root", "/etc/hostname").is_err());
        assert!(c.set("root", "/no/such/dir").is_err());
        assert!(c.set("root_cache_control", "max-age=1\r\nx: y").is_err());
    }

    #[test]
    fn root_is_canonical() {
        let mut c = Config::new();
        c.set("root", "/tmp/../tmp/").unwrap();
        assert_eq!(c.root, Some(PathBuf::from("/tmp").canonicalize().unwrap()));
        c.set("root_cache_control", "public, max-age=60").unwrap();
        assert_eq!(c.root_cache_control.as_deref(), Some("public, max-age=60"));
    }

    #[test]
    fn listen_replaces_default_then_accumulates() {
        let mut c = Config::new();
        c.set("listen", "127.0.0.1:1").unwrap();
        c.set("listen", ":2").unwrap();
        assert_eq!(
            c.listen,
            vec!["127.0.0.1:1".parse().unwrap(), "0.0.0.0:2".parse().unwrap()]
        );
    }

    #[test]
    fn seconds_units() {
        assert_eq!(parse_seconds("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_seconds("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_seconds("0.5").unwrap(), Duration::from_millis(500));
    }
}
