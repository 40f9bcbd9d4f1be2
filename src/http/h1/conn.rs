//! One HTTP/1.x connection as a state machine over byte buffers. The worker
//! feeds socket bytes to [`Conn::feed`], calls [`Conn::poll`] for what
//! happened, answers with [`Conn::respond`], and writes [`Conn::output`].
//! Requests on a connection are handled one at a time, so pipelined
//! responses leave in order; the next head is parsed only after the current
//! response is complete.

use super::decode::{Decoder, Progress};
use super::encode::{self, Framing, Head};
use super::role::{self, BodyKind, RequestHead, Version};
use crate::body::{Body, SharedBody};
use crate::http::message::{FileBody, FilePart, Request, Response, ResponseBody, TlsInfo};
use crate::http::status::has_no_body;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// Most of a discarded body (one the handler did not read) we read to keep the
/// connection; past this it is closed instead.
const MAX_DISCARD: u64 = 1 << 20;
/// Largest trailer section of a chunked body.
const MAX_TRAILER_BYTES: usize = 8 << 10;
/// Pipelined requests wait while this much output is queued, so a client
/// that sends requests without reading responses cannot make us buffer
/// without bound.
const MAX_QUEUED_OUTPUT: usize = 256 << 10;

pub struct Limits {
    pub head: role::Limits,
    pub max_body_bytes: u64,
    pub body_buffer_bytes: usize,
    pub temp_dir: Arc<Path>,
}

/// What the connection is waiting for, which decides the timeout that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Between requests, nothing received yet.
    Idle,
    /// Part of a head received.
    Head,
    /// Receiving a body the handler or the discard wants.
    Body,
    /// The request is read; the handler has the turn, or its response is
    /// still being sent (then only the send timeout applies).
    Handler,
    /// Done: flush the output, then close.
    Closing,
}

/// What [`Conn::poll`] found.
pub enum Event {
    /// A new request; its body may still be arriving.
    Request(Request),
    /// More of the current request's body arrived, or it completed.
    Body,
    /// The body went wrong (too large, malformed): the status to answer with,
    /// if no response has started yet. The connection will close.
    BodyError(u16, &'static str),
    /// A malformed head; the error response is already queued.
    BadRequest(u16, &'static str),
}

enum Reader {
    Head,
    Body(Decoder),
    /// The whole request is read.
    Done,
    /// The response went out before the body was read: drop what remains.
    Discard(Decoder, u64),
    /// No more requests on this connection.
    Closed,
}

#[derive(PartialEq, Eq)]
enum Writer {
    /// No response yet for the current request.
    Waiting,
    /// A streamed body is being sent.
    Streaming(Framing),
    /// The worker is sending a file body (see [`Conn::file_range`]).
    File,
    /// The response is complete.
    Done,
}

pub struct Conn {
    rbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    reader: Reader,
    writer: Writer,
    body: Option<SharedBody>,
    http11: bool,
    keep_alive: bool,
    head_only: bool,
    /// Body bytes of the current response, for the access log.
    pub body_bytes_sent: u64,
    pub status_sent: u16,
    peer: SocketAddr,
    scheme: &'static str,
    tls: Option<Rc<TlsInfo>>,
    /// What is left of a file body, sent by the worker once `out` is empty.
    file: Option<FileBody>,
}

/// Buffers idle connections gave back, for the connections that read next.
/// A keep-alive connection is idle between any two of its requests; freeing
/// its two buffers there and allocating them again cost two malloc/free pairs
/// per request. Read and output buffers are kept apart, so an output buffer
/// that grew to a response's size goes to the next response.
#[derive(Default)]
pub struct Spare {
    read: Pool,
    out: Pool,
    /// A finished request's body that nothing else holds, for the next
    /// request (it saves an allocation per request).
    body: Option<SharedBody>,
}

/// Spare buffers of one kind, bounded in count and bytes so that idle
/// connections stay small.
#[derive(Default)]
struct Pool {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

const POOL_BUFFERS: usize = 128;
const POOL_BYTES: usize = 512 << 10;
/// Larger buffers (a big response's) are freed rather than kept.
const POOL_LARGEST: usize = 16 << 10;

impl Pool {
    fn take(&mut self) -> Vec<u8> {
        let b = self.bufs.pop().unwrap_or_default();
        self.bytes -= b.capacity();
        b
    }

    fn put(&mut self, mut b: Vec<u8>) {
        let n = b.capacity();
        if n == 0
            || n > POOL_LARGEST
            || self.bufs.len() == POOL_BUFFERS
            || self.bytes + n > POOL_BYTES
        {
            return;
        }
        b.clear();
        self.bytes += n;
        self.bufs.push(b);
    }
}

/// Whether `buf` holds nothing but CRLFs (RFC 9112 §2.2 lets a server skip
/// them before a request line); true for an empty buffer.
fn only_empty_lines(buf: &[u8]) -> bool {
    buf.chunks(2).all(|p| p == b"\r\n")
}

impl Conn {
    pub fn new(peer: SocketAddr, scheme: &'static str) -> Conn {
        Conn {
            rbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            reader: Reader::Head,
            writer: Writer::Done,
            body: None,
            http11: true,
            keep_alive: true,
            head_only: false,
            body_bytes_sent: 0,
            status_sent: 0,
            peer,
            scheme,
            tls: None,
            file: None,
        }
    }

    /// Records the TLS session the requests of this connection arrive on.
    pub fn set_tls(&mut self, info: TlsInfo) {
        self.tls = Some(Rc::new(info));
    }

    pub fn has_tls_info(&self) -> bool {
        self.tls.is_some()
    }

    /// Appends bytes read from the socket. A connection that gave its buffers
    /// back when it went idle takes them from `spare` again.
    pub fn feed(&mut self, data: &[u8], spare: &mut Spare) {
        if self.rbuf.capacity() == 0 {
            self.rbuf = spare.read.take();
        }
        if self.out.capacity() == 0 {
            self.out = spare.out.take();
        }
        self.rbuf.extend_from_slice(data);
    }

    pub fn buffered(&self) -> usize {
        self.rbuf.len()
    }

    /// Whether the worker should read from the socket now.
    pub fn wants_read(&self, max_head: usize) -> bool {
        match &self.reader {
            Reader::Head => self.rbuf.len() <= max_head,
            Reader::Body(_) => self.body.as_ref().is_some_and(|b| b.borrow().wants_more()),
            Reader::Discard(..) => true,
            Reader::Done | Reader::Closed => false,
        }
    }

    pub fn phase(&self) -> Phase {
        match (&self.reader, &self.writer) {
            (Reader::Closed, _) => Phase::Closing,
            (Reader::Head, Writer::Done) => {
                // Empty lines a client may send after a body start no request.
                let idle = only_empty_lines(&self.rbuf);
                if !self.output().is_empty() && (idle || self.output_full()) {
                    // A response is still leaving, and no head is being read
                    // (or one waits for the output to drain): the client is
                    // taking a response, and only the send timeout applies.
                    Phase::Handler
                } else if idle {
                    Phase::Idle
                } else {
                    Phase::Head
                }
            }
            (Reader::Body(_), _) if self.wants_read(0) => Phase::Body,
            (Reader::Discard(..), _) => Phase::Body,
            _ => Phase::Handler,
        }
    }

    /// Whether the connection is finished once its output is flushed. A
    /// streamed response goes on to its end whatever its framing (a 1.0
    /// stream ends with the close, so closing earlier would cut it short).
    pub fn is_closing(&self) -> bool {
        matches!(self.reader, Reader::Closed) && !matches!(self.writer, Writer::Streaming(_))
    }

    /// Whether a response is owed for the current request.
    pub fn awaiting_response(&self) -> bool {
        self.writer == Writer::Waiting
    }

    pub fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Whether the next request must wait for the client to take output.
    fn output_full(&self) -> bool {
        self.out.len() - self.out_pos >= MAX_QUEUED_OUTPUT
    }

    /// Marks `n` bytes of [`Conn::output`] as written to the socket.
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos += n;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > 64 << 10 {
                self.out = Vec::new();
            }
        }
    }

    /// Gives the buffers of an idle connection back to `spare`: ten thousand
    /// idle keep-alive connections must cost little memory (about 1 KiB each
    /// in all), and the next request on any connection takes them again.
    pub fn shrink(&mut self, spare: &mut Spare) {
        // The last request's body goes, and is kept for the next request
        // unless Lua still holds it (a `req` kept) or one is kept already.
        if matches!(self.reader, Reader::Head) {
            if let Some(body) = self.body.take().filter(|b| Rc::strong_count(b) == 1) {
                spare.body.get_or_insert(body);
            }
        }
        if self.rbuf.is_empty() {
            spare.read.put(std::mem::take(&mut self.rbuf));
        }
        if self.out.is_empty() {
            spare.out.put(std::mem::take(&mut self.out));
        }
    }

    /// The peer closed its side: no more input will come.
    pub fn on_eof(&mut self) {
        if let (Reader::Body(_), Some(body)) = (&self.reader, &self.body) {
            let mut b = body.borrow_mut();
            if !b.complete && b.failed.is_none() {
                b.failed =
                    Some("the client closed the connection before sending the whole body".into());
            }
        }
        self.reader = Reader::Closed;
    }

    /// Parses what the input holds, as far as the state allows.
    pub fn poll(&mut self, limits: &Limits, spare: &mut Spare) -> Option<Event> {
        match &mut self.reader {
            Reader::Head
                if self.writer == Writer::Done
                    && self.out.len() - self.out_pos < MAX_QUEUED_OUTPUT =>
            {
                self.poll_head(limits, spare)
            }
            Reader::Body(decoder) => {
                let body = self.body.as_ref()?;
                if self.rbuf.is_empty() || !body.borrow().wants_more() {
                    return None;
                }
                let mut decoded = Vec::new();
                let result = decoder.decode(&self.rbuf, &mut decoded);
                let mut b = body.borrow_mut();
                match result {
                    Err(e) => {
                        b.failed = Some(e.reason.to_string());
                        drop(b);
                        self.reader = Reader::Closed;
                        self.rbuf.clear();
                        Some(Event::BodyError(e.status, e.reason))
                    }
                    Ok((used, progress)) => {
                        self.rbuf.drain(..used);
                        // A chunk announced past the limit is refused at its
                        // size line, not after waiting for its data.
                        let announced = b.received + decoded.len() as u64;
                        if announced.saturating_add(decoder.announced()) > limits.max_body_bytes {
                            b.failed = Some("request body too large".into());
                            drop(b);
                            self.reader = Reader::Closed;
                            return Some(Event::BodyError(413, "request body too large"));
                        }
                        if let Err(e) = b.push(&decoded) {
                            b.failed = Some(format!("cannot spool the request body: {e}"));
                            drop(b);
                            self.reader = Reader::Closed;
                            return Some(Event::BodyError(500, "cannot spool the request body"));
                        }
                        if progress == Progress::Done {
                            b.complete = true;
                            drop(b);
                            self.reader = Reader::Done;
                            self.next_if_finished();
                        }
                        Some(Event::Body)
                    }
                }
            }
            Reader::Discard(decoder, budget) => {
                let mut sink = Vec::new();
                match decoder.decode(&self.rbuf, &mut sink) {
                    Ok((used, progress)) => {
                        self.rbuf.drain(..used);
                        *budget = budget.saturating_sub(sink.len() as u64);
                        if progress == Progress::Done {
                            self.reader = Reader::Done;
                            self.next_if_finished();
                            return self.poll(limits, spare);
                        }
                        if *budget == 0 {
                            self.reader = Reader::Closed;
                        }
                    }
                    Err(_) => self.reader = Reader::Closed,
                }
                None
            }
            _ => None,
        }
    }

    fn poll_head(&mut self, limits: &Limits, spare: &mut Spare) -> Option<Event> {
        if self.rbuf.is_empty() {
            return None;
        }
        let (head, used) = match role::parse_head(&self.rbuf, &limits.head) {
            Ok(None) => return None,
            Ok(Some(parsed)) => parsed,
            Err(e) => {
                self.http11 = true;
                self.fail(e.status);
                return Some(Event::BadRequest(e.status, e.reason));
            }
        };
        self.rbuf.drain(..used);
        let RequestHead {
            method,
            target,
            version,
            headers,
            body,
            keep_alive,
            expect_continue,
        } = head;
        self.http11 = version == Version::Http11;
        self.keep_alive = keep_alive;
        self.head_only = method == "HEAD";
        self.body_bytes_sent = 0;
        self.status_sent = 0;
        let (decoder, expected) = match body {
            BodyKind::Empty => (None, Some(0)),
            BodyKind::Length(n) => {
                if n > limits.max_body_bytes {
                    self.fail(413);
                    return Some(Event::BadRequest(413, "request body too large"));
                }
                (Some(Decoder::length(n)), Some(n))
            }
            BodyKind::Chunked => (Some(Decoder::chunked(MAX_TRAILER_BYTES)), None),
        };
        let body = match self.body.take().or_else(|| spare.body.take()) {
            // Nothing else holds it (Lua let go when its request ended).
            Some(b) if Rc::strong_count(&b) == 1 => {
                b.borrow_mut()
                    .reuse(expected, limits.body_buffer_bytes, &limits.temp_dir);
                b
            }
            _ => Body::new(expected, limits.body_buffer_bytes, &limits.temp_dir).shared(),
        };
        self.reader = match decoder {
            Some(d) => Reader::Body(d),
            None => Reader::Done,
        };
        if expect_continue && self.rbuf.is_empty() {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.writer = Writer::Waiting;
        self.body = Some(body.clone());
        Some(Event::Request(Request {
            method,
            target,
            version: if self.http11 { "1.1" } else { "1.0" },
            headers,
            remote: self.peer,
            scheme: self.scheme,
            tls: self.tls.clone(),
            id: 0,
            body,
        }))
    }

    /// Answers a bad request with `status` and closes.
    fn fail(&mut self, status: u16) {
        self.keep_alive = false;
        self.head_only = false;
        self.writer = Writer::Waiting;
        self.reader = Reader::Closed;
        self.rbuf = Vec::new();
        self.respond(Response::error(status, None), "");
    }

    /// Sends the response to the current request. A `Stream` body is followed by
    /// [`Conn::send_chunk`] calls and one [`Conn::finish`].
    pub fn respond(&mut self, response: Response, date: &str) {
        debug_assert!(self.writer == Writer::Waiting);
        let status = response.status;
        if response
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case(b"close"))
        {
            self.keep_alive = false;
        }
        // A body the handler did not read must be drained before the next request.
        let unread_body = matches!(self.reader, Reader::Body(_));
        if unread_body
            && self.body.as_ref().is_some_and(|b| {
                let b = b.borrow();
                b.failed.is_some() || b.expected.is_none_or(|n| n - b.received > MAX_DISCARD)
            })
        {
            self.keep_alive = false;
        }
        let no_body = has_no_body(status);
        let mut response = response;
        if let ResponseBody::Path(_) = response.body {
            // The worker opens a handler's file before this; never send the path.
            response.body = ResponseBody::Full(Vec::new().into());
        }
        let framing = match &response.body {
            ResponseBody::Full(_) if no_body => Framing::None(None),
            ResponseBody::Full(b) if self.head_only => Framing::None(Some(b.len() as u64)),
            ResponseBody::Full(b) => Framing::Length(b.len() as u64),
            ResponseBody::Stream if no_body || self.head_only => Framing::None(None),
            ResponseBody::Stream if self.http11 => Framing::Chunked,
            ResponseBody::Stream => {
                self.keep_alive = false;
                Framing::Close
            }
            ResponseBody::File(_) if no_body => Framing::None(None),
            ResponseBody::File(f) if self.head_only => Framing::None(Some(f.len())),
            ResponseBody::File(f) => Framing::Length(f.len()),
            ResponseBody::Path(_) => Framing::Length(0),
        };
        let date_owned;
        let date = if date.is_empty() {
            date_owned = crate::http::date::http_date(crate::http::date::unix_now());
            &date_owned
        } else {
            date
        };
        // Idle connections give their buffer back, so size it once here rather
        // than let the head grow it step by step.
        let body_len = match &response.body {
            ResponseBody::Full(b) => b.len(),
            _ => 0,
        };
        self.out.reserve(256 + body_len);
        encode::write_head(
            &mut self.out,
            &Head {
                http11: self.http11,
                status,
                headers: &response.headers,
                framing,
                date,
                keep_alive: self.keep_alive,
            },
        );
        self.status_sent = status;
        match response.body {
            ResponseBody::Full(b) => {
                if !matches!(framing, Framing::None(_)) {
                    self.body_bytes_sent = b.len() as u64;
                    self.out.extend_from_slice(&b);
                }
                self.end_response();
            }
            ResponseBody::Stream => self.writer = Writer::Streaming(framing),
            ResponseBody::File(f) if matches!(framing, Framing::Length(_)) => {
                self.body_bytes_sent = f.len();
                self.file = Some(f);
                self.writer = Writer::File;
                self.next_file_part();
            }
            ResponseBody::File(_) | ResponseBody::Path(_) => self.end_response(),
        }
    }

    /// The file range to send next, once the output before it has gone:
    /// the worker sends it (sendfile) and reports with [`Conn::file_sent`].
    pub fn file_range(&self) -> Option<(&std::fs::File, u64, u64)> {
        if !self.output().is_empty() {
            return None;
        }
        let f = self.file.as_ref()?;
        match f.parts.front()? {
            FilePart::Range { offset, len } => Some((&f.file, *offset, *len)),
            FilePart::Bytes(_) => None,
        }
    }

    /// `n` bytes of [`Conn::file_range`] went to the socket.
    pub fn file_sent(&mut self, n: u64) {
        let Some(f) = &mut self.file else { return };
        if let Some(FilePart::Range { offset, len }) = f.parts.front_mut() {
            let n = n.min(*len);
            *offset += n;
            *len -= n;
            if *len == 0 {
                f.parts.pop_front();
                self.next_file_part();
            }
        }
    }

    /// Whether file bytes follow the output (so the head can wait for them).
    pub fn file_range_follows(&self) -> bool {
        self.file.is_some()
    }

    /// Whether the output holds the last bytes the connection will send: the
    /// response is complete, no file body follows, and the connection closes.
    pub fn output_is_last(&self) -> bool {
        matches!(self.reader, Reader::Closed) && self.writer == Writer::Done && self.file.is_none()
    }

    /// Whether the whole response so far has been handed to the socket
    /// (the output and any file body).
    pub fn all_sent(&self) -> bool {
        self.output().is_empty() && self.file.is_none()
    }

    /// Queues the bytes before the file body's next range; ends the
    /// response when nothing is left.
    fn next_file_part(&mut self) {
        let Some(f) = &mut self.file else { return };
        while let Some(FilePart::Bytes(_)) = f.parts.front() {
            if let Some(FilePart::Bytes(b)) = f.parts.pop_front() {
                self.out.extend_from_slice(&b);
            }
        }
        if f.parts.is_empty() {
            self.file = None;
            self.end_response();
        }
    }

    /// Sends part of a streamed body.
    pub fn send_chunk(&mut self, data: &[u8]) {
        match self.writer {
            Writer::Streaming(Framing::Chunked) => encode::write_chunk(&mut self.out, data),
            Writer::Streaming(Framing::Close) => self.out.extend_from_slice(data),
            _ => return,
        }
        self.body_bytes_sent += data.len() as u64;
    }

    /// Ends a streamed body.
    pub fn finish(&mut self) {
        if let Writer::Streaming(framing) = self.writer {
            if framing == Framing::Chunked {
                encode::write_last_chunk(&mut self.out);
            }
            self.end_response();
        }
    }

    /// Closes the connection once the current response is complete (graceful stop).
    pub fn close_after_response(&mut self) {
        self.keep_alive = false;
        if matches!(self.reader, Reader::Head) && self.writer == Writer::Done {
            self.reader = Reader::Closed;
        }
    }

    /// Answers a request whose body went wrong with `status` (or cuts a response
    /// already under way) and closes: the framing of what follows is in doubt.
    pub fn fail_body(&mut self, status: u16, date: &str) {
        self.keep_alive = false;
        if self.writer == Writer::Waiting {
            self.respond(Response::error(status, None), date);
        } else {
            self.abort();
        }
        self.reader = Reader::Closed;
    }

    /// The client was too slow: 408 while it still owed part of a request
    /// (a head or a body), otherwise just close.
    pub fn time_out(&mut self, date: &str) {
        match self.phase() {
            Phase::Head => self.fail(408),
            Phase::Body => self.fail_body(408, date),
            _ => {
                self.abort();
                self.rbuf = Vec::new();
            }
        }
    }

    /// Abandons a streamed response whose producer failed: the connection
    /// closes without the final chunk, so the client sees it is incomplete.
    pub fn abort(&mut self) {
        self.file = None;
        self.writer = Writer::Done;
        self.reader = Reader::Closed;
    }

    fn end_response(&mut self) {
        self.writer = Writer::Done;
        if !self.keep_alive {
            self.reader = Reader::Closed;
            return;
        }
        if let Reader::Body(_) = self.reader {
            if let Reader::Body(d) = std::mem::replace(&mut self.reader, Reader::Closed) {
                self.reader = Reader::Discard(d, MAX_DISCARD);
            }
        }
        self.next_if_finished();
    }

    /// Once the request is read and its response complete, gets ready for the next.
    fn next_if_finished(&mut self) {
        if self.writer == Writer::Done && matches!(self.reader, Reader::Done) {
            // The body stays, for the next request to reuse (see `poll_head`).
            self.reader = if self.keep_alive {
                Reader::Head
            } else {
                Reader::Closed
            };
        }
    }
}
