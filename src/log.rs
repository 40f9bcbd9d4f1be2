//! The error log (stderr, one line per event) and the access log (Combined
//! Log Format, one buffered writer per worker, flushed once per loop turn).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

/// Writes one line to the error log: `2026-12-01T04:41:20Z [level] message`.
pub fn line(level: &str, message: &str) {
    let now = crate::http::date::unix_now();
    let text = format!(
        "{} [{level}] {}\n",
        crate::http::date::iso_time(now),
        message.trim_end()
    );
    // One write per line so lines from several workers do not interleave.
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

pub fn error(message: &str) {
    line("error", message);
}

pub fn warn(message: &str) {
    line("warn", message);
}

pub fn info(message: &str) {
    line("info", message);
}

/// One worker's access log.
pub struct AccessLog {
    out: Option<File>,
    buf: Vec<u8>,
}

/// What the access log records of one exchange.
pub struct Entry<'a> {
    pub remote: SocketAddr,
    pub method: &'a str,
    pub target: &'a str,
    pub version: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
}

impl AccessLog {
    pub fn off() -> AccessLog {
        AccessLog {
            out: None,
            buf: Vec::new(),
        }
    }

    pub fn stdout() -> io::Result<AccessLog> {
        // A duplicate of fd 1 so each worker writes whole buffers without a lock.
        let fd = unsafe { libc::dup(1) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        Ok(AccessLog {
            out: Some(unsafe { File::from_raw_fd(fd) }),
            buf: Vec::new(),
        })
    }

    pub fn file(path: &Path) -> io::Result<AccessLog> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AccessLog {
            out: Some(f),
            buf: Vec::new(),
        })
    }

    pub fn is_on(&self) -> bool {
        self.out.is_some()
    }

    /// `127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 2326 "ref" "ua"`
    pub fn record(&mut self, date: &str, e: &Entry) {
        if self.out.is_none() {
            return;
        }
        let b = &mut self.buf;
        let _ = write!(b, "{} - - [{date}] \"", e.remote.ip());
        // A request refused before its line was understood is logged as "-".
        if e.method != "-" {
            escape_into(b, e.method.as_bytes());
            b.push(b' ');
            escape_into(b, e.target.as_bytes());
            let _ = write!(b, " HTTP/{}", e.version);
        } else {
            b.push(b'-');
        }
        let _ = write!(b, "\" {} {} \"", e.status, e.bytes);
        escape_into(b, e.referer.unwrap_or(b"-"));
        b.extend_from_slice(b"\" \"");
        escape_into(b, e.user_agent.unwrap_or(b"-"));
        b.extend_from_slice(b"\"\n");
        if self.buf.len() > 32 << 10 {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = &mut self.out {
            if !self.buf.is_empty() {
                let _ = out.write_all(&self.buf);
                self.buf.clear();
            }
        }
    }
}

/// Client text in the log is escaped so a request cannot forge log lines.
fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    for &c in s {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            0x20..=0x7e => out.push(c),
            _ => {
                let _ = write!(out, "\\x{c:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        let mut out = Vec::new();
        escape_into(&mut out, b"a\"b\n\x00\\");
        assert_eq!(out, b"a\\\"b\\x0A\\x00\\\\");
    }
}
