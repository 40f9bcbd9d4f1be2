//! A request body as it arrives: the protocol appends decoded bytes, the
//! handler reads them. Small bodies stay in memory; past `buffer_bytes` the
//! body goes to a temporary file so an upload of any size keeps memory flat.
//! A handler that reads the body as a stream (`req:read`) turns buffering off:
//! then at most `buffer_bytes` wait in memory and the protocol stops reading
//! from the socket until the handler takes them.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The body shared between the connection that fills it and the handler that reads it.
pub type SharedBody = Rc<RefCell<Body>>;

/// A temporary file removed when dropped.
pub struct Spool {
    file: File,
    path: PathBuf,
    size: u64,
    read_pos: u64,
}

impl Spool {
    fn create(dir: &Path) -> io::Result<Spool> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("flutter-body-{}-{n}", std::process::id()));
            let mut opts = std::fs::OpenOptions::new();
            opts.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(&path) {
                Ok(file) => {
                    return Ok(Spool {
                        file,
                        path,
                        size: 0,
                        read_pos: 0,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub struct Body {
    mem: Vec<u8>,
    mem_pos: usize,
    spool: Option<Spool>,
    buffer_bytes: usize,
    temp_dir: Arc<Path>,
    /// Bytes received so far.
    pub received: u64,
    /// Content-Length when known.
    pub expected: Option<u64>,
    /// All of the body has arrived.
    pub complete: bool,
    /// The body failed (too large, malformed, timed out, connection lost): why.
    pub failed: Option<String>,
    /// The handler reads the body as a stream.
    pub streaming: bool,
    /// The request is over: what still arrives is counted, not kept.
    released: bool,
}

impl Body {
    pub fn new(expected: Option<u64>, buffer_bytes: usize, temp_dir: &Arc<Path>) -> Body {
        Body {
            mem: Vec::new(),
            mem_pos: 0,
            spool: None,
            buffer_bytes,
            temp_dir: temp_dir.clone(),
            received: 0,
            expected,
            complete: expected == Some(0),
            failed: None,
            streaming: false,
            released: false,
        }
    }

    pub fn shared(self) -> SharedBody {
        Rc::new(RefCell::new(self))
    }

    /// Makes a finished request's body what [`Body::new`] makes, for the next
    /// request; its allocation and its directory are kept.
    pub fn reuse(&mut self, expected: Option<u64>, buffer_bytes: usize, temp_dir: &Arc<Path>) {
        // Every field is named, so that a new one cannot be missed here.
        let Body {
            mem,
            mem_pos,
            spool,
            buffer_bytes: buffer,
            temp_dir: dir,
            received,
            expected: length,
            complete,
            failed,
            streaming,
            released,
        } = self;
        *mem = Vec::new();
        *mem_pos = 0;
        *spool = None;
        *buffer = buffer_bytes;
        if !Arc::ptr_eq(dir, temp_dir) {
            *dir = temp_dir.clone();
        }
        *received = 0;
        *length = expected;
        *complete = expected == Some(0);
        *failed = None;
        *streaming = false;
        *released = false;
    }

    /// Appends decoded body bytes.
    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.received += data.len() as u64;
        if self.released {
            return Ok(());
        }
        if self.streaming {
            if self.mem_pos > 0 && self.mem_pos == self.mem.len() {
                self.mem.clear();
                self.mem_pos = 0;
            }
            self.mem.extend_from_slice(data);
            return Ok(());
        }
        if self.spool.is_none() && self.mem.len() + data.len() > self.buffer_bytes {
            let mut spool = Spool::create(&self.temp_dir)?;
            spool.file.write_all(&self.mem[self.mem_pos..])?;
            spool.size = (self.mem.len() - self.mem_pos) as u64;
            self.mem = Vec::new();
            self.mem_pos = 0;
            self.spool = Some(spool);
        }
        match &mut self.spool {
            Some(spool) => {
                spool.file.write_all(data)?;
                spool.size += data.len() as u64;
            }
            None => self.mem.extend_from_slice(data),
        }
        Ok(())
    }

    /// Whether the protocol should read more of the body from the socket now.
    pub fn wants_more(&self) -> bool {
        !self.complete
            && self.failed.is_none()
            && (!self.streaming || self.mem.len() - self.mem_pos < self.buffer_bytes)
    }

    /// Whether the handler can start: the body is complete, or too large to wait for.
    pub fn ready_for_handler(&self) -> bool {
        self.complete
            || self.failed.is_some()
            || self.spool.is_some()
            || self.expected.is_some_and(|n| n > self.buffer_bytes as u64)
    }

    /// Takes up to `max` unread bytes; empty when none are buffered now.
    pub fn read(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if let Some(spool) = &mut self.spool {
            if spool.read_pos < spool.size {
                let n = max.min((spool.size - spool.read_pos) as usize);
                let mut out = vec![0; n];
                spool.file.seek(SeekFrom::Start(spool.read_pos))?;
                spool.file.read_exact(&mut out)?;
                spool.read_pos += n as u64;
                spool.file.seek(SeekFrom::End(0))?;
                return Ok(out);
            }
        }
        let n = max.min(self.mem.len() - self.mem_pos);
        let out = self.mem[self.mem_pos..self.mem_pos + n].to_vec();
        self.mem_pos += n;
        if self.mem_pos == self.mem.len() {
            self.mem.clear();
            self.mem_pos = 0;
        }
        Ok(out)
    }

    /// The whole body in memory; reads a spooled body back from its file.
    pub fn to_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(spool) = &mut self.spool {
            spool.file.seek(SeekFrom::Start(spool.read_pos))?;
            spool.file.read_to_end(&mut out)?;
            spool.file.seek(SeekFrom::End(0))?;
        }
        out.extend_from_slice(&self.mem[self.mem_pos..]);
        Ok(out)
    }

    /// The whole body when it is held in memory, without copying.
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self.spool {
            None => Some(&self.mem[self.mem_pos..]),
            Some(_) => None,
        }
    }

    /// The temporary file holding the body, if it was spooled.
    pub fn spool_path(&self) -> Option<&Path> {
        self.spool.as_ref().map(|s| s.path())
    }

    /// A reader over the whole body (memory or file), for parsers that stream it.
    pub fn for_each_chunk(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
        if let Some(spool) = &mut self.spool {
            spool.file.seek(SeekFrom::Start(spool.read_pos))?;
            let mut buf = vec![0; 64 << 10];
            loop {
                let n = spool.file.read(&mut buf)?;
                if n == 0 || !f(&buf[..n]) {
                    break;
                }
            }
            spool.file.seek(SeekFrom::End(0))?;
        }
        f(&self.mem[self.mem_pos..]);
        Ok(())
    }

    pub fn temp_dir(&self) -> &Path {
        &self.temp_dir
    }

    /// Frees the body when its request ends: the spooled file is removed now,
    /// not whenever the last reference to the body (a Lua value) is collected.
    pub fn release(&mut self) {
        self.released = true;
        self.spool = None;
        self.mem = Vec::new();
        self.mem_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_body_stays_in_memory() {
        let mut b = Body::new(Some(5), 16, &Arc::from(std::env::temp_dir()));
        b.push(b"hello").unwrap();
        assert_eq!(b.in_memory(), Some(&b"hello"[..]));
        assert!(b.spool_path().is_none());
    }

    #[test]
    fn large_body_spools_and_reads_back() {
        let mut b = Body::new(None, 16, &Arc::from(std::env::temp_dir()));
        for _ in 0..10 {
            b.push(b"0123456789").unwrap();
        }
        let path = b.spool_path().unwrap().to_path_buf();
        assert!(path.exists());
        assert_eq!(b.to_bytes().unwrap(), b"0123456789".repeat(10));
        assert_eq!(b.read(15).unwrap(), b"012345678901234");
        drop(b);
        assert!(!path.exists());
    }

    #[test]
    fn release_removes_the_spool_and_ignores_later_bytes() {
        let mut b = Body::new(None, 16, &Arc::from(std::env::temp_dir()));
        b.push(&[7; 40]).unwrap();
        let path = b.spool_path().unwrap().to_path_buf();
        b.release();
        assert!(!path.exists());
        b.push(&[7; 40]).unwrap();
        assert!(b.spool_path().is_none());
        assert_eq!(b.received, 80);
        assert!(b.read(100).unwrap().is_empty());
    }

    #[test]
    fn streaming_keeps_a_bounded_window() {
        let mut b = Body::new(None, 16, &Arc::from(std::env::temp_dir()));
        b.streaming = true;
        b.push(b"0123456789").unwrap();
        assert!(b.wants_more());
        b.push(b"0123456789").unwrap();
        assert!(!b.wants_more());
        assert_eq!(b.read(100).unwrap().len(), 20);
        assert!(b.wants_more());
        assert!(b.read(100).unwrap().is_empty());
    }
}
