//! Test harness: runs the real `flutter` binary on port 0 and talks to it
//! over real sockets.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flutter-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn collect(
    stream: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    first_line: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut first_line = first_line;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = first_line.take() {
                let _ = tx.send(line.clone());
            }
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

impl Server {
    /// Serves Lua `source` with one worker on 127.0.0.1, plus `args`.
    pub fn start(source: &str, args: &[&str]) -> Server {
        let dir = temp_dir("srv");
        let script = dir.join("app.lua");
        std::fs::write(&script, source).unwrap();
        Server::start_script(&script, &dir, args)
            .unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    /// Runs flutter on a script file; Err(stderr) when it exits instead of serving.
    pub fn start_script(script: &Path, dir: &Path, args: &[&str]) -> Result<Server, String> {
        Server::spawn(Some(script), dir, args)
    }

    /// Runs flutter with `args` and no script (`--root DIR` alone).
    pub fn start_no_script(args: &[&str]) -> Server {
        Server::spawn(None, &temp_dir("srv"), args)
            .unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    fn spawn(script: Option<&Path>, dir: &Path, args: &[&str]) -> Result<Server, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flutter"));
        // HTTPS tests listen on their TLS address only.
        if !args.contains(&"--tls-listen") {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--workers").arg("1");
        cmd.args(args);
        if let Some(script) = script {
            cmd.arg(script);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn flutter");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(child.stdout.take().unwrap(), stdout.clone(), Some(tx));
        collect(child.stderr.take().unwrap(), stderr.clone(), None);
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                return Err(stderr.lock().unwrap().clone());
            }
        };
        let url = line
            .strip_prefix("flutter: serving http://")
            .or_else(|| line.strip_prefix("flutter: serving https://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let addr: SocketAddr = url.trim_end_matches('/').parse().unwrap();
        Ok(Server {
            child,
            addr,
            dir: dir.to_path_buf(),
            stdout,
            stderr,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Sends `request` and reads until the server closes or `wait` passes without data.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(request).unwrap();
        read_all(&mut s, Duration::from_secs(5))
    }

    /// The error log so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The access log so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: i32) {
        unsafe { libc_kill(self.child.id() as i32, sig) };
    }

    /// Waits for the server to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory of the server process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGTERM: i32 = 15;
pub const SIGINT: i32 = 2;
pub const SIGHUP: i32 = 1;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads until EOF, or until `idle` passes with nothing new.
pub fn read_all(s: &mut TcpStream, idle: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(idle)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// One parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads exactly one response from a keep-alive connection (Content-Length or chunked).
pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read response head");
        assert!(
            n == 1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut r = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = r.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        s.read_exact(&mut body).unwrap();
        r.body = body;
    } else if r.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte).unwrap();
                line.push(byte[0]);
            }
            let size =
                usize::from_str_radix(std::str::from_utf8(&line[..line.len() - 2]).unwrap(), 16)
                    .unwrap();
            let mut chunk = vec![0; size + 2];
            s.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            r.body.extend_from_slice(&chunk[..size]);
        }
    }
    r
}

/// Parses every response in `bytes` (responses with Content-Length, chunked, or none).
pub fn parse_responses(bytes: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        rest = &rest[end + 4..];
        let mut r = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            continue;
        }
        if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().unwrap();
            let len = len.min(rest.len());
            r.body = rest[..len].to_vec();
            rest = &rest[len..];
        } else if r.header("transfer-encoding") == Some("chunked") {
            loop {
                let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap(), 16).unwrap();
                rest = &rest[nl + 2..];
                if size == 0 {
                    rest = &rest[2..];
                    break;
                }
                r.body.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
            }
        }
        out.push(r);
    }
    out
}

/// Runs curl with `args`; (exit code, stdout).
pub fn curl(args: &[&str]) -> (i32, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl is installed");
    (out.status.code().unwrap_or(-1), out.stdout)
}
