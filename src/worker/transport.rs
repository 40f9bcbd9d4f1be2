//! The byte stream under a connection: plain TCP, or TLS over TCP. The
//! protocol above sees plaintext either way.

use crate::http::message::TlsInfo;
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, Read, Write};

/// What a plain HTTP client that dialled the HTTPS port is told (as nginx does).
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 98\r\nConnection: close\r\n\r\n<html><body><h1>400 Bad Request</h1><p>The plain HTTP request was sent to HTTPS port</p></body></html>";

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

pub struct Tls {
    sock: TcpStream,
    conn: ServerConnection,
    /// The first bytes were checked for plain HTTP.
    sniffed: bool,
    eof: bool,
}

impl Transport {
    pub fn tls(sock: TcpStream, conn: ServerConnection) -> Transport {
        Transport::Tls(Box::new(Tls {
            sock,
            conn,
            sniffed: false,
            eof: false,
        }))
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Reads plaintext; Ok(0) at the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => sys::recv(s, buf),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Takes plaintext to send; how much was taken (WouldBlock when none).
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => sys::send(s, data, libc::MSG_NOSIGNAL),
            Transport::Tls(t) => {
                t.flush()?;
                let n = t.conn.writer().write(data)?;
                // Best effort now; the rest goes on the next writable event.
                match t.flush() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                    _ => {}
                }
                if n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Sends up to `len` bytes of `file` from `offset`; how many went (0 only
    /// when the file ends early). Plain TCP uses sendfile(2), so the bytes go
    /// from the page cache to the socket without a copy through us; TLS reads
    /// them through `buf` into the session.
    pub fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        use std::os::unix::io::AsRawFd;
        match self {
            Transport::Plain(s) => {
                let mut off = libc::off_t::try_from(offset)
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                // The kernel moves at most about 2 GiB per call anyway.
                let count = len.min(1 << 30) as usize;
                let (sock, fd) = (s.as_raw_fd(), file.as_raw_fd());
                // SAFETY: both descriptors are open for the call; `off` is a
                // valid local the kernel updates.
                let n = unsafe { libc::sendfile(sock, fd, &mut off, count) };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(n as usize)
            }
            Transport::Tls(_) => {
                use std::os::unix::fs::FileExt;
                // Whole TLS records (16 KiB), so a partial take wastes little.
                let want = (len.min(buf.len() as u64) as usize).min(4 << 14);
                let n = file.read_at(&mut buf[..want], offset)?;
                if n == 0 {
                    return Ok(0);
                }
                self.write(&buf[..n])
            }
        }
    }

    /// Like [`Transport::write`], telling the kernel more follows at once (a
    /// file body after its head): plain TCP holds the bytes back
    /// (`MSG_MORE`) so head and body leave in one segment despite TCP_NODELAY.
    pub fn write_more(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => sys::send(s, data, libc::MSG_MORE | libc::MSG_NOSIGNAL),
            Transport::Tls(_) => self.write(data),
        }
    }

    /// Whether encrypted bytes wait for the socket.
    pub fn has_pending(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.conn.wants_write())
    }

    /// Sends pending encrypted bytes.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush(),
        }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.conn.is_handshaking())
    }

    /// The session's details once the handshake is done.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match self {
            Transport::Tls(t) if !t.conn.is_handshaking() => Some(crate::tls::info(&t.conn)),
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}

impl Tls {
    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut sys::Raw(&self.sock))?;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.sniffed {
            let mut first = [0u8; 1];
            match self.sock.peek(&mut first) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    self.sniffed = true;
                    // A TLS connection starts with a handshake record (22); a letter is an HTTP method.
                    if first[0].is_ascii_uppercase() {
                        let _ = self.sock.write(PLAIN_ON_TLS);
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "plain HTTP request on the HTTPS port (answered 400)",
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            if self.conn.read_tls(&mut sys::Raw(&self.sock))? == 0 {
                self.eof = true;
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the peer why (an alert), then give up on the connection.
                let _ = self.flush();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {e}"),
                ));
            }
            match self.flush() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }
}

/// recv(2), send(2) and writev(2) on a socket as bare system calls. glibc's
/// wrappers are cancellation points: in a threaded process each call switches
/// the thread's cancel type on and off around the system call, two atomic
/// operations per call (about 1 % of a hello request's CPU, perf), for a
/// feature flutter never uses: no thread of it is ever cancelled.
mod sys {
    use std::io;
    use std::os::unix::io::AsRawFd;

    pub fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length during the call.
        unsafe { transfer(libc::SYS_recvfrom, sock, buf.as_mut_ptr(), buf.len(), 0) }
    }

    pub fn send(sock: &impl AsRawFd, data: &[u8], flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: the kernel only reads `data`, valid for its length.
        unsafe {
            transfer(
                libc::SYS_sendto,
                sock,
                data.as_ptr().cast_mut(),
                data.len(),
                flags,
            )
        }
    }

    /// recvfrom(2) or sendto(2) (`nr`), which take the same arguments, with
    /// no peer address (the socket is connected).
    ///
    /// # Safety
    /// `ptr` must be valid for `len` bytes, for writes when receiving.
    unsafe fn transfer(
        nr: libc::c_long,
        sock: &impl AsRawFd,
        ptr: *mut u8,
        len: usize,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        let (fd, flags, none) = (
            libc::c_long::from(sock.as_raw_fd()),
            libc::c_long::from(flags),
            0 as libc::c_long,
        );
        result(libc::syscall(nr, fd, ptr, len, flags, none, none))
    }

    /// writev(2) of `bufs` in order. Like std's vectored write, it takes no
    /// MSG_NOSIGNAL: a write after the peer's reset was already reported
    /// would raise SIGPIPE in a host that does not ignore it, and a
    /// connection is closed at its first error.
    pub fn send_vectored(sock: &impl AsRawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let fd = libc::c_long::from(sock.as_raw_fd());
        // IoSlice is ABI-compatible with iovec; the kernel only reads them.
        let (iov, count) = (bufs.as_ptr(), bufs.len().min(libc::UIO_MAXIOV as usize));
        // SAFETY: the buffers `iov` points to are valid during the call.
        let n = unsafe { libc::syscall(libc::SYS_writev, fd, iov, count) };
        result(n)
    }

    /// A socket as `Read` and `Write` through these calls, for rustls to move
    /// its records with.
    pub struct Raw<'a, S>(pub &'a S);

    impl<S: AsRawFd> io::Read for Raw<'_, S> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            recv(self.0, buf)
        }
    }

    impl<S: AsRawFd> io::Write for Raw<'_, S> {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            send(self.0, data, libc::MSG_NOSIGNAL)
        }

        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            send_vectored(self.0, bufs)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn result(n: libc::c_long) -> io::Result<usize> {
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
