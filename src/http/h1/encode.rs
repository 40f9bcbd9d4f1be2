//! Writing HTTP/1.x responses: the status line and headers, then the body as
//! it is framed: by Content-Length, chunked, or (HTTP/1.0 streams) by closing.

use crate::http::status::reason;

/// The Server field as written when the handler set none.
const SERVER_LINE: &str = concat!("Server: flutter/", env!("CARGO_PKG_VERSION"), "\r\n");

/// How the body after a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body may follow (HEAD, 204, 304): Content-Length only when given.
    None(Option<u64>),
    Length(u64),
    Chunked,
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    Close,
}

pub struct Head<'a> {
    /// Whether the request was HTTP/1.1. The status line says HTTP/1.1 either
    /// way (RFC 9110 §6.2); a 1.0 peer only changes the connection handling.
    pub http11: bool,
    pub status: u16,
    pub headers: &'a [crate::http::message::Header],
    pub framing: Framing,
    pub date: &'a str,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
}

/// Header names the protocol sets itself; a handler's values for them are dropped.
fn is_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("connection")
        || name.eq_ignore_ascii_case("keep-alive")
}

pub fn write_head(out: &mut Vec<u8>, head: &Head) {
    if head.status == 200 {
        // Most responses: the line in one piece.
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        let mut status = itoa::Buffer::new();
        out.extend_from_slice(status.format(head.status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(head.status).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut has_server = false;
    let mut has_date = false;
    for (name, value) in head.headers {
        if is_framing_header(name) {
            continue;
        }
        has_server |= name.eq_ignore_ascii_case("server");
        has_date |= name.eq_ignore_ascii_case("date");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(SERVER_LINE.as_bytes());
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(head.date.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut len = itoa::Buffer::new();
    match head.framing {
        Framing::Length(n) | Framing::None(Some(n)) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(len.format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::None(None) | Framing::Close => {}
    }
    if !head.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if !head.http11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return; // an empty chunk would end the body
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_with_length_and_handler_headers() {
        let headers: Vec<crate::http::message::Header> = vec![
            ("content-type".into(), b"text/plain"[..].into()),
            ("Content-Length".into(), b"999"[..].into()),
            ("set-cookie".into(), b"a=1"[..].into()),
            ("set-cookie".into(), b"b=2"[..].into()),
        ];
        let mut out = Vec::new();
        write_head(
            &mut out,
            &Head {
                http11: true,
                status: 201,
                headers: &headers,
                framing: Framing::Length(5),
                date: "D",
                keep_alive: true,
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 201 Created\r\n"));
        assert!(text.contains("set-cookie: a=1\r\nset-cookie: b=2\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(!text.contains("999"));
        assert!(!text.contains("Connection"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn http10_peer_gets_an_http11_status_line_and_keep_alive() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            &Head {
                http11: false,
                status: 200,
                headers: &[],
                framing: Framing::Length(0),
                date: "D",
                keep_alive: true,
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello world, this is long");
        write_chunk(&mut out, b"");
        write_last_chunk(&mut out);
        assert_eq!(out, b"19\r\nhello world, this is long\r\n0\r\n\r\n");
    }
}
